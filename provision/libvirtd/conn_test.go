package libvirtd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/provision"
)

// These tests run the real adapter against libvirt's built-in test driver
// (test:///default): no daemon and no KVM needed. Each Open of
// test:///default gets fresh state holding a domain "test", a network
// "default" and a pool "default-pool", none of them fjord's.

func open(t *testing.T) *Conn {
	t.Helper()
	c, err := Open("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMetadataRoundTrip(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	meta := provision.HostMeta{Project: "proj", Host: "web", SeedHash: "abc", HostKey: "ssh-ed25519 AAAA", VCPU: 2, Memory: 1 << 30, MAC: "52:54:00:01:02:03"}
	err := c.DefineAndStart(ctx, provision.DomainSpec{
		Name: "proj-web", VirtType: "test", VCPU: 2, MemoryKiB: 1 << 20,
		DiskPath: "/tmp/nonexistent.qcow2", SeedPath: "/tmp/nonexistent.iso", NICs: []provision.DomainNIC{{Network: "default", MAC: meta.MAC}}, Meta: meta,
	})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.Inventory(ctx, "proj")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Domains) != 1 {
		t.Fatalf("owned domains = %+v, want proj-web only (the driver's own \"test\" domain is not fjord's)", inv.Domains)
	}
	got := inv.Domains[0]
	if got.Name != "proj-web" || got.State != "running" || got.Meta.SeedHash != "abc" || got.Meta.HostKey != "ssh-ed25519 AAAA" || got.Meta.VCPU != 2 || got.Meta.Memory != 1<<30 ||
		got.VCPU != 2 || got.MemoryKiB != 1<<20 || got.Autostart {
		t.Errorf("domain = %+v", got)
	}
	// SetMeta replaces the element and sets autostart; the inventory reads both.
	meta.Protect, meta.Autostart = true, true
	if err := c.SetMeta(ctx, "proj-web", meta); err != nil {
		t.Fatal(err)
	}
	inv, _ = c.Inventory(ctx, "proj")
	if len(inv.Domains) != 1 || !inv.Domains[0].Meta.Protect || !inv.Domains[0].Autostart || inv.Domains[0].Meta.SeedHash != "abc" {
		t.Errorf("after SetMeta: %+v", inv.Domains)
	}
	// Reconfigure and Restart: new vcpu and memory in the definition, the
	// guest up again, the metadata with them.
	meta.VCPU, meta.Memory = 1, 512<<20
	if err := c.Reconfigure(ctx, "proj-web", 1, 512<<10, meta); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, "proj-web", provision.RemoveOptions{ShutdownTimeoutSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.c.LookupDomainByName("proj-web")
	x, _ := d.GetXMLDesc(0)
	d.Free()
	if !strings.Contains(x, "<memory unit='KiB'>524288</memory>") || !strings.Contains(x, ">1</vcpu>") {
		t.Errorf("after Reconfigure:\n%s", x)
	}
	inv, _ = c.Inventory(ctx, "proj")
	if len(inv.Domains) != 1 || inv.Domains[0].State != "running" || inv.Domains[0].Meta.Memory != 512<<20 ||
		inv.Domains[0].VCPU != 1 || inv.Domains[0].MemoryKiB != 512<<10 {
		t.Errorf("after Restart: %+v", inv.Domains)
	}
	// A guest powered off behind fjord's back is listed as shut off.
	d, _ = c.c.LookupDomainByName("proj-web")
	if err := d.Destroy(); err != nil {
		t.Fatal(err)
	}
	d.Free()
	inv, _ = c.Inventory(ctx, "proj")
	if len(inv.Domains) != 1 || inv.Domains[0].State != "shutoff" {
		t.Errorf("after power-off: %+v", inv.Domains)
	}
	other, _ := c.Inventory(ctx, "other")
	if len(other.Domains) != 0 {
		t.Errorf("project other sees %+v", other.Domains)
	}
}

func TestForeignObjectsNamedLikeOursAreNotOwned(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	// A domain with the project's name prefix but without fjord metadata.
	x := `<domain type='test'><name>proj-impostor</name><memory>1024</memory><os><type>hvm</type></os></domain>`
	d, err := c.c.DomainDefineXML(x)
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	inv, err := c.Inventory(ctx, "proj")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Domains) != 0 {
		t.Fatalf("a domain without fjord metadata was taken as owned: %+v", inv.Domains)
	}
	// A network fjord did not create is not owned either, even with the same name.
	for _, n := range inv.Networks {
		if n.Owned {
			t.Errorf("network %q taken as owned", n.Name)
		}
	}
	if err := c.DeleteNetwork(ctx, "default"); err == nil {
		// DeleteNetwork itself refuses only when a domain uses it; the
		// planner never asks for unowned networks. Here "test" uses it.
		t.Error("deleted a network a domain still uses")
	}
}

func TestPoolAndNetworkLifecycle(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := c.EnsurePool(ctx, provision.PoolSpec{Name: "fj", Path: dir + "/pool", Project: "proj"}); err != nil {
		t.Fatal(err)
	}
	ns := provision.NetworkSpec{Name: "lab", Bridge: provision.NetworkBridge("proj", "lab"), Gateway: "10.9.0.1", Prefix: 24,
		RangeStart: "10.9.0.2", RangeEnd: "10.9.0.254", Hosts: []provision.DHCPHost{{MAC: "52:54:00:00:00:01", IP: "10.9.0.10", Name: "a"}}}
	if err := c.EnsureNetwork(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// Ensuring again with one more host adds its reservation.
	ns.Hosts = append(ns.Hosts, provision.DHCPHost{MAC: "52:54:00:00:00:02", IP: "10.9.0.11", Name: "b"})
	if err := c.EnsureNetwork(ctx, ns); err != nil {
		t.Fatal(err)
	}
	n, _ := c.c.LookupNetworkByName("lab")
	x, _ := n.GetXMLDesc(0)
	n.Free()
	for _, want := range []string{"52:54:00:00:00:02", "10.9.0.11", "<dns enable='no'"} {
		if !strings.Contains(x, want) {
			t.Errorf("network XML lacks %q:\n%s", want, x)
		}
	}
	if strings.Contains(x, "<forward") {
		t.Errorf("network forwards traffic:\n%s", x)
	}
	inv, err := c.Inventory(ctx, "proj")
	if err != nil {
		t.Fatal(err)
	}
	var pool provision.PoolState
	for _, p := range inv.Pools {
		if p.Name == "fj" {
			pool = p
		}
		if p.Name == "default-pool" && p.OwnedBy != "" {
			t.Errorf("default-pool taken as owned by %q", p.OwnedBy)
		}
	}
	if pool.OwnedBy != "proj" {
		t.Errorf("pool = %+v, want owned by proj", pool)
	}
	owned := false
	for _, n := range inv.Networks {
		if n.Name == "lab" {
			owned = n.Owned
		}
	}
	if !owned {
		t.Error("network lab not recognised as the project's")
	}
	// An empty volume; the pool with it in is not deleted.
	if _, err := c.CreateVolume(ctx, provision.VolumeSpec{Pool: "fj", Name: "other.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePool(ctx, "fj"); err == nil || !strings.Contains(err.Error(), "still holds 1 volumes") {
		t.Errorf("DeletePool with a foreign volume = %v", err)
	}
	if err := c.DeleteVolume(ctx, "fj", "other.qcow2"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVolume(ctx, "fj", "other.qcow2"); err != nil {
		t.Errorf("deleting a missing volume: %v", err)
	}
	if err := c.DeletePool(ctx, "fj"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNetwork(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.LookupStoragePoolByName("fj"); !notFound(err) {
		t.Errorf("pool still there: %v", err)
	}
	// The driver's own objects are untouched.
	if err := c.DeletePool(ctx, "default-pool"); err == nil || !strings.Contains(err.Error(), "no fjord ownership marker") {
		t.Errorf("DeletePool(default-pool) = %v, want a refusal", err)
	}
}

func TestNotFoundIsTranslated(t *testing.T) {
	c := open(t)
	_, err := c.DomainStatus(context.Background(), "nope")
	if !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if strings.Contains(err.Error(), "Code=") {
		t.Errorf("raw libvirt error leaked: %v", err)
	}
	if err := c.RemoveDomain(context.Background(), "nope", provision.RemoveOptions{}); err != nil {
		t.Errorf("removing a missing domain: %v", err)
	}
}

func TestUnreachableHypervisor(t *testing.T) {
	_, err := Open("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
	if !errors.Is(err, provision.ErrUnreachable) || !strings.Contains(err.Error(), "is libvirtd running") {
		t.Fatalf("err = %v", err)
	}
}

// A nat or route network is libvirt's with <forward>, an isolated one has
// none; a guest on a bridge gets <interface type='bridge'>.
func TestForwardedNetworksAndBridgedInterfaces(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	for _, fw := range []string{"", "nat", "route"} {
		name := "net-" + fw
		err := c.EnsureNetwork(ctx, provision.NetworkSpec{Name: name, Forward: fw, MTU: 1400, Bridge: "fj" + fw + "0", Gateway: "192.168.90.1", Prefix: 24,
			RangeStart: "192.168.90.2", RangeEnd: "192.168.90.254"})
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.c.LookupNetworkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := n.GetXMLDesc(0)
		n.Free()
		hasForward := strings.Contains(x, "<forward mode='"+fw+"'")
		if (fw != "") != hasForward || (fw == "" && strings.Contains(x, "<forward")) || !strings.Contains(x, "<mtu size='1400'/>") {
			t.Errorf("network with forward %q:\n%s", fw, x)
		}
	}
	x, err := DomainXML(provision.DomainSpec{Name: "proj-web", VirtType: "test", VCPU: 1, MemoryKiB: 1 << 20, DiskPath: "/d.qcow2", SeedPath: "/s.iso",
		NICs: []provision.DomainNIC{{Bridge: "br0", MAC: "52:54:00:00:00:01", MTU: 9000}, {Network: "backend", MAC: "52:54:00:00:00:02"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x, `<interface type="bridge">`) || !strings.Contains(x, `<source bridge="br0">`) || !strings.Contains(x, `<mtu size="9000">`) ||
		!strings.Contains(x, `<interface type="network">`) || !strings.Contains(x, `<source network="backend">`) {
		t.Errorf("interfaces:\n%s", x)
	}
}
