package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/fjord-dev/fjord/sshx"
)

// sshServer accepts SSH handshakes with a fresh host key and serves nothing.
func sshServer(t *testing.T) (addr, hostKey string) {
	t.Helper()
	kp, err := sshx.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(kp.PrivatePEM))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
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
			go func() {
				defer c.Close()
				if sc, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
					sc.Close()
				}
			}()
		}
	}()
	return l.Addr().String(), kp.Public
}

func TestHypervisorKeyByBlockName(t *testing.T) {
	addr, key := sshServer(t)
	fp := sshx.Fingerprint(key)

	// Not pinned yet: the line to paste.
	a, out, errb := testApp("")
	if code := a.run(context.Background(), []string{"hypervisor-key", "-dir", "testdata/hvkey", "-var", "address=" + addr, "rack1-a"}); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	for _, want := range []string{addr + " presents " + fp, "host_key = \"" + key + "\""} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Pinned to another key: both fingerprints, and the line to paste.
	other, _ := sshx.NewHostKey()
	a, out, errb = testApp("")
	if code := a.run(context.Background(), []string{"hypervisor-key", "-dir", "testdata/hvkey", "-var", "address=" + addr, "-var", "pinned=" + other.Public, "rack1-a"}); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	for _, want := range []string{fp, "pins a different key (" + sshx.Fingerprint(other.Public) + ")"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Pinned to this key: said so.
	a, out, _ = testApp("")
	a.run(context.Background(), []string{"hypervisor-key", "-dir", "testdata/hvkey", "-var", "address=" + addr, "-var", "pinned=" + key, "rack1-a"})
	if !strings.Contains(out.String(), "That is the key pinned") {
		t.Errorf("pinned key not recognised:\n%s", out)
	}

	// A name that is no block.
	a, _, errb = testApp("")
	if code := a.run(context.Background(), []string{"hypervisor-key", "-dir", "testdata/hvkey", "-var", "address=" + addr, "rack9"}); code != exitError || !strings.Contains(errb.String(), `no hypervisor block named "rack9"`) {
		t.Errorf("unknown block: exit %d, %s", code, errb)
	}
}
