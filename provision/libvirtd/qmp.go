package libvirtd

import (
	"context"
	"errors"
	"fmt"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"
	"libvirt.org/go/libvirt"

	"github.com/fjord-dev/fjord/provision"
)

// monitor is a go-qemu QMP monitor over libvirt's monitor passthrough
// (virDomainQemuMonitorCommand), so QMP needs no socket of its own.
type monitor struct{ d *libvirt.Domain }

var _ qmp.Monitor = monitor{}

func (monitor) Connect() error    { return nil }
func (monitor) Disconnect() error { return nil }

func (m monitor) Run(cmd []byte) ([]byte, error) {
	out, err := m.d.QemuMonitorCommand(string(cmd), libvirt.DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT)
	if err != nil {
		return nil, translate(err)
	}
	return []byte(out), nil
}

func (monitor) Events(context.Context) (<-chan qmp.Event, error) {
	return nil, errors.New("QMP events are not available through libvirt's monitor passthrough")
}

// QueryKVM asks QEMU itself (QMP query-kvm) whether the guest runs under KVM.
func (c *Conn) QueryKVM(ctx context.Context, name string) (provision.KVMStatus, error) {
	d, err := c.domain(name)
	if err != nil {
		return provision.KVMStatus{}, err
	}
	defer d.Free()
	info, err := raw.NewMonitor(monitor{d}).QueryKVM()
	if err != nil {
		return provision.KVMStatus{}, fmt.Errorf("QMP query-kvm on %q: %w", name, err)
	}
	return provision.KVMStatus{Enabled: info.Enabled, Present: info.Present}, nil
}
