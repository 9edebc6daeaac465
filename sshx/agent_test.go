package sshx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// serveAgent runs an SSH agent holding key on a socket in a temporary
// directory and returns SSH_AUTH_SOCK's value.
func serveAgent(t *testing.T, key KeyPair) string {
	t.Helper()
	raw, err := ssh.ParseRawPrivateKey([]byte(key.PrivatePEM))
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: raw.(*ed25519.PrivateKey)}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(kr, c)
		}
	}()
	return sock
}

func TestAgentKeysAuthenticate(t *testing.T) {
	ck, cpub := clientKey(t)
	srv := startServer(t, cpub)
	sock := serveAgent(t, ck)
	ag, closeAgent, err := Agent(func(k string) string {
		if k == "SSH_AUTH_SOCK" {
			return sock
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAgent()
	c, err := Dial(context.Background(), Target{Addr: srv.addr, User: "admin", Agent: ag, PinnedKey: srv.hostKey.Public})
	if err != nil {
		t.Fatalf("dial with the agent's key: %v", err)
	}
	c.Close()

	// An agent without the authorized key is refused by the server.
	other, _ := NewHostKey()
	ag2, close2, err := Agent(func(string) string { return serveAgent(t, other) })
	if err != nil {
		t.Fatal(err)
	}
	defer close2()
	if _, err := Dial(context.Background(), Target{Addr: srv.addr, User: "admin", Agent: ag2, PinnedKey: srv.hostKey.Public}); err == nil {
		t.Fatal("an agent holding another key authenticated")
	}

	if _, _, err := Agent(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "ssh_key_file") {
		t.Errorf("no agent: %v", err)
	}
}

// A known_hosts file instead of a pinned key: its entry for the address is
// accepted, another key is refused naming both, no entry is refused too.
func TestKnownHostsFileIsTrustedStrictly(t *testing.T) {
	ck, cpub := clientKey(t)
	srv := startServer(t, cpub)
	dir := t.TempDir()
	write := func(line string) string {
		p := filepath.Join(dir, fmt.Sprintf("known_hosts-%d", len(line)))
		os.WriteFile(p, []byte(line+"\n"), 0o600)
		return p
	}
	host, port, _ := net.SplitHostPort(srv.addr)
	entry := knownhosts.Normalize(net.JoinHostPort(host, port))
	dial := func(kh string) error {
		c, err := Dial(context.Background(), Target{Addr: srv.addr, User: "admin", PrivateKey: []byte(ck.PrivatePEM), KnownHosts: kh})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(write(entry + " " + srv.hostKey.Public)); err != nil {
		t.Fatalf("listed key refused: %v", err)
	}
	other, _ := NewHostKey()
	err := dial(write(entry + " " + other.Public + " other"))
	if !errors.Is(err, ErrHostKeyMismatch) || !strings.Contains(err.Error(), Fingerprint(other.Public)) || !strings.Contains(err.Error(), Fingerprint(srv.hostKey.Public)) {
		t.Errorf("different key: %v", err)
	}
	err = dial(write("[elsewhere]:22 " + srv.hostKey.Public + " somewhere-else"))
	if !errors.Is(err, ErrHostKeyMismatch) || !strings.Contains(err.Error(), "has no entry") {
		t.Errorf("no entry for the address: %v", err)
	}
}
