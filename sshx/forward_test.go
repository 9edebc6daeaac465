package sshx

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoUnix serves lines back, upper-cased, on a unix socket: the far end
// of a forward (libvirt's socket on a hypervisor, in real use).
func echoUnix(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "remote.sock")
	l, err := net.Listen("unix", p)
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
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					c.Write([]byte(strings.ToUpper(sc.Text()) + "\n"))
				}
			}()
		}
	}()
	return p
}

func TestForwardUnixCarriesEachConnection(t *testing.T) {
	kp, pub := clientKey(t)
	srv := startServer(t, pub)
	c, err := Dial(context.Background(), Target{Addr: srv.addr, User: "root", PrivateKey: []byte(kp.PrivatePEM), PinnedKey: srv.hostKey.Public})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local, stop, err := c.ForwardUnix(echoUnix(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Dir(local))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the forward's directory: %v %v (only its user may reach the socket)", st, err)
	}
	for i := 0; i < 3; i++ { // one channel per connection
		conn, err := net.Dial("unix", local)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte("hello libvirt\n"))
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || line != "HELLO LIBVIRT\n" {
			t.Fatalf("through the forward: %q, %v", line, err)
		}
	}
	stop()
	if _, err := os.Stat(filepath.Dir(local)); !os.IsNotExist(err) {
		t.Errorf("the forward's directory is left behind: %v", err)
	}
}

// A guest behind the SSH server is reached through it, with its own pinned key.
func TestDialThroughAJumpHost(t *testing.T) {
	kp, pub := clientKey(t)
	jump := startServer(t, pub)
	guest := startServer(t, pub)
	j, err := Dial(context.Background(), Target{Addr: jump.addr, User: "root", PrivateKey: []byte(kp.PrivatePEM), PinnedKey: jump.hostKey.Public})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	g, err := Dial(context.Background(), Target{Addr: guest.addr, User: "admin", PrivateKey: []byte(kp.PrivatePEM), PinnedKey: guest.hostKey.Public, Via: j.DialVia})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if r, err := g.Run(context.Background(), "hostname"); err != nil || r.Stdout != "ran: hostname" {
		t.Fatalf("run through the jump: %+v %v", r, err)
	}
	// The guest's key is checked on the far side too.
	if _, err := Dial(context.Background(), Target{Addr: guest.addr, User: "admin", PrivateKey: []byte(kp.PrivatePEM), PinnedKey: jump.hostKey.Public, Via: j.DialVia}); err == nil {
		t.Fatal("a guest presenting another key was accepted through the jump")
	}
}

func TestScanHostKey(t *testing.T) {
	_, pub := clientKey(t)
	srv := startServer(t, pub)
	got, err := ScanHostKey(context.Background(), srv.addr, "")
	if err != nil || got != srv.hostKey.Public {
		t.Fatalf("scanned %q, %v; want %q", got, err, srv.hostKey.Public)
	}
}
