package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
)

// ForwardUnix serves, on a unix socket in a new directory only this user
// can enter, connections to the socket remotePath on the SSH server's
// machine, each carried over c as its own stream-local channel (what
// `ssh -L local.sock:remote.sock` does). It returns the local socket's path
// and stop, which stops serving, closes the forwarded connections and
// removes the directory. Whoever can open the local socket reaches the
// remote one with the rights of the SSH user, hence the private directory.
func (c *Client) ForwardUnix(remotePath string) (local string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "fjord-forward-")
	if err != nil {
		return "", nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	local = filepath.Join(dir, "sock")
	l, err := net.Listen("unix", local)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	track := func(cs ...net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range cs {
			conns[x] = true
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			lc, err := l.Accept()
			if err != nil {
				return
			}
			rc, err := c.c.Dial("unix", remotePath)
			if err != nil {
				lc.Close()
				continue
			}
			track(lc, rc)
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipe(lc, rc)
			}()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			l.Close()
			mu.Lock()
			for x := range conns {
				x.Close()
			}
			mu.Unlock()
			wg.Wait()
			os.RemoveAll(dir)
		})
	}
	return local, stop, nil
}

// pipe copies both ways until either side ends, then closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}

// DialVia opens a TCP connection to addr from the SSH server's side of c: a
// jump, what ProxyJump does. It honours ctx.
func (c *Client) DialVia(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.c.DialContext(ctx, network, addr)
}

// errScanned stops a handshake once the host key is known.
var errScanned = errors.New("host key scanned")

// ScanHostKey connects to addr and returns the host key it presents, in
// authorized_keys form, without authenticating: the one deliberate step
// before pinning it. keyType limits the key types asked for (ssh-ed25519
// by default).
func ScanHostKey(ctx context.Context, addr, keyType string) (string, error) {
	if keyType == "" {
		keyType = ssh.KeyAlgoED25519
	}
	var got ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User: "fjord-scan",
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			got = key
			return errScanned
		},
		HostKeyAlgorithms: []string{keyType},
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if got == nil {
		return "", fmt.Errorf("%s presented no %s host key: %v", addr, keyType, err)
	}
	return string(ssh.MarshalAuthorizedKey(got)[:len(ssh.MarshalAuthorizedKey(got))-1]), nil
}
