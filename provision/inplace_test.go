package provision

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

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
	*g.scripts, *g.inputs = append(*g.scripts, cmd), append(*g.inputs, string(b))
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
	before := prepare(t, c)
	hv := newFakeHV()
	hv.pools["pool"], hv.networks["net"] = true, true
	hv.volumes["pool/"+OverlayVolume("proj", "web")] = true
	hv.volumes["pool/"+ImageVolume("proj", "deb", c.Images[0].SHA256, "qcow2")] = true
	hv.domains["proj-web"], hv.state["proj-web"] = DomainSpec{Name: "proj-web", Meta: before.Hosts[0].Meta}, "running"

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

	// A change fjord cannot make in place is still a replacement, saying why.
	c.Hosts[0].Docker.Networks = append(c.Hosts[0].Docker.Networks, model.DockerNetwork{Name: "extra"})
	c.Hosts[0].Addresses = map[string]netip.Addr{}
	d2 := prepare(t, c)
	if got := summary(MakePlan(d2, map[string]*Inventory{"hv": inv}, PlanOptions{})); !strings.HasPrefix(got, "replace host.web: user-data changed") {
		t.Errorf("a Docker network added: %s", got)
	}
}
