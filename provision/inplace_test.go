package provision

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

// guestMu guards what the fake guests record: hosts are worked on in
// parallel.
var guestMu sync.Mutex

// partGuest is a hardened host that answers each in-place write with exit.
type partGuest struct {
	goodGuest
	exit    int
	scripts *[]string
	inputs  *[]string
}

func (g partGuest) RunInput(ctx context.Context, cmd string, in io.Reader) (sshx.Result, error) {
	if !strings.Contains(cmd, "fjord-new") {
		return g.goodGuest.RunInput(ctx, cmd, in)
	}
	b, _ := io.ReadAll(in)
	guestMu.Lock() // hosts are updated in parallel
	*g.scripts, *g.inputs = append(*g.scripts, cmd), append(*g.inputs, string(b))
	guestMu.Unlock()
	return sshx.Result{ExitCode: g.exit, Stderr: "Job for fjord-firewall.service failed"}, nil
}

// A change to what fjord writes on a host after first boot (here the
// firewall, by publishing another port) is planned and applied in place:
// the file written through its checked script, the record updated, the
// host verified; no replacement. When its service does not come back the
// host reports it and the record keeps the old version.
func TestFirewallChangeIsAppliedInPlace(t *testing.T) {
	c := testConfig("web")
	applyable(t, c)
	hv := runningHosts(t, c)

	c.Hosts[0].Docker.Publish = []model.Port{{Number: 443, Proto: "tcp"}}
	d := prepare(t, c)
	inv, _ := hv.Inventory(context.Background(), "proj")
	plan := MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})
	got := summary(plan)
	if got != "update host.web: firewall (IPv4) changed (in place: reloads the firewall (connections are kept))\n" {
		t.Fatalf("plan:\n%s", got)
	}
	var scripts, inputs []string
	apply := func(exit int) (*Result, error) {
		inv, _ := hv.Inventory(context.Background(), "proj")
		return Apply(context.Background(), MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{}), d, map[string]Hypervisor{"hv": hv}, Options{
			WithoutAuthzPlugin: true, PollInterval: time.Millisecond, Probe: noProbe,
			Dial: func(ctx context.Context, t2 sshx.Target) (Guest, error) {
				return partGuest{goodGuest{t: t, cfg: c}, exit, &scripts, &inputs}, nil
			},
		})
	}

	// The service does not come back: the host fails saying so, and the
	// record keeps the old firewall, so the next plan tries again.
	res, err := apply(partApplyFailed)
	if err == nil || len(res.Hosts) != 1 || !strings.Contains(res.Hosts[0].Error, "reloads the firewall (connections are kept) did not come back with the new /etc/fjord/firewall.v4; the previous file is back in force") {
		t.Fatalf("failed reload: %v %+v", err, res)
	}
	inv, _ = hv.Inventory(context.Background(), "proj")
	if summary(MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})) != got {
		t.Errorf("after the failed update the plan is not the same update")
	}

	scripts, inputs = nil, nil
	hv.calls = nil
	res, err = apply(0)
	if err != nil || res.Hosts[0].Error != "" || len(res.Hosts[0].Checks) == 0 {
		t.Fatalf("Apply: %v %+v", err, res.Hosts)
	}
	if len(scripts) != 1 || !strings.Contains(scripts[0], `iptables-restore --test --noflush "$new"`) || !strings.Contains(scripts[0], "systemctl restart fjord-firewall.service") {
		t.Errorf("scripts: %q", scripts)
	}
	if !strings.Contains(inputs[0], "--dport 443 -j ACCEPT") {
		t.Errorf("the file written: %s", inputs[0])
	}
	for _, call := range hv.calls {
		if strings.HasPrefix(call, "remove") || strings.HasPrefix(call, "define") || strings.HasPrefix(call, "restart") {
			t.Errorf("an in-place update did %s", call)
		}
	}
	inv, _ = hv.Inventory(context.Background(), "proj")
	if p := MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{}); p.HasChanges() {
		t.Errorf("after the update the plan still has changes:\n%s", summary(p))
	}

	// Docker networks change in place.
	c.Hosts[0].Docker.Networks = append(c.Hosts[0].Docker.Networks, model.DockerNetwork{Name: "extra"})
	c.Hosts[0].Addresses = map[string]netip.Addr{}
	d2 := prepare(t, c)
	if got := summary(MakePlan(d2, map[string]*Inventory{"hv": inv}, PlanOptions{})); got != "update host.web: Docker networks changed (in place: creates and removes Docker networks (nothing restarts; a network a container uses is not removed))\n" {
		t.Errorf("a Docker network added: %q", got)
	}
	// A change fjord cannot make in place is still a replacement, saying why.
	c.Hosts[0].SSH.User = "ops"
	d3 := prepare(t, c)
	if got := summary(MakePlan(d3, map[string]*Inventory{"hv": inv}, PlanOptions{})); !strings.HasPrefix(got, "replace host.web: user-data changed") {
		t.Errorf("another admin user: %s", got)
	}
}

// growGuest is a hardened host whose filesystems grow: it answers each
// grow script with the size df would print.
type growGuest struct {
	goodGuest
	scripts *[]string
	exit    int
}

func (g growGuest) Run(ctx context.Context, cmd string) (sshx.Result, error) {
	if !strings.Contains(cmd, "resize2fs") {
		return g.goodGuest.Run(ctx, cmd)
	}
	guestMu.Lock()
	*g.scripts = append(*g.scripts, cmd)
	guestMu.Unlock()
	if g.exit != 0 {
		return sshx.Result{ExitCode: g.exit, Stderr: "resize2fs: Permission denied to resize filesystem"}, nil
	}
	return sshx.Result{Stdout: "12345678\n"}, nil
}

// A bigger root or data disk grows online: the volume through libvirt,
// the partition and filesystem in the guest, the record after; a smaller
// one is refused in the plan, and with -replace it is a replacement.
func TestDisksGrowOnlineAndNeverShrink(t *testing.T) {
	c := testConfig("web")
	applyable(t, c)
	hv := runningHosts(t, c)
	planOf := func(d *Desired, o PlanOptions) *Plan {
		inv, _ := hv.Inventory(context.Background(), "proj")
		return MakePlan(d, map[string]*Inventory{"hv": inv}, o)
	}

	c.Hosts[0].Disk += 2 * model.GiB
	c.Hosts[0].Docker.DataDisk += 5 * model.GiB
	d := prepare(t, c)
	got := summary(planOf(d, PlanOptions{}))
	want := "update host.web: disk: 4GiB → 6GiB (in place: grows online, the filesystem with it (nothing restarts)); docker data_disk: 10GiB → 15GiB (in place: grows online, the filesystem with it (nothing restarts))\n"
	if got != want {
		t.Fatalf("plan:\n%s\nwant\n%s", got, want)
	}
	var scripts []string
	apply := func(exit int) (*Result, error) {
		return Apply(context.Background(), planOf(d, PlanOptions{}), d, map[string]Hypervisor{"hv": hv}, Options{
			WithoutAuthzPlugin: true, PollInterval: time.Millisecond, Probe: noProbe,
			Dial: func(ctx context.Context, t2 sshx.Target) (Guest, error) {
				return growGuest{goodGuest{t: t, cfg: c}, &scripts, exit}, nil
			},
		})
	}

	// The filesystem does not grow: the host says which disk and why;
	// the record keeps the old size, so the next plan grows it again.
	res, err := apply(growFS)
	if err == nil || !strings.Contains(res.Hosts[0].Error, "growing the root disk: the disk grew to 6442450944 bytes but resize2fs could not grow its filesystem: resize2fs: Permission denied") {
		t.Fatalf("failed grow: %v %+v", err, res.Hosts)
	}
	if got2 := summary(planOf(d, PlanOptions{})); got2 != want {
		t.Errorf("after the failed grow the plan is:\n%s", got2)
	}

	scripts, hv.calls = nil, nil
	res, err = apply(0)
	if err != nil || res.Hosts[0].Error != "" || len(res.Hosts[0].Checks) == 0 {
		t.Fatalf("Apply: %v %+v", err, res.Hosts)
	}
	var grows []string
	for _, call := range hv.calls {
		if strings.HasPrefix(call, "grow ") {
			grows = append(grows, call)
		}
		if strings.HasPrefix(call, "remove") || strings.HasPrefix(call, "define") || strings.HasPrefix(call, "restart") {
			t.Errorf("growing the disks did %s", call)
		}
	}
	if strings.Join(grows, "\n") != "grow proj-web pool/fjord-proj-web.qcow2 6442450944\ngrow proj-web pool/fjord-proj-web-docker.qcow2 16106127360" {
		t.Errorf("volumes grown: %q", grows)
	}
	if len(scripts) != 2 || !strings.Contains(scripts[0], "growpart") || strings.Contains(scripts[1], "growpart") || !strings.Contains(scripts[1], "virtio-fjord-docker") {
		t.Errorf("guest scripts: %q", scripts)
	}
	if g := res.Hosts[0].Grown; len(g) != 2 || g[0] != (GrownDisk{Disk: PartDisk, Size: 6 * uint64(model.GiB), Filesystem: 12345678}) {
		t.Errorf("grown: %+v", g)
	}
	if p := planOf(d, PlanOptions{}); p.HasChanges() {
		t.Errorf("after growing the plan still has changes:\n%s", summary(p))
	}

	// Smaller again: refused, nothing applied; -replace makes it a new host.
	c.Hosts[0].Disk -= 3 * model.GiB
	d = prepare(t, c)
	p := planOf(d, PlanOptions{})
	if len(p.Refused) != 1 || !p.Refused[0].Shrink || !strings.Contains(p.Refused[0].String(), `host "web": disk: 6GiB → 3GiB (refused: a disk is never made smaller); fjord never shrinks a disk`) {
		t.Fatalf("shrink: refused %+v\n%s", p.Refused, summary(p))
	}
	hv.calls = nil
	if _, err := Apply(context.Background(), p, d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true}); err == nil || len(hv.calls) != 0 {
		t.Errorf("a refused shrink was applied: %v, calls %q", err, hv.calls)
	}
	if p := planOf(d, PlanOptions{Replace: []string{"web"}}); len(p.Refused) != 0 || summary(p) != "replace host.web: disk: 6GiB → 3GiB\n" {
		t.Errorf("shrink with -replace: refused %+v\n%s", p.Refused, summary(p))
	}
}

// A rolling apply works host by host and stops at the first failure: the
// host after it is not touched and keeps its planned change.
func TestRollingApplyStopsAtTheFirstFailure(t *testing.T) {
	c := testConfig("a", "b")
	applyable(t, c)
	hv := runningHosts(t, c)
	for i := range c.Hosts {
		c.Hosts[i].Docker.Publish = []model.Port{{Number: 443, Proto: "tcp"}}
	}
	d := prepare(t, c)
	planOf := func() *Plan {
		inv, _ := hv.Inventory(context.Background(), "proj")
		return MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})
	}
	want := summary(planOf())
	if strings.Count(want, "update host.") != 2 {
		t.Fatalf("plan:\n%s", want)
	}
	var scripts, inputs []string
	apply := func(exit, n int) (*Result, error) {
		return Apply(context.Background(), planOf(), d, map[string]Hypervisor{"hv": hv}, Options{
			WithoutAuthzPlugin: true, PollInterval: time.Millisecond, Probe: noProbe, Rolling: true, MaxUnavailable: n,
			Dial: func(ctx context.Context, t2 sshx.Target) (Guest, error) {
				// The guest answers as the host it is (its own firewall).
				one := *d.Config
				for _, h := range d.Config.Hosts {
					if strings.HasPrefix(t2.Addr, h.IP.String()+":") {
						one.Hosts = []model.Host{h}
					}
				}
				return partGuest{goodGuest{t: t, cfg: &one}, exit, &scripts, &inputs}, nil
			},
		})
	}
	res, err := apply(partApplyFailed, 1)
	if err == nil || res.Stopped == nil {
		t.Fatalf("rolling apply with a failing first host: %v %+v", err, res)
	}
	if s := *res.Stopped; strings.Join(s.Failed, ",") != "a" || s.Done != 0 || strings.Join(s.Untouched, ",") != "b" {
		t.Errorf("stopped: %+v", s)
	}
	if len(scripts) != 1 {
		t.Errorf("%d hosts written to, want only the first", len(scripts))
	}
	if got := summary(planOf()); got != want {
		t.Errorf("after the stop the plan is:\n%s\nwant\n%s", got, want)
	}

	scripts = nil
	res, err = apply(0, 2)
	if err != nil || res.Stopped != nil || len(res.Hosts) != 2 || len(scripts) != 2 {
		t.Fatalf("rolling apply, two at a time: %v, stopped %+v, %d results, %d written", err, res.Stopped, len(res.Hosts), len(scripts))
	}
	if p := planOf(); p.HasChanges() {
		t.Errorf("after the rolling apply:\n%s", summary(p))
	}
}

// runningHosts is a hypervisor on which c's hosts were made and run.
func runningHosts(t *testing.T, c *model.Config) *fakeHV {
	before := prepare(t, c)
	hv := newFakeHV()
	hv.pools["pool"], hv.networks["net"] = true, true
	hv.volumes["pool/"+ImageVolume("proj", "deb", c.Images[0].SHA256, "qcow2")] = true
	for _, h := range before.Hosts {
		dom := DomainName("proj", h.Spec.Name)
		hv.volumes["pool/"+OverlayVolume("proj", h.Spec.Name)] = true
		hv.domains[dom], hv.state[dom] = DomainSpec{Name: dom, Meta: h.Meta}, "running"
	}
	return hv
}
