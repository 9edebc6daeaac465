package libvirtd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/provision"
)

// EnsurePool creates a directory pool with an ownership marker, or starts
// an existing pool of that name without changing it.
func (c *Conn) EnsurePool(ctx context.Context, ps provision.PoolSpec) error {
	p, err := c.c.LookupStoragePoolByName(ps.Name)
	if err == nil {
		defer p.Free()
		if active, _ := p.IsActive(); !active {
			if err := p.Create(0); err != nil {
				return fmt.Errorf("start pool %q: %w", ps.Name, translate(err))
			}
		}
		return nil
	}
	if !notFound(err) {
		return fmt.Errorf("look up pool %q: %w", ps.Name, translate(err))
	}
	x, err := (&libvirtxml.StoragePool{Type: "dir", Name: ps.Name, Target: &libvirtxml.StoragePoolTarget{Path: ps.Path}}).Marshal()
	if err != nil {
		return err
	}
	p, err = c.c.StoragePoolDefineXML(x, 0)
	if err != nil {
		return fmt.Errorf("define pool %q at %s: %w", ps.Name, ps.Path, translate(err))
	}
	defer p.Free()
	if err := p.Build(0); err != nil {
		_ = p.Undefine()
		return fmt.Errorf("create directory %s for pool %q: %w", ps.Path, ps.Name, translate(err))
	}
	if err := p.Create(0); err != nil {
		_ = p.Undefine()
		return fmt.Errorf("start pool %q: %w", ps.Name, translate(err))
	}
	_ = p.SetAutostart(true)
	// The marker is an empty volume whose name says which project made the pool.
	mx, _ := (&libvirtxml.StorageVolume{
		Name:     provision.PoolMarkerVolume(ps.Project),
		Capacity: &libvirtxml.StorageVolumeSize{Value: 0, Unit: "bytes"},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "raw"}},
	}).Marshal()
	v, err := p.StorageVolCreateXML(mx, 0)
	if err != nil {
		return fmt.Errorf("mark pool %q as fjord's: %w", ps.Name, translate(err))
	}
	v.Free()
	return nil
}

// CreateVolume creates (and fills) a volume, or returns the path of an
// existing one of that name. A volume whose upload fails is deleted.
func (c *Conn) CreateVolume(ctx context.Context, vs provision.VolumeSpec) (string, error) {
	p, err := c.c.LookupStoragePoolByName(vs.Pool)
	if err != nil {
		return "", fmt.Errorf("pool %q: %w", vs.Pool, translate(err))
	}
	defer p.Free()
	if v, err := p.LookupStorageVolByName(vs.Name); err == nil {
		defer v.Free()
		path, err := v.GetPath()
		return path, translate(err)
	}
	vx := &libvirtxml.StorageVolume{
		Name:     vs.Name,
		Capacity: &libvirtxml.StorageVolumeSize{Value: vs.Capacity, Unit: "bytes"},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: vs.Format}},
	}
	upload := vs.Content != nil || vs.Source != ""
	if upload {
		// The bytes are written as they are; raw keeps libvirt from formatting the file first.
		vx.Target.Format.Type = "raw"
		vx.Allocation = &libvirtxml.StorageVolumeSize{Value: 0, Unit: "bytes"}
	}
	if vs.Backing != nil {
		vx.BackingStore = &libvirtxml.StorageVolumeBackingStore{
			Path:   vs.Backing.Path,
			Format: &libvirtxml.StorageVolumeTargetFormat{Type: vs.Backing.Format},
		}
	}
	x, err := vx.Marshal()
	if err != nil {
		return "", err
	}
	v, err := p.StorageVolCreateXML(x, 0)
	if err != nil {
		return "", fmt.Errorf("create volume %q in pool %q: %w", vs.Name, vs.Pool, translate(err))
	}
	defer v.Free()
	if upload {
		if err := c.upload(ctx, v, vs); err != nil {
			_ = v.Delete(0)
			return "", fmt.Errorf("upload volume %q to pool %q: %w", vs.Name, vs.Pool, err)
		}
	}
	path, err := v.GetPath()
	return path, translate(err)
}

func (c *Conn) upload(ctx context.Context, v *libvirt.StorageVol, vs provision.VolumeSpec) error {
	var r io.Reader
	if vs.Content != nil {
		r = bytes.NewReader(vs.Content)
	} else {
		f, err := os.Open(vs.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		r = bufio.NewReaderSize(f, 1<<20)
	}
	if vs.Progress != nil {
		r = provision.Metered(r, "upload", int64(vs.Capacity), vs.Progress)
	}
	st, err := c.c.NewStream(0)
	if err != nil {
		return translate(err)
	}
	defer st.Free()
	if err := v.Upload(st, 0, vs.Capacity, 0); err != nil {
		return translate(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			_ = st.Abort()
			return err
		}
		n, rerr := r.Read(buf)
		for off := 0; off < n; {
			m, err := st.Send(buf[off:n])
			if err != nil {
				_ = st.Abort()
				return translate(err)
			}
			off += m
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = st.Abort()
			return rerr
		}
	}
	return translate(st.Finish())
}

// DeleteVolume removes a volume; a missing volume or pool is not an error.
func (c *Conn) DeleteVolume(ctx context.Context, pool, name string) error {
	p, err := c.c.LookupStoragePoolByName(pool)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("pool %q: %w", pool, translate(err))
	}
	defer p.Free()
	v, err := p.LookupStorageVolByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("volume %q: %w", name, translate(err))
	}
	defer v.Free()
	if err := v.Delete(0); err != nil {
		return fmt.Errorf("delete volume %q from pool %q: %w", name, pool, translate(err))
	}
	return nil
}

// DeletePool removes a pool fjord created once nothing but its marker is in
// it. The directory is removed too, unless it is a mount point.
func (c *Conn) DeletePool(ctx context.Context, name string) error {
	p, err := c.c.LookupStoragePoolByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("pool %q: %w", name, translate(err))
	}
	defer p.Free()
	ps, _, err := c.poolState(p, "\x00")
	if err != nil {
		return err
	}
	if ps.OwnedBy == "" {
		return fmt.Errorf("pool %q has no fjord ownership marker: left in place", name)
	}
	if ps.Volumes > 1 {
		return fmt.Errorf("pool %q still holds %d volumes besides fjord's marker: left in place", name, ps.Volumes-1)
	}
	if ps.Active {
		vols, _ := p.ListAllStorageVolumes(0)
		for i := range vols {
			_ = vols[i].Delete(0)
			vols[i].Free()
		}
		keepDir := c.local && isMountPoint(ps.Path)
		if !keepDir {
			if err := p.Destroy(); err != nil {
				return fmt.Errorf("stop pool %q: %w", name, translate(err))
			}
			if err := p.Delete(0); err != nil {
				return fmt.Errorf("remove directory of pool %q: %w", name, translate(err))
			}
		} else if err := p.Destroy(); err != nil {
			return fmt.Errorf("stop pool %q: %w", name, translate(err))
		}
	}
	if err := p.Undefine(); err != nil {
		return fmt.Errorf("undefine pool %q: %w", name, translate(err))
	}
	return nil
}

// isMountPoint reports whether path is on another device than its parent.
func isMountPoint(path string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(path, &a) != nil || syscall.Stat(filepath.Dir(path), &b) != nil {
		return false
	}
	return a.Dev != b.Dev || a.Ino == b.Ino
}
