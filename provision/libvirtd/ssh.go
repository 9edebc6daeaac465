package libvirtd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

// defaultRemoteSocket is the system libvirtd's socket on a hypervisor.
const defaultRemoteSocket = "/run/libvirt/libvirt-sock"

// OpenOverSSH connects to hypervisor h, whose URI goes over SSH
// (qemu+ssh://USER@HOST[:PORT]/system[?socket=PATH]): fjord makes the SSH
// connection itself, accepting only h.HostKey and authenticating with
// h.SSHKeyFile, forwards the remote libvirt socket to a local one in a
// private directory, and opens libvirt through it. The same connection
// reaches the hypervisor's guests (Via). A different host key is an error
// naming both fingerprints (errors.Is sshx.ErrHostKeyMismatch); no key is
// ever trusted on first use.
func OpenOverSSH(ctx context.Context, h model.Hypervisor) (*Conn, error) {
	u, err := url.Parse(h.URI)
	if err != nil {
		return nil, err
	}
	// The driver and path are the remote daemon's to open: qemu's system
	// instance, or (for benchmarks) a test-driver node file it loads.
	driver, _, _ := strings.Cut(u.Scheme, "+")
	if driver == "qemu" && u.Path != "/system" {
		return nil, fmt.Errorf("hypervisor %q: over SSH fjord drives the system libvirtd (/system), not %q", h.Name, u.Path)
	}
	user := "root"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	remote := u.Query().Get("socket")
	if remote == "" {
		remote = defaultRemoteSocket
	}
	t := sshx.Target{Addr: net.JoinHostPort(u.Hostname(), port), User: user, PinnedKey: h.HostKey, KnownHosts: h.KnownHosts}
	addr := t.Addr
	if h.SSHKeyFile != "" {
		if t.PrivateKey, err = sshx.ReadPrivateKey(h.SSHKeyFile); err != nil {
			return nil, err
		}
	} else {
		ag, closeAgent, err := sshx.Agent(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("hypervisor %q: %w", h.Name, err)
		}
		defer closeAgent() // the keys are needed for the handshake only
		t.Agent = ag
	}
	cl, err := sshx.Dial(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%w: ssh to %s as %s: %w", provision.ErrUnreachable, addr, user, err)
	}
	local, stop, err := cl.ForwardUnix(remote)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("forward %s's libvirt socket: %w", addr, err)
	}
	c, err := Open(driver + "+unix://" + u.Path + "?socket=" + local) // local: a temporary directory's path, nothing to escape
	if err != nil {
		stop()
		cl.Close()
		return nil, fmt.Errorf("%w: libvirtd on %s (socket %s) through SSH: %w", provision.ErrUnreachable, addr, remote, err)
	}
	c.uri, c.local, c.via = h.URI, false, cl.DialVia
	c.runRemote = func(ctx context.Context, what, cmd string) (string, error) {
		r, err := cl.Run(ctx, cmd)
		if err != nil {
			return "", err
		}
		if r.ExitCode != 0 {
			return "", fmt.Errorf("%s on %s: exit %d: %s", what, addr, r.ExitCode, strings.TrimSpace(r.Stderr))
		}
		return r.Stdout, nil
	}
	c.closers = append(c.closers, stop, func() { cl.Close() })
	return c, nil
}

// Via opens connections to guests from the hypervisor's side: nil for a
// hypervisor on this machine, whose guests are reached directly.
func (c *Conn) Via() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.via
}

var _ provision.GuestRoute = (*Conn)(nil)
