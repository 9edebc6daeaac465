package provision

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fjord-dev/fjord/model"
)

// BackingDevices names the block devices that hold path (the nearest
// existing ancestor when path does not exist yet), resolving partitions to
// their disk and device-mapper devices (LVM, dm-crypt) to what lies beneath.
// sysfs is normally "/sys".
func BackingDevices(path, sysfs string) ([]string, error) {
	p := filepath.Clean(path)
	var st unix.Stat_t
	for {
		err := unix.Stat(p, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) || p == "/" {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		p = filepath.Dir(p)
	}
	major, minor := unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev))
	link := filepath.Join(sysfs, "dev", "block", fmt.Sprintf("%d:%d", major, minor))
	target, err := filepath.EvalSymlinks(link)
	if err != nil {
		return nil, fmt.Errorf("%s is on device %d:%d, which is not a block device (tmpfs, overlay or a network filesystem)", path, major, minor)
	}
	return disks(target, sysfs)
}

// disks resolves one sysfs block device directory to whole-disk names.
func disks(dir, sysfs string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		dir = filepath.Dir(dir)
	}
	name := filepath.Base(dir)
	slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
	if len(slaves) == 0 {
		return []string{name}, nil
	}
	var out []string
	for _, s := range slaves {
		t, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", s.Name()))
		if err != nil {
			return nil, err
		}
		d, err := disks(t, sysfs)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// CheckNVMe fails unless every device under path is an NVMe disk, naming
// the devices it found.
func CheckNVMe(path, sysfs string) error {
	devs, err := BackingDevices(path, sysfs)
	if err != nil {
		return err
	}
	return allNVMe(path, devs)
}

func allNVMe(path string, devs []string) error {
	var not []string
	for _, d := range devs {
		if !strings.HasPrefix(d, "nvme") {
			not = append(not, d)
		}
	}
	if len(not) > 0 {
		return fmt.Errorf("%s is backed by %s, which is not NVMe", path, strings.Join(not, ", "))
	}
	return nil
}

// CheckPools enforces require_nvme on pools the configuration will create
// or use: through sysfs here for a hypervisor on this machine, on the
// hypervisor itself (RemoteFiles) for a remote one.
func CheckPools(ctx context.Context, cfg *model.Config, invs map[string]*Inventory, hvs map[string]Hypervisor) error {
	var errs []error
	for _, p := range cfg.Pools {
		if !p.RequireNVMe {
			continue
		}
		// A pool bound to no hypervisor is checked wherever its hosts are.
		on := []string{p.Hypervisor}
		if p.Hypervisor == "" {
			on = nil
			for _, h := range cfg.Hosts {
				if h.Pool == p.Name && h.Hypervisor != "" && !slices.Contains(on, h.Hypervisor) {
					on = append(on, h.Hypervisor)
				}
			}
		}
		for _, name := range on {
			if err := checkPoolNVMe(ctx, cfg, p, name, invs[name], hvs[name]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func checkPoolNVMe(ctx context.Context, cfg *model.Config, p model.Pool, hvName string, inv *Inventory, conn Hypervisor) error {
	hv, _ := cfg.Hypervisor(hvName)
	if strings.HasPrefix(hv.URI, "test:") || strings.HasPrefix(hv.URI, "test+") {
		return nil // libvirt's test driver has no disks to check
	}
	path := p.Path
	if inv != nil {
		for _, ps := range inv.Pools {
			if ps.Name == p.Name && ps.Path != "" {
				path = ps.Path // an existing pool is checked where it really is
			}
		}
	}
	fail := func(err error) error {
		return fmt.Errorf("pool %q on %s has require_nvme = true, but %w; use an NVMe-backed path or remove require_nvme", p.Name, hvName, err)
	}
	u, err := url.Parse(hv.URI)
	if err != nil || u.Host != "" {
		rf, ok := conn.(RemoteFiles)
		if !ok || conn == nil {
			return fmt.Errorf("pool %q: require_nvme cannot be checked on %s (%q): fjord reads a remote hypervisor's disks only over its own SSH connection", p.Name, hvName, hv.URI)
		}
		devs, err := rf.RemoteBackingDevices(ctx, path)
		if err != nil {
			return fail(err)
		}
		if devs == nil {
			return fmt.Errorf("pool %q: require_nvme cannot be checked on %s (%q): fjord reads a remote hypervisor's disks only over its own SSH connection", p.Name, hvName, hv.URI)
		}
		if err := allNVMe(path, devs); err != nil {
			return fail(err)
		}
		return nil
	}
	if err := CheckNVMe(path, "/sys"); err != nil {
		return fail(err)
	}
	return nil
}

// HostBridges tells whether a hypervisor has a bridge.
type HostBridges interface {
	// HasBridge reports whether the hypervisor has a Linux bridge called
	// name (/sys/class/net/NAME/bridge exists there).
	HasBridge(ctx context.Context, name string) (bool, error)
}

// BridgeError is a bridge network whose bridge a hypervisor lacks.
type BridgeError struct {
	Network, Bridge, Hypervisor string
	Hosts                       []string // the hosts placed there that need it
	Where                       string   // where the network's bridge is written
	Err                         error    // the check itself failed
}

func (e *BridgeError) Error() string {
	at := ""
	if e.Where != "" {
		at = e.Where + ": "
	}
	if e.Err != nil {
		return fmt.Sprintf("%snetwork %q: cannot tell whether hypervisor %s has bridge %s (hosts %s need it): %v", at, e.Network, e.Hypervisor, e.Bridge, strings.Join(e.Hosts, ", "), e.Err)
	}
	return fmt.Sprintf("%snetwork %q: hypervisor %s has no bridge %s, which hosts %s are to be attached to; create the bridge on the hypervisor (fjord attaches to host bridges, never creates or changes them) or correct bridge", at, e.Network, e.Hypervisor, e.Bridge, strings.Join(e.Hosts, ", "))
}

// CheckBridges makes sure every bridge network's bridge exists on each
// hypervisor a host attached to it is placed on, before anything is made.
func CheckBridges(ctx context.Context, cfg *model.Config, hvs map[string]Hypervisor) error {
	var errs []error
	for _, n := range cfg.Networks {
		if n.Managed() {
			continue
		}
		hosts := map[string][]string{}
		var order []string
		for _, h := range cfg.Hosts {
			if h.Hypervisor == "" || !slices.Contains(h.Networks, n.Name) {
				continue
			}
			if hosts[h.Hypervisor] == nil {
				order = append(order, h.Hypervisor)
			}
			hosts[h.Hypervisor] = append(hosts[h.Hypervisor], h.Name)
		}
		for _, hvName := range order {
			hv, _ := cfg.Hypervisor(hvName)
			if strings.HasPrefix(hv.URI, "test:") || strings.HasPrefix(hv.URI, "test+") {
				continue // libvirt's test driver has no host interfaces
			}
			hb, ok := hvs[hvName].(HostBridges)
			if !ok {
				continue
			}
			has, err := hb.HasBridge(ctx, n.Bridge)
			if err != nil || !has {
				errs = append(errs, &BridgeError{Network: n.Name, Bridge: n.Bridge, Hypervisor: hvName, Hosts: hosts[hvName], Where: cfg.Location("network", n.Name, "bridge"), Err: err})
			}
		}
	}
	return errors.Join(errs...)
}
