package libvirtd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"libvirt.org/go/libvirt"

	"github.com/fjord-dev/fjord/provision"
)

// GrowVolume grows a volume to size bytes. Attached to the running
// domain, it is QEMU that grows it (a live block resize: the guest's
// kernel sees the new capacity at once); otherwise libvirt resizes the
// volume itself. A volume already that large is left as it is; a smaller
// size is refused.
func (c *Conn) GrowVolume(ctx context.Context, domain, pool, volume string, size uint64) error {
	p, err := c.c.LookupStoragePoolByName(pool)
	if err != nil {
		return fmt.Errorf("pool %q: %w", pool, translate(err))
	}
	defer p.Free()
	v, err := p.LookupStorageVolByName(volume)
	if err != nil {
		return fmt.Errorf("volume %q in pool %q: %w", volume, pool, translate(err))
	}
	defer v.Free()
	info, err := v.GetInfo()
	if err != nil {
		return fmt.Errorf("volume %q: %w", volume, translate(err))
	}
	switch {
	case info.Capacity == size:
		return nil
	case info.Capacity > size:
		return fmt.Errorf("volume %q is %d bytes, more than the %d asked for: fjord never shrinks a disk", volume, info.Capacity, size)
	}
	path, err := v.GetPath()
	if err != nil {
		return fmt.Errorf("volume %q: %w", volume, translate(err))
	}
	d, err := c.domain(domain)
	if err != nil {
		return err
	}
	defer d.Free()
	if active, _ := d.IsActive(); active {
		target, err := diskTarget(d, path)
		if err != nil {
			return err
		}
		if target == "" {
			return fmt.Errorf("domain %q has no disk on volume %q", domain, volume)
		}
		if err := d.BlockResize(target, size, libvirt.DOMAIN_BLOCK_RESIZE_BYTES); err != nil {
			return fmt.Errorf("grow disk %s of %q to %d bytes: %w", target, domain, size, translate(err))
		}
		return nil
	}
	if err := v.Resize(size, 0); err != nil {
		return fmt.Errorf("grow volume %q to %d bytes: %w", volume, size, translate(err))
	}
	return nil
}

// diskTarget is the target device of the running domain's disk on the
// file path, "" when it has none.
func diskTarget(d *libvirt.Domain, path string) (string, error) {
	disks, err := domainDisks(d, 0)
	if err != nil {
		return "", err
	}
	for _, disk := range disks {
		if disk.Source != nil && disk.Source.File != nil && disk.Source.File.File == path && disk.Target != nil {
			return disk.Target.Dev, nil
		}
	}
	return "", nil
}

var _ provision.Disks = (*Conn)(nil)

// ReadVolume returns a small volume's bytes (at most max), read through
// libvirt: on a remote hypervisor over fjord's connection.
func (c *Conn) ReadVolume(ctx context.Context, pool, volume string, max uint64) ([]byte, error) {
	p, err := c.c.LookupStoragePoolByName(pool)
	if err != nil {
		return nil, fmt.Errorf("pool %q: %w", pool, translate(err))
	}
	defer p.Free()
	v, err := p.LookupStorageVolByName(volume)
	if err != nil {
		if notFound(err) {
			return nil, provision.ErrNotFound
		}
		return nil, fmt.Errorf("volume %q in pool %q: %w", volume, pool, translate(err))
	}
	defer v.Free()
	info, err := v.GetInfo()
	if err != nil {
		return nil, translate(err)
	}
	if info.Capacity > max {
		return nil, fmt.Errorf("volume %q is %d bytes, more than the %d expected", volume, info.Capacity, max)
	}
	st, err := c.c.NewStream(0)
	if err != nil {
		return nil, translate(err)
	}
	defer st.Free()
	if err := v.Download(st, 0, info.Capacity, 0); err != nil {
		return nil, translate(err)
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			_ = st.Abort()
			return nil, err
		}
		n, err := st.Recv(buf)
		if errors.Is(err, io.EOF) || err == nil && n == 0 {
			break
		}
		if err != nil {
			_ = st.Abort()
			return nil, translate(err)
		}
		if n > 0 { // -2: it would block (a blocking stream does not)
			out = append(out, buf[:n]...)
		}
	}
	return out, translate(st.Finish())
}
