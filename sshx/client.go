package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsCallback accepts the keys path lists for addr, as OpenSSH with
// StrictHostKeyChecking=yes would: a different key is a HostKeyError
// naming every fingerprint, no entry at all is refused, never learnt.
func knownHostsCallback(addr, path string) (ssh.HostKeyCallback, error) {
	cb, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("known_hosts %s: %w", path, err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		if len(ke.Want) == 0 {
			return fmt.Errorf("%w: %s presented %s, and %s has no entry for it: fjord never trusts a key on first use (check the fingerprint on the machine, then add it there or pin it with host_key)",
				ErrHostKeyMismatch, addr, ssh.FingerprintSHA256(key), path)
		}
		var want []string
		for _, k := range ke.Want {
			want = append(want, ssh.FingerprintSHA256(k.Key))
		}
		return &HostKeyError{Addr: addr, Pinned: strings.Join(want, " or ") + " (" + path + ")", Presented: ssh.FingerprintSHA256(key)}
	}, nil
}

// Agent connects to the SSH agent at SSH_AUTH_SOCK (getenv's), with a
// message that says how to use a key file instead when there is none.
// The returned close ends the agent connection.
func Agent(getenv func(string) string) (agent.ExtendedAgent, func(), error) {
	sock := getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("no SSH agent (SSH_AUTH_SOCK is not set): start one and add the key, or set ssh_key_file")
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("SSH agent at %s: %w (or set ssh_key_file)", sock, err)
	}
	return agent.NewClient(c), func() { c.Close() }, nil
}

// ErrHostKeyMismatch is returned when a host presents a key other than the pinned one.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// HostKeyError names both fingerprints of a mismatch.
type HostKeyError struct {
	Addr      string
	Pinned    string
	Presented string
}

func (e *HostKeyError) Error() string {
	return fmt.Sprintf("%s presented host key %s, but fjord pinned %s: refusing to connect (the guest is not the one fjord created, or its key was changed)", e.Addr, e.Presented, e.Pinned)
}

func (e *HostKeyError) Unwrap() error { return ErrHostKeyMismatch }

// Target is where and as whom to connect.
type Target struct {
	Addr       string // host:port
	User       string
	PrivateKey []byte // PEM, the client key; or
	// Agent, when PrivateKey is empty, signs with the keys of an SSH agent.
	Agent     agent.ExtendedAgent
	PinnedKey string // the host's public key, authorized_keys form; or
	// KnownHosts, when PinnedKey is empty, is an OpenSSH known_hosts file
	// whose entries for Addr are the keys accepted (none: refused).
	KnownHosts string
	// Via, when set, opens the connection instead of a direct TCP dial:
	// through a jump host (Client.DialVia), as a guest on a remote
	// hypervisor's private network is reached.
	Via func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a connected SSH session factory.
type Client struct {
	c    *ssh.Client
	addr string
}

// ReadPrivateKey loads a client key from disk with a message that names the file.
func ReadPrivateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ssh private key: %w", err)
	}
	if _, err := ssh.ParsePrivateKey(b); err != nil {
		return nil, fmt.Errorf("ssh private key %q: %w (fjord needs an unencrypted key file)", path, err)
	}
	return b, nil
}

// Dial connects to t, accepting only t.PinnedKey. It honours ctx for the TCP
// connect and the handshake.
func Dial(ctx context.Context, t Target) (*Client, error) {
	var auth ssh.AuthMethod
	if len(t.PrivateKey) == 0 && t.Agent != nil {
		auth = ssh.PublicKeysCallback(t.Agent.Signers)
	} else {
		signer, err := ssh.ParsePrivateKey(t.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("ssh client key: %w", err)
		}
		auth = ssh.PublicKeys(signer)
	}
	cfg := &ssh.ClientConfig{
		User:    t.User,
		Auth:    []ssh.AuthMethod{auth},
		Timeout: 15 * time.Second,
	}
	if t.PinnedKey == "" && t.KnownHosts != "" {
		cb, err := knownHostsCallback(t.Addr, t.KnownHosts)
		if err != nil {
			return nil, err
		}
		cfg.HostKeyCallback = cb
	} else {
		pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.PinnedKey))
		if err != nil {
			return nil, fmt.Errorf("pinned host key for %s: %w", t.Addr, err)
		}
		cfg.HostKeyCallback = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if bytes.Equal(key.Marshal(), pinned.Marshal()) {
				return nil
			}
			return &HostKeyError{Addr: t.Addr, Pinned: ssh.FingerprintSHA256(pinned), Presented: ssh.FingerprintSHA256(key)}
		}
		cfg.HostKeyAlgorithms = []string{pinned.Type()}
	}
	dial := t.Via
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, t.Addr, cfg)
	stop()
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{c: ssh.NewClient(c, chans, reqs), addr: t.Addr}, nil
}

// Result is the outcome of one command.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Run executes cmd. A non-zero exit is not an error: it is in Result.ExitCode.
// The command is abandoned (and the session closed) when ctx ends, so a guest
// that disappears mid-command cannot hang the caller.
func (c *Client) Run(ctx context.Context, cmd string) (Result, error) {
	return c.RunInput(ctx, cmd, nil)
}

// RunInput is Run with stdin fed from in (nil for none).
func (c *Client) RunInput(ctx context.Context, cmd string, in io.Reader) (Result, error) {
	s, err := c.c.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("ssh %s: new session: %w", c.addr, err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errb, in
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case <-ctx.Done():
		s.Close()
		c.c.Close()
		return Result{}, fmt.Errorf("ssh %s: %q: %w", c.addr, head(cmd), ctx.Err())
	case err = <-done:
	}
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var exit *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitStatus()
	default:
		return r, fmt.Errorf("ssh %s: %q: %w", c.addr, head(cmd), err)
	}
	return r, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

// head is the start of a command, for error messages: check scripts run
// to many kilobytes.
func head(cmd string) string {
	if len(cmd) > 120 {
		return cmd[:120] + "…"
	}
	return cmd
}

// Short trims command output for messages.
func Short(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// Quote makes s one word for a POSIX shell on the remote side.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
