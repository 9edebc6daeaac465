package libvirtd

import (
	"context"
	"fmt"
	"net"
	"net/url"

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
	if u.Path != "/system" {
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
	key, err := sshx.ReadPrivateKey(h.SSHKeyFile)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	cl, err := sshx.Dial(ctx, sshx.Target{Addr: addr, User: user, PrivateKey: key, PinnedKey: h.HostKey})
	if err != nil {
		return nil, fmt.Errorf("%w: ssh to %s as %s: %w", provision.ErrUnreachable, addr, user, err)
	}
	local, stop, err := cl.ForwardUnix(remote)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("forward %s's libvirt socket: %w", addr, err)
	}
	c, err := Open("qemu+unix:///system?socket=" + local)
	if err != nil {
		stop()
		cl.Close()
		return nil, fmt.Errorf("%w: libvirtd on %s (socket %s) through SSH: %w", provision.ErrUnreachable, addr, remote, err)
	}
	c.uri, c.local, c.via = h.URI, false, cl.DialVia
	c.closers = append(c.closers, stop, func() { cl.Close() })
	return c, nil
}

// Via opens connections to guests from the hypervisor's side: nil for a
// hypervisor on this machine, whose guests are reached directly.
func (c *Conn) Via() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.via
}

var _ provision.GuestRoute = (*Conn)(nil)
