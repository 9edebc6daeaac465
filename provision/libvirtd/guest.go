package libvirtd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"libvirt.org/go/libvirt"

	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

// StartDomain boots a defined domain.
func (c *Conn) StartDomain(ctx context.Context, name string) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	if err := d.Create(); err != nil {
		return fmt.Errorf("start domain %q: %w", name, translate(err))
	}
	return nil
}

var pausedReasons = map[int]string{
	int(libvirt.DOMAIN_PAUSED_UNKNOWN):         "unknown",
	int(libvirt.DOMAIN_PAUSED_USER):            "paused by a user",
	int(libvirt.DOMAIN_PAUSED_IOERROR):         "I/O error",
	int(libvirt.DOMAIN_PAUSED_CRASHED):         "guest crashed",
	int(libvirt.DOMAIN_PAUSED_SHUTTING_DOWN):   "shutting down",
	int(libvirt.DOMAIN_PAUSED_POSTCOPY_FAILED): "migration failed",
}

var crashedReasons = map[int]string{
	int(libvirt.DOMAIN_CRASHED_UNKNOWN):  "unknown",
	int(libvirt.DOMAIN_CRASHED_PANICKED): "guest kernel panicked",
}

var shutoffReasons = map[int]string{
	int(libvirt.DOMAIN_SHUTOFF_UNKNOWN):   "unknown",
	int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN):  "the guest shut down",
	int(libvirt.DOMAIN_SHUTOFF_DESTROYED): "forced off",
	int(libvirt.DOMAIN_SHUTOFF_CRASHED):   "the guest crashed",
	int(libvirt.DOMAIN_SHUTOFF_FAILED):    "QEMU failed to start it",
}

// DomainStatus reports state, reason and leased addresses.
func (c *Conn) DomainStatus(ctx context.Context, name string) (provision.DomainStatus, error) {
	d, err := c.domain(name)
	if err != nil {
		return provision.DomainStatus{}, err
	}
	defer d.Free()
	st, reason, err := d.GetState()
	if err != nil {
		return provision.DomainStatus{}, translate(err)
	}
	out := provision.DomainStatus{State: domainStates[st], Reason: fmt.Sprintf("reason %d", reason)}
	var table map[int]string
	switch st {
	case libvirt.DOMAIN_PAUSED:
		table = pausedReasons
	case libvirt.DOMAIN_CRASHED:
		table = crashedReasons
	case libvirt.DOMAIN_SHUTOFF:
		table = shutoffReasons
	}
	if r, ok := table[reason]; ok {
		out.Reason = r
	}
	if out.State != "running" {
		return out, nil
	}
	ifs, err := d.ListAllInterfaceAddresses(libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
	if err != nil {
		return out, nil // no lease table yet is not an error
	}
	for _, i := range ifs {
		for _, a := range i.Addrs {
			if a.Type == libvirt.IP_ADDR_TYPE_IPV4 {
				out.Addresses = append(out.Addresses, a.Addr)
				out.Leases = append(out.Leases, provision.Lease{MAC: i.Hwaddr, Addr: a.Addr})
			}
		}
	}
	return out, nil
}

// ConsoleTail reads the end of the console log when the hypervisor is local.
func (c *Conn) ConsoleTail(ctx context.Context, name string, lines int) string {
	var b []byte
	switch {
	case c.local:
		var err error
		if b, err = os.ReadFile(ConsoleLogPath(name)); err != nil {
			return ""
		}
	case c.runRemote != nil:
		// virtlogd writes the log on the hypervisor, at the same path.
		s, err := c.runRemote(ctx, "reading the console log", fmt.Sprintf("tail -n %d -- %s", lines, sshx.Quote(ConsoleLogPath(name))))
		if err != nil {
			return ""
		}
		b = []byte(s)
	default:
		return ""
	}
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Restart stops the guest and boots it again with its current definition.
func (c *Conn) Restart(ctx context.Context, name string, opts provision.RemoveOptions) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	if err := stop(ctx, d, name, opts); err != nil {
		return err
	}
	if err := d.Create(); err != nil {
		return fmt.Errorf("start domain %q: %w", name, translate(err))
	}
	return nil
}
