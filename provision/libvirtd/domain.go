package libvirtd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/poll"
	"github.com/fjord-dev/fjord/provision"
)

// DefineAndStart defines the domain with its ownership metadata, then boots it.
func (c *Conn) DefineAndStart(ctx context.Context, ds provision.DomainSpec) error {
	x, err := DomainXML(ds)
	if err != nil {
		return err
	}
	d, err := c.c.DomainDefineXML(x)
	if err != nil {
		return fmt.Errorf("define domain %q: %w", ds.Name, translate(err))
	}
	defer d.Free()
	if ds.Meta.Autostart {
		if err := d.SetAutostart(true); err != nil {
			return fmt.Errorf("set autostart of %q: %w", ds.Name, translate(err))
		}
	}
	if err := d.Create(); err != nil {
		return fmt.Errorf("start domain %q: %w", ds.Name, translate(err))
	}
	return nil
}

// RemoveDomain asks the guest to power off (ACPI), forces it off after the
// timeout, then undefines it. A missing domain is not an error.
func (c *Conn) RemoveDomain(ctx context.Context, name string, opts provision.RemoveOptions) error {
	d, err := c.c.LookupDomainByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("domain %q: %w", name, translate(err))
	}
	defer d.Free()
	if err := stop(ctx, d, name, opts); err != nil {
		return err
	}
	if err := d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_NVRAM); err != nil && !notFound(err) {
		return fmt.Errorf("undefine domain %q: %w", name, translate(err))
	}
	if c.local {
		_ = os.Remove(ConsoleLogPath(name))
	}
	return nil
}

// seedTarget is the device name of the seed disk in DomainXML.
const seedTarget = "vdb"

// DetachSeed unplugs the seed disk from the running guest and removes it
// from the definition, waiting (up to 30 s) for the guest to let go of it.
func (c *Conn) DetachSeed(ctx context.Context, name string) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	disk, err := findDisk(d, seedTarget, libvirt.DOMAIN_XML_INACTIVE)
	if err != nil || disk == "" {
		return err
	}
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	active, _ := d.IsActive()
	if live, _ := findDisk(d, seedTarget, 0); active && live != "" {
		flags |= libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	if err := d.DetachDeviceFlags(disk, flags); err != nil {
		return fmt.Errorf("detach the seed disk of %q: %w", name, translate(err))
	}
	if flags&libvirt.DOMAIN_DEVICE_MODIFY_LIVE == 0 {
		return nil
	}
	return poll.Until(ctx, 250*time.Millisecond, 30*time.Second, fmt.Sprintf("the guest %q to release its seed disk", name), func() (bool, error) {
		live, _ := findDisk(d, seedTarget, 0)
		return live == "", nil
	})
}

// findDisk returns the XML of the disk with target dev, "" when absent.
func findDisk(d *libvirt.Domain, dev string, flags libvirt.DomainXMLFlags) (string, error) {
	disks, err := domainDisks(d, flags)
	if err != nil {
		return "", err
	}
	for _, disk := range disks {
		if disk.Target != nil && disk.Target.Dev == dev {
			return disk.Marshal()
		}
	}
	return "", nil
}

// domainDisks are the domain's disks as its XML (with flags) has them.
func domainDisks(d *libvirt.Domain, flags libvirt.DomainXMLFlags) ([]libvirtxml.DomainDisk, error) {
	x, err := d.GetXMLDesc(flags)
	if err != nil {
		return nil, translate(err)
	}
	var dx libvirtxml.Domain
	if err := dx.Unmarshal(x); err != nil {
		return nil, err
	}
	if dx.Devices == nil {
		return nil, nil
	}
	return dx.Devices.Disks, nil
}

// SetMeta replaces the domain's fjord metadata element.
func (c *Conn) SetMeta(ctx context.Context, name string, m provision.HostMeta) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	x, err := provision.MarshalMetaElement(m)
	if err != nil {
		return err
	}
	flags := libvirt.DOMAIN_AFFECT_CONFIG
	if active, _ := d.IsActive(); active {
		flags |= libvirt.DOMAIN_AFFECT_LIVE
	}
	if err := d.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, x, "fjord", provision.MetadataNamespace, flags); err != nil {
		return fmt.Errorf("update metadata of %q: %w", name, translate(err))
	}
	if err := d.SetAutostart(m.Autostart); err != nil {
		return fmt.Errorf("set autostart of %q: %w", name, translate(err))
	}
	return nil
}

// stop asks the guest to power off (ACPI) and forces it off after the
// timeout; a domain that is not running is left as it is.
func stop(ctx context.Context, d *libvirt.Domain, name string, opts provision.RemoveOptions) error {
	if active, _ := d.IsActive(); !active {
		return nil
	}
	if opts.ShutdownTimeoutSeconds > 0 && d.Shutdown() == nil {
		err := poll.Until(ctx, 500*time.Millisecond, time.Duration(opts.ShutdownTimeoutSeconds)*time.Second, fmt.Sprintf("domain %q to shut down", name), func() (bool, error) {
			active, _ := d.IsActive()
			return !active, nil
		})
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, poll.ErrTimeout):
			return err // interrupted: the guest is left to finish its shutdown, not forced off
		}
	}
	if active, _ := d.IsActive(); active {
		if err := d.Destroy(); err != nil && !notFound(err) {
			return fmt.Errorf("force off domain %q: %w", name, translate(err))
		}
	}
	return nil
}

// Reconfigure rewrites vcpu, memory and metadata in the domain's
// definition; a running guest sees them after its next start.
func (c *Conn) Reconfigure(ctx context.Context, name string, vcpu int, memoryKiB uint64, m provision.HostMeta) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return fmt.Errorf("read domain %q: %w", name, translate(err))
	}
	var dx libvirtxml.Domain
	if err := dx.Unmarshal(x); err != nil {
		return err
	}
	meta, err := provision.MarshalMeta(m)
	if err != nil {
		return err
	}
	dx.Memory = &libvirtxml.DomainMemory{Value: uint(memoryKiB), Unit: "KiB"}
	dx.CurrentMemory = nil
	dx.VCPU = &libvirtxml.DomainVCPU{Placement: "static", Value: uint(vcpu)}
	dx.Metadata = &libvirtxml.DomainMetadata{XML: meta}
	nx, err := dx.Marshal()
	if err != nil {
		return err
	}
	nd, err := c.c.DomainDefineXML(nx)
	if err != nil {
		return fmt.Errorf("redefine domain %q: %w", name, translate(err))
	}
	nd.Free()
	return nil
}
