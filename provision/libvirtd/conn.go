package libvirtd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"

	"libvirt.org/go/libvirt"

	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

// Conn is one libvirt connection. It is safe for concurrent use.
type Conn struct {
	uri   string
	c     *libvirt.Connect
	local bool // the hypervisor runs on this machine
	// via reaches the hypervisor's guests when it is remote (OpenOverSSH).
	via func(ctx context.Context, network, addr string) (net.Conn, error)
	// closers end what the connection runs through (the SSH forward).
	closers []func()
	// runRemote runs a command on a remote hypervisor through the same
	// pinned SSH connection and returns its output (nil for a local one);
	// what names it in errors.
	runRemote func(ctx context.Context, what, cmd string) (string, error)
}

// backingScript prints the whole disks under the path in $1, one per
// line, walking sysfs as provision.BackingDevices does.
const backingScript = `p=$1
while [ ! -e "$p" ]; do p=$(dirname "$p"); done
dev=$(stat -c '%Hd:%Ld' "$p")
d=$(readlink -f "/sys/dev/block/$dev") && [ -d "$d" ] || { echo "$1 is on device $dev, which is not a block device (tmpfs, overlay or a network filesystem)" >&2; exit 3; }
walk() {
  local dir=$1 s found=
  [ -e "$dir/partition" ] && dir=$(dirname "$dir")
  for s in "$dir"/slaves/*; do
    [ -e "$s" ] || continue
    found=1
    walk "$(readlink -f "$s")"
  done
  [ -n "$found" ] || basename "$dir"
}
walk "$d"`

// RemoteBackingDevices names the disks under path on a remote hypervisor;
// nil for a local one.
func (c *Conn) RemoteBackingDevices(ctx context.Context, path string) ([]string, error) {
	if c.runRemote == nil {
		return nil, nil
	}
	out, err := c.runRemote(ctx, "finding the disks under "+path, "bash -c "+sshx.Quote(backingScript)+" fjord-backing "+sshx.Quote(path))
	if err != nil {
		return nil, err
	}
	devs := strings.Fields(out)
	if len(devs) == 0 {
		return nil, fmt.Errorf("no block device found under %s", path)
	}
	return devs, nil
}

// RemoteSHA256 hashes a file on a remote hypervisor; "" for a local one.
func (c *Conn) RemoteSHA256(ctx context.Context, path string) (string, error) {
	if c.runRemote == nil {
		return "", nil
	}
	out, err := c.runRemote(ctx, "sha256sum "+path, "sha256sum -- "+sshx.Quote(path))
	if err != nil {
		return "", err
	}
	sum, _, _ := strings.Cut(out, " ")
	if len(sum) != 64 {
		return "", fmt.Errorf("sha256sum %s printed %q", path, out)
	}
	return sum, nil
}

var _ provision.Hypervisor = (*Conn)(nil)

// Open connects to uri. An unreachable daemon is reported as
// provision.ErrUnreachable with what to check.
func Open(uri string) (*Conn, error) {
	c, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot connect to %s: %s (is libvirtd running, and may this user open its socket?)",
			provision.ErrUnreachable, uri, message(err))
	}
	u, _ := url.Parse(uri)
	return &Conn{uri: uri, c: c, local: u == nil || u.Host == ""}, nil
}

// Close ends the connection.
func (c *Conn) Close() error {
	_, err := c.c.Close()
	for _, f := range c.closers {
		f()
	}
	return err
}

// message is libvirt's own text of an error, without the code dump.
func message(err error) string {
	var le libvirt.Error
	if errors.As(err, &le) {
		return le.Message
	}
	return err.Error()
}

// translate maps libvirt's error codes onto provision's sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var le libvirt.Error
	if errors.As(err, &le) {
		switch le.Code {
		case libvirt.ERR_NO_DOMAIN, libvirt.ERR_NO_NETWORK, libvirt.ERR_NO_STORAGE_POOL,
			libvirt.ERR_NO_STORAGE_VOL, libvirt.ERR_NO_DOMAIN_METADATA:
			return fmt.Errorf("%w: %s", provision.ErrNotFound, le.Message)
		case libvirt.ERR_NO_CONNECT, libvirt.ERR_RPC:
			return fmt.Errorf("%w: %s", provision.ErrUnreachable, le.Message)
		}
		return errors.New(le.Message)
	}
	return err
}

func notFound(err error) bool { return errors.Is(translate(err), provision.ErrNotFound) }

var domainStates = map[libvirt.DomainState]string{
	libvirt.DOMAIN_NOSTATE:     "nostate",
	libvirt.DOMAIN_RUNNING:     "running",
	libvirt.DOMAIN_BLOCKED:     "running", // blocked on I/O: still running
	libvirt.DOMAIN_PAUSED:      "paused",
	libvirt.DOMAIN_SHUTDOWN:    "shutting-down",
	libvirt.DOMAIN_SHUTOFF:     "shutoff",
	libvirt.DOMAIN_CRASHED:     "crashed",
	libvirt.DOMAIN_PMSUSPENDED: "pmsuspended",
}

// domain looks a domain up by name; the caller frees it. A missing one is
// provision.ErrNotFound, named.
func (c *Conn) domain(name string) (*libvirt.Domain, error) {
	d, err := c.c.LookupDomainByName(name)
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", name, translate(err))
	}
	return d, nil
}

// HasBridge reports whether the hypervisor has Linux bridge name: in this
// network namespace's sysfs for a local one (where libvirtd attaches the
// guests' taps), over the pinned SSH connection for a remote one.
func (c *Conn) HasBridge(ctx context.Context, name string) (bool, error) {
	if strings.ContainsAny(name, "/ \t\n") || name == "" || name == "." || name == ".." {
		return false, fmt.Errorf("%q is not an interface name", name)
	}
	if c.runRemote == nil {
		_, err := os.Stat("/sys/class/net/" + name + "/bridge")
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	out, err := c.runRemote(ctx, "looking for bridge "+name, "if [ -d /sys/class/net/"+sshx.Quote(name)+"/bridge ]; then echo yes; else echo no; fi")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) == "yes", nil
}
