package provision

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

func testConfig(hosts ...string) *model.Config {
	c := &model.Config{
		Project:     "proj",
		Hypervisors: []model.Hypervisor{{Name: "hv", URI: "qemu:///system", VirtType: "qemu"}},
		Pools:       []model.Pool{{Name: "pool", Hypervisor: "hv", Path: "/srv/pool"}},
		Networks:    []model.Network{{Name: "net", Hypervisor: "hv", CIDR: netip.MustParsePrefix("10.0.0.0/24")}},
		Images:      []model.Image{{Name: "deb", Path: "/img", SHA256: strings.Repeat("a", 64), Format: "qcow2"}},
	}
	for _, h := range hosts {
		c.Hosts = append(c.Hosts, model.Host{Name: h, Base: h, Hypervisor: "hv", Image: "deb", Pool: "pool", Networks: []string{"net"},
			VCPU: 1, Memory: model.GiB, Disk: 4 * model.GiB, SSH: model.SSH{User: "admin", AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"}, PrivateKeyFile: "/k"}})
	}
	c.Resolve()
	return c
}

func prepare(t *testing.T, c *model.Config) *Desired {
	t.Helper()
	d, err := Prepare(c, "test")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// applied is the inventory a successful apply of d would leave.
func applied(d *Desired) *Inventory {
	inv := &Inventory{
		Pools:    []PoolState{{Name: "pool", Path: "/srv/pool", Active: true, OwnedBy: d.Config.Project}},
		Networks: []NetworkState{{Name: "net", Active: true, Owned: true}},
	}
	im := d.Config.Images[0]
	inv.Volumes = append(inv.Volumes, VolumeState{Pool: "pool", Name: ImageVolume(d.Config.Project, im.Name, im.SHA256, im.Format)})
	for _, h := range d.Hosts {
		inv.Domains = append(inv.Domains, DomainState{Name: DomainName(d.Config.Project, h.Spec.Name), State: "running", Meta: h.Meta})
		// The seed is gone: apply deletes it once the host is verified.
		inv.Volumes = append(inv.Volumes, VolumeState{Pool: "pool", Name: OverlayVolume(d.Config.Project, h.Spec.Name)})
	}
	return inv
}

// summary renders a plan's changes as "action kind.name: reasons" lines.
func summary(p *Plan) string {
	var b strings.Builder
	for _, c := range p.Changes {
		if c.Action == NoOp {
			continue
		}
		b.WriteString(string(c.Action) + " " + c.Kind + "." + c.Name + ": " + ReasonTexts(c.Reasons, "; ") + "\n")
	}
	return b.String()
}

func TestPlan(t *testing.T) {
	base := prepare(t, testConfig("web"))
	tests := []struct {
		name    string
		desired *Desired
		actual  func() *Inventory
		want    []string // lines expected in the summary, in order
		none    bool     // no changes expected
	}{
		{
			name: "empty hypervisor: everything is created", desired: base,
			actual: func() *Inventory { return &Inventory{} },
			want:   []string{"create pool.pool", "create network.net", "create image.deb", "create host.web: no domain proj-web"},
		},
		{
			name: "applied: nothing to do", desired: base,
			actual: func() *Inventory { return applied(base) }, none: true,
		},
		{
			name: "existing pool and network that fjord did not create are used", desired: base,
			actual: func() *Inventory {
				inv := applied(base)
				inv.Pools[0].OwnedBy, inv.Networks[0].Owned = "", false
				return inv
			}, none: true,
		},
		{
			name: "memory and vcpu changed: updated in place with a restart",
			desired: func() *Desired {
				c := testConfig("web")
				c.Hosts[0].Memory, c.Hosts[0].VCPU = 2*model.GiB, 2
				return prepare(t, c)
			}(),
			actual: func() *Inventory { return applied(base) },
			want:   []string{"update host.web: vcpu: 1 → 2 (in place, restarts the guest); memory: 1GiB → 2GiB (in place, restarts the guest)"},
		},
		{
			name: "memory and disk changed: the guest restarts, the disk grows online",
			desired: func() *Desired {
				c := testConfig("web")
				c.Hosts[0].Memory, c.Hosts[0].Disk = 2*model.GiB, 8*model.GiB
				return prepare(t, c)
			}(),
			actual: func() *Inventory { return applied(base) },
			want:   []string{"update host.web: memory: 1GiB → 2GiB (in place, restarts the guest); disk: 4GiB → 8GiB (in place: grows online, the filesystem with it (nothing restarts))"},
		},
		{
			name: "user-data changed: replace",
			desired: func() *Desired {
				c := testConfig("web")
				c.Hosts[0].SSH.AuthorizedKeys = append(c.Hosts[0].SSH.AuthorizedKeys, "ssh-ed25519 BBBB second")
				return prepare(t, c)
			}(),
			actual: func() *Inventory { return applied(base) },
			want:   []string{"replace host.web: user-data changed"},
		},
		{
			name: "image checksum changed: new image, replace, old image deleted",
			desired: func() *Desired {
				c := testConfig("web")
				c.Images[0].SHA256 = strings.Repeat("b", 64)
				return prepare(t, c)
			}(),
			actual: func() *Inventory { return applied(base) },
			want: []string{"create image.deb", "replace host.web: image sha256 changed",
				"delete volume.fjord-proj-image-deb-aaaaaaaaaaaa.qcow2"},
		},
		{
			name: "domain shut off outside fjord: start", desired: base,
			actual: func() *Inventory {
				inv := applied(base)
				inv.Domains[0].State = "shutoff"
				return inv
			},
			want: []string{"update host.web: domain is shut off"},
		},
		{
			name: "apply stopped before verification (seed still there): finish it", desired: base,
			actual: func() *Inventory {
				inv := applied(base)
				inv.Volumes = append(inv.Volumes, VolumeState{Pool: "pool", Name: SeedVolume("proj", "web")})
				return inv
			},
			want: []string{"update host.web: provisioning did not finish"},
		},
		{
			name: "autostart asked for: set in place",
			desired: func() *Desired {
				c := testConfig("web")
				c.Hosts[0].Autostart = true
				return prepare(t, c)
			}(),
			actual: func() *Inventory { return applied(base) },
			want:   []string{"update host.web: autostart: false → true (in place)"},
		},
		{
			name: "memory edited outside fjord: restored in place", desired: base,
			actual: func() *Inventory {
				inv := applied(base)
				inv.Domains[0].VCPU, inv.Domains[0].MemoryKiB = 1, 4<<20
				return inv
			},
			want: []string{"update host.web: memory: 4GiB, changed outside fjord → 1GiB (in place, restarts the guest)"},
		},
		{
			name: "root disk deleted outside fjord: replace", desired: base,
			actual: func() *Inventory {
				inv := applied(base)
				inv.Volumes = inv.Volumes[:1]
				return inv
			},
			want: []string{"replace host.web: root disk volume fjord-proj-web.qcow2 is missing"},
		},
		{
			name: "host removed from the configuration: delete it and its volumes, keep the configured image", desired: prepare(t, testConfig()),
			actual: func() *Inventory { return applied(base) },
			want:   []string{"delete host.web: not in the configuration", "delete volume.fjord-proj-web.qcow2"},
		},
		{
			name: "destroy: everything owned goes, foreign objects stay", desired: Empty(testConfig("web")),
			actual: func() *Inventory {
				inv := applied(base)
				inv.Pools = append(inv.Pools, PoolState{Name: "theirs", Active: true})
				inv.Networks = append(inv.Networks, NetworkState{Name: "default", Active: true})
				// Volumes named with the project's prefix that fjord never makes.
				inv.Volumes = append(inv.Volumes, VolumeState{Pool: "pool", Name: "fjord-proj-theirs.qcow2"},
					VolumeState{Pool: "pool", Name: "fjord-proj-image-deb-notachecksum.qcow2"})
				return inv
			},
			want: []string{"delete host.web", "delete volume.fjord-proj-image", "delete volume.fjord-proj-web.qcow2", "delete network.net", "delete pool.pool"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := MakePlan(tc.desired, map[string]*Inventory{"hv": tc.actual()}, PlanOptions{})
			got := summary(p)
			if tc.none {
				if p.HasChanges() {
					t.Fatalf("want no changes, got:\n%s", got)
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(got), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d changes, want %d:\n%s", len(lines), len(tc.want), got)
			}
			for i, w := range tc.want {
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("change %d: want prefix %q\n%s", i, w, got)
				}
			}
			for _, l := range lines {
				if strings.Contains(l, "theirs") || strings.Contains(l, "network.default") || strings.Contains(l, "notachecksum") {
					t.Errorf("plan touches a foreign object: %s", l)
				}
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	d := prepare(t, testConfig("web"))
	m := d.Hosts[0].Meta
	m.HostKey = "ssh-ed25519 AAAA"
	s, err := MarshalMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, `<fjord:host xmlns:fjord="https://fjord.dev/xmlns/host/1">`) {
		t.Errorf("metadata element = %.80s…; libvirt keeps only prefixed elements", s)
	}
	got, err := UnmarshalMeta(s)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", got, err, m)
	}
}

func TestNamesAreStableAndShort(t *testing.T) {
	b := NetworkBridge("a-rather-long-project-name", "a-rather-long-network-name")
	if len(b) > 15 || b != NetworkBridge("a-rather-long-project-name", "a-rather-long-network-name") {
		t.Errorf("bridge %q: must be ≤15 characters and deterministic", b)
	}
	if NetworkBridge("p", "n") == NetworkBridge("q", "n") {
		t.Error("two projects share a bridge name")
	}
}

func TestReplaceAndTarget(t *testing.T) {
	d := prepare(t, testConfig("web", "db"))
	inv := applied(d)
	p := MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{Replace: []string{"host.db"}})
	if got := summary(p); got != "replace host.db: replacement requested with -replace\n" {
		t.Errorf("-replace host.db:\n%s", got)
	}
	p = MakePlan(d, map[string]*Inventory{"hv": {}}, PlanOptions{Target: []string{"web"}})
	got := summary(p)
	if strings.Contains(got, "host.db") || !strings.Contains(got, "create host.web") || !strings.Contains(got, "create pool.pool") {
		t.Errorf("-target web:\n%s", got)
	}
}

func TestProtect(t *testing.T) {
	c := testConfig("web")
	c.Hosts[0].Protect = true
	d := prepare(t, c)
	inv := applied(d)

	// A change that needs a replace is refused while protected.
	c2 := testConfig("web")
	c2.Hosts[0].Protect, c2.Hosts[0].Docker.DataDisk = true, 10*model.GiB
	p := MakePlan(prepare(t, c2), map[string]*Inventory{"hv": inv}, PlanOptions{})
	if len(p.Refused) != 1 || p.Refused[0].Host != "web" || p.Refused[0].Action != Replace ||
		len(p.Refused[0].Reasons) != 1 || p.Refused[0].Reasons[0].Field != "docker data_disk" {
		t.Errorf("refused = %v\n%s%+v", p.Refused, summary(p), p.Changes)
	}
	// So is destroy, from the protection recorded in the domain.
	p = MakePlan(Empty(testConfig("web")), map[string]*Inventory{"hv": inv}, PlanOptions{})
	if len(p.Refused) != 1 || p.Refused[0].Action != Delete || !strings.Contains(p.Refused[0].String(), "would be deleted") {
		t.Errorf("destroy refused = %v", p.Refused)
	}
	// Lifting protection is an in-place metadata update, then the replace is allowed.
	p = MakePlan(prepare(t, testConfig("web")), map[string]*Inventory{"hv": inv}, PlanOptions{})
	if got := summary(p); got != "update host.web: protect: true → false (metadata only)\n" || len(p.Refused) != 0 {
		t.Errorf("unprotect:\n%s%v", got, p.Refused)
	}
	c3 := testConfig("web")
	c3.Hosts[0].Docker.DataDisk = 10 * model.GiB
	if p := MakePlan(prepare(t, c3), map[string]*Inventory{"hv": inv}, PlanOptions{}); len(p.Refused) != 0 {
		t.Errorf("protect = false in the configuration still refused: %v", p.Refused)
	}
}

// Diff finds what moved between two plans, whatever the order of their
// changes, and nothing between a plan and itself.
func TestDiffPlans(t *testing.T) {
	d := prepare(t, testConfig("web", "db"))
	empty := MakePlan(d, map[string]*Inventory{"hv": {}}, PlanOptions{})
	done := MakePlan(d, map[string]*Inventory{"hv": applied(d)}, PlanOptions{})
	if diffs, refused := Diff(empty, empty); len(diffs) != 0 || refused {
		t.Errorf("a plan differs from itself: %+v", diffs)
	}
	shuffled := *empty
	shuffled.Changes = append([]Change(nil), empty.Changes...)
	slices.Reverse(shuffled.Changes)
	if diffs, _ := Diff(empty, &shuffled); len(diffs) != 0 {
		t.Errorf("order counted: %+v", diffs)
	}
	diffs, _ := Diff(empty, done)
	moved := map[string]bool{}
	for _, df := range diffs {
		moved[df.Kind+"."+df.Name] = true
		if df.Was == nil || df.Now == nil {
			t.Errorf("%s.%s is in only one plan", df.Kind, df.Name)
		}
	}
	for _, want := range []string{"host.web", "host.db", "pool.pool", "network.net", "image.deb"} {
		if !moved[want] {
			t.Errorf("%s did not move between create and no-op: %v", want, moved)
		}
	}
	refused := *done
	refused.Refused = []Refusal{{Host: "web", Action: Delete}}
	if _, r := Diff(done, &refused); !r {
		t.Error("a new refusal went unnoticed")
	}
}
