package provision

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fjord-dev/fjord/model"
)

// fakeSysfs lays out /sys/dev/block/MAJ:MIN for the device holding dir,
// pointing at a device tree the test chooses.
func fakeSysfs(t *testing.T, dir string, layout func(devices string) string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	sys := t.TempDir()
	devices := filepath.Join(sys, "devices")
	target := layout(devices)
	link := filepath.Join(sys, "dev", "block", fmt.Sprintf("%d:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev))))
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return sys
}

func mkdirs(t *testing.T, paths ...string) {
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNVMePartitionPasses(t *testing.T) {
	dir := t.TempDir()
	sys := fakeSysfs(t, dir, func(dev string) string {
		p := filepath.Join(dev, "pci0000:00", "nvme", "nvme0", "nvme0n1", "nvme0n1p2")
		mkdirs(t, p)
		os.WriteFile(filepath.Join(p, "partition"), []byte("2\n"), 0o644)
		return p
	})
	if err := CheckNVMe(filepath.Join(dir, "not", "yet", "created"), sys); err != nil {
		t.Fatal(err)
	}
}

func TestVirtioDiskFailsNamingIt(t *testing.T) {
	dir := t.TempDir()
	sys := fakeSysfs(t, dir, func(dev string) string {
		p := filepath.Join(dev, "pci0000:00", "virtio1", "block", "vda")
		mkdirs(t, p)
		return p
	})
	err := CheckNVMe(dir, sys)
	if err == nil || !strings.Contains(err.Error(), "backed by vda, which is not NVMe") {
		t.Fatalf("err = %v", err)
	}
}

func TestLVMOverMixedDisksFails(t *testing.T) {
	dir := t.TempDir()
	sys := fakeSysfs(t, dir, func(dev string) string {
		nv := filepath.Join(dev, "nvme0n1")
		sd := filepath.Join(dev, "sda", "sda1")
		dm := filepath.Join(dev, "virtual", "block", "dm-0")
		mkdirs(t, nv, sd, filepath.Join(dm, "slaves"))
		os.WriteFile(filepath.Join(sd, "partition"), []byte("1\n"), 0o644)
		os.Symlink(nv, filepath.Join(dm, "slaves", "nvme0n1"))
		os.Symlink(sd, filepath.Join(dm, "slaves", "sda1"))
		return dm
	})
	err := CheckNVMe(dir, sys)
	if err == nil || !strings.Contains(err.Error(), "backed by sda") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoBlockDevice(t *testing.T) {
	err := CheckNVMe(t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Fatalf("err = %v", err)
	}
}

type bridges struct {
	Hypervisor
	have map[string]bool
}

func (b bridges) HasBridge(_ context.Context, name string) (bool, error) { return b.have[name], nil }

// A bridge network's bridge must exist on each hypervisor its hosts are
// placed on; the error names the network, where it is written, the
// hypervisor and the hosts.
func TestCheckBridges(t *testing.T) {
	c := testConfig("web-0", "web-1")
	c.Networks = append(c.Networks, model.Network{Name: "lan", Mode: model.NetBridge, Bridge: "br0", CIDR: netip.MustParsePrefix("10.20.0.0/24")})
	for i := range c.Hosts {
		c.Hosts[i].Networks = []string{"lan", "net"}
	}
	c.Where = func(kind, name, field string) string { return "main.hcl:7" }
	if err := CheckBridges(context.Background(), c, map[string]Hypervisor{"hv": bridges{newFakeHV(), map[string]bool{"br0": true}}}); err != nil {
		t.Fatalf("bridge present: %v", err)
	}
	err := CheckBridges(context.Background(), c, map[string]Hypervisor{"hv": bridges{newFakeHV(), map[string]bool{}}})
	var be *BridgeError
	if !errors.As(err, &be) || be.Network != "lan" || be.Hypervisor != "hv" || strings.Join(be.Hosts, ",") != "web-0,web-1" ||
		!strings.HasPrefix(err.Error(), `main.hcl:7: network "lan": hypervisor hv has no bridge br0`) {
		t.Errorf("missing bridge: %v", err)
	}
}
