package provision

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

// fleet is a project with one counted host block spread over hvs, its
// pool and network made wherever its hosts go.
func fleet(count int, hvs ...string) *model.Config {
	c := &model.Config{
		Project:  "proj",
		Pools:    []model.Pool{{Name: "pool", Path: "/srv/pool"}},
		Networks: []model.Network{{Name: "net", CIDR: netip.MustParsePrefix("10.0.0.0/16")}},
		Images:   []model.Image{{Name: "deb", Path: "/img", SHA256: strings.Repeat("a", 64), Format: "qcow2"}},
	}
	for _, hv := range hvs {
		c.Hypervisors = append(c.Hypervisors, model.Hypervisor{Name: hv, URI: "qemu:///system", VirtType: "qemu"})
	}
	for i := range count {
		c.Hosts = append(c.Hosts, model.Host{Name: fmt.Sprintf("ci-%d", i), Base: "ci", Index: i, Hypervisors: hvs,
			Image: "deb", Pool: "pool", Networks: []string{"net"}, VCPU: 2, Memory: 2 * model.GiB, Disk: 10 * model.GiB,
			SSH: model.SSH{User: "admin", AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"}, PrivateKeyFile: "/k"}})
	}
	c.Resolve()
	return c
}

// roomy is a hypervisor with room for many hosts.
func roomy() *Inventory {
	return &Inventory{Node: NodeCapacity{Known: true, CPUs: 16, MemoryFree: 256 * uint64(model.GiB)},
		Pools: []PoolState{{Name: "pool", Path: "/srv/pool", Active: true, Available: 4 * uint64(model.TiB)}}}
}

// place places c's hosts and returns host → hypervisor.
func place(t *testing.T, c *model.Config, invs map[string]*Inventory) map[string]string {
	t.Helper()
	if _, err := Place(c, invs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range c.Hosts {
		got[h.Name] = h.Hypervisor
	}
	return got
}

// settle records c's hosts as existing where they were placed.
func settle(c *model.Config, invs map[string]*Inventory) {
	for _, h := range c.Hosts {
		inv := invs[h.Hypervisor]
		if _, ok := findDomain(inv, DomainName(c.Project, h.Name)); !ok {
			inv.Domains = append(inv.Domains, DomainState{Name: DomainName(c.Project, h.Name), State: "running"})
		}
	}
}

func TestPlaceSpreadsEvenlyInListOrder(t *testing.T) {
	invs := map[string]*Inventory{"a": roomy(), "b": roomy(), "c": roomy()}
	got := place(t, fleet(5, "a", "b", "c"), invs)
	want := map[string]string{"ci-0": "a", "ci-1": "b", "ci-2": "c", "ci-3": "a", "ci-4": "b"}
	for h, hv := range want {
		if got[h] != hv {
			t.Errorf("%s placed on %q, want %q (all: %v)", h, got[h], hv, got)
		}
	}
}

// Raising count, then adding a hypervisor, moves no host that exists;
// new hosts go where the block has fewest.
func TestPlaceIsStableUnderCountAndHypervisorChanges(t *testing.T) {
	invs := map[string]*Inventory{"a": roomy(), "b": roomy()}
	c := fleet(3, "a", "b")
	first := place(t, c, invs)
	settle(c, invs)

	c = fleet(5, "a", "b")
	second := place(t, c, invs)
	for h, hv := range first {
		if second[h] != hv {
			t.Errorf("raising count moved %s from %s to %s", h, hv, second[h])
		}
	}
	if second["ci-3"] != "b" || second["ci-4"] == "" {
		t.Errorf("new hosts: %v, want ci-3 on b (a had 2, b 1)", second)
	}
	settle(c, invs)

	invs["c"] = roomy()
	c = fleet(7, "a", "b", "c")
	third := place(t, c, invs)
	for h, hv := range second {
		if third[h] != hv {
			t.Errorf("adding hypervisor c moved %s from %s to %s", h, hv, third[h])
		}
	}
	if third["ci-5"] != "c" || third["ci-6"] != "c" {
		t.Errorf("new hosts on the new hypervisor: %v, want ci-5 and ci-6 on c (a 3, b 2, c 0)", third)
	}

	// A hypervisor dropped from the list: its hosts go elsewhere (the plan
	// replaces them); the others stay.
	c = fleet(7, "a", "b")
	fourth := place(t, c, invs)
	for h, hv := range third {
		if hv != "c" && fourth[h] != hv {
			t.Errorf("dropping c moved %s from %s to %s", h, hv, fourth[h])
		}
		if hv == "c" && fourth[h] == "c" {
			t.Errorf("%s stayed on c, no longer a candidate", h)
		}
	}
}

func TestPlaceSkipsFullHypervisorsAndRefusesWithShortfalls(t *testing.T) {
	small := roomy()
	small.Node.MemoryFree = 5 * uint64(model.GiB) // two 2 GiB hosts
	invs := map[string]*Inventory{"a": small, "b": roomy()}
	got := place(t, fleet(6, "a", "b"), invs)
	onA := 0
	for _, hv := range got {
		if hv == "a" {
			onA++
		}
	}
	if onA != 2 {
		t.Errorf("%d hosts placed on a with room for 2: %v", onA, got)
	}

	// Nothing has room: every new host is refused, naming each hypervisor
	// and what it lacks.
	tiny := roomy()
	tiny.Node.MemoryFree = uint64(model.GiB)
	tiny.Node.CPUs = 1
	full := roomy()
	full.Pools[0].Available = 5 * uint64(model.GiB)
	c := fleet(1, "a", "b")
	_, err := Place(c, map[string]*Inventory{"a": tiny, "b": full})
	var pe *PlacementError
	if !errors.As(err, &pe) {
		t.Fatalf("want a PlacementError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`host "ci-0"`, "a has 1 CPUs, the host asks for 2 vCPUs", "a has 1.0 GiB of memory free", "b has 5.0 GiB of pool pool free, the host needs 10.0 GiB (5.0 GiB short)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q lacks %q", msg, want)
		}
	}
	if c.Hosts[0].Hypervisor != "" {
		t.Errorf("refused host placed on %q", c.Hosts[0].Hypervisor)
	}
}

// An existing host is never refused for capacity (its memory is in use
// already), and hosts placed before a new one count against its room.
func TestPlaceCountsOnlyNewHostsAgainstCapacity(t *testing.T) {
	a := roomy()
	a.Node.MemoryFree = 3 * uint64(model.GiB)
	invs := map[string]*Inventory{"a": a}
	c := fleet(2, "a")
	c.Hosts = c.Hosts[:1]
	place(t, c, invs)
	settle(c, invs)
	a.Node.MemoryFree = 0 // the first host's guest took it
	c = fleet(1, "a")
	if got := place(t, c, invs); got["ci-0"] != "a" {
		t.Fatalf("existing host placed on %q", got["ci-0"])
	}
	a.Node.MemoryFree = 3 * uint64(model.GiB)
	c = fleet(3, "a") // ci-1 fits, ci-2 no longer once ci-1 took 2 GiB
	_, err := Place(c, invs)
	if err == nil || !strings.Contains(err.Error(), `host "ci-2"`) || strings.Contains(err.Error(), `host "ci-1"`) {
		t.Fatalf("want only ci-2 refused, got %v", err)
	}
}

// The plan says where a new host goes and why.
func TestPlanShowsPlacement(t *testing.T) {
	empty := func() *Inventory { return &Inventory{Node: roomy().Node} }
	invs := map[string]*Inventory{"a": empty(), "b": empty()}
	c := fleet(2, "a", "b")
	pl, err := Place(c, invs)
	if err != nil {
		t.Fatal(err)
	}
	d := prepare(t, c)
	d.Placements = pl
	p := MakePlan(d, invs, PlanOptions{})
	got := summary(p)
	for _, want := range []string{
		"create host.ci-0: no domain proj-ci-0; placed on a: fewest hosts of its block with room (a 0, b 0)",
		"create host.ci-1: no domain proj-ci-1; placed on b: fewest hosts of its block with room (a 1, b 0)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	// The pool and network follow the hosts: one of each on both.
	for _, hv := range []string{"a", "b"} {
		for _, kind := range []string{KindPool, KindNetwork} {
			n := 0
			for _, ch := range p.Changes {
				if ch.Kind == kind && ch.Hypervisor == hv && ch.Action == Create {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d %s creations on %s, want 1", n, kind, hv)
			}
		}
	}
}
