package provision

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

// builtConsole is what a builder that finished prints for recipe.
func builtConsole(recipe string) string {
	return "[  OK  ] Started cloud-init.service\nfjord-build: apt-get update\n" +
		"@@fjord-manifest-begin " + recipe + "\nkernel 6.1.0-50-cloud-amd64\ndocker 20.10.24+dfsg1-1+deb12u1+b6\ncloud-init 22.4.2-1+deb12u1\n" +
		"@@fjord-package docker.io 20.10.24+dfsg1-1+deb12u1+b6\n@@fjord-package jq 1.6-2.1\n@@fjord-manifest-end " + recipe + "\n" +
		"@@fjord-build-done " + recipe + "\n[  OK  ] Reached target poweroff.target\n"
}

// A golden image is built once from its base by a builder guest, recorded
// by its manifest, used by its hosts, and built anew when its recipe
// changes (its hosts then replaced, saying why); a failed build leaves
// nothing that passes for the image.
func TestGoldenImageIsBuiltOnceAndByRecipe(t *testing.T) {
	c := testConfig("ci")
	applyable(t, c)
	c.Images[0].AptMirror = "http://10.0.0.1:8000/debian"
	c.Images[0].VirtualSize = 3 * model.GiB // as the loader reads it from the file
	c.Images = append(c.Images, model.Image{Name: "gold", Format: "qcow2", Build: &model.ImageBuild{From: "deb", Packages: []string{"jq"}}})
	c.Hosts[0].Image = "gold"
	d := prepare(t, c)
	gold, _ := c.Image("gold")
	if len(gold.SHA256) != 64 {
		t.Fatalf("the built image has no recipe hash: %q", gold.SHA256)
	}
	// Another fjord release that builds the same way: the same image.
	if _, err := Prepare(c, "another-release"); err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Image("gold"); again.SHA256 != gold.SHA256 {
		t.Errorf("another fjord version changed the recipe: %s, was %s", again.SHA256, gold.SHA256)
	}
	hv := newFakeHV()
	var builders []DomainSpec
	console := builtConsole(gold.SHA256)
	hv.build = func(ds DomainSpec) string { builders = append(builders, ds); return console }
	planOf := func(d *Desired) *Plan {
		inv, _ := hv.Inventory(context.Background(), "proj")
		return MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})
	}
	apply := func(d *Desired) (*Result, error) {
		return Apply(context.Background(), planOf(d), d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true, PollInterval: time.Millisecond, Probe: noProbe,
			Dial: func(ctx context.Context, t2 sshx.Target) (Guest, error) { return goodGuest{t: t, cfg: c}, nil }})
	}
	vol := ImageVolume("proj", "gold", gold.SHA256, "qcow2")
	got := summary(planOf(d))
	for _, want := range []string{"create image.deb: import into pool pool", "create image.gold: build from image deb into pool pool as " + vol, "create host.ci: no domain proj-ci"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "image.deb") > strings.Index(got, "image.gold") {
		t.Errorf("the base is not imported before the build:\n%s", got)
	}

	// The build fails: nothing is left that passes for the image.
	console = strings.Replace(builtConsole(gold.SHA256), "@@fjord-build-done", "@@fjord-build-failed "+gold.SHA256+" apt-install\n#", 1)
	res, err := apply(d)
	if err == nil || !strings.Contains(err.Error(), `building image "gold": its build script failed at step apt-install; its console ends:`) {
		t.Fatalf("failed build: %v", err)
	}
	if len(res.Hosts) != 1 || !strings.Contains(res.Hosts[0].Error, "not attempted") {
		t.Errorf("the host on the failed image: %+v", res.Hosts)
	}
	for v := range hv.volumes {
		if strings.Contains(v, "image-gold") {
			t.Errorf("the failed build left %s", v)
		}
	}
	if _, ok := hv.domains[builderDomain("proj", "gold")]; ok {
		t.Error("the failed build left its builder domain")
	}

	console = builtConsole(gold.SHA256)
	builders = nil
	if res, err = apply(d); err != nil || len(res.Hosts) != 1 || res.Hosts[0].Error != "" {
		t.Fatalf("apply: %v %+v", err, res)
	}
	if len(builders) != 1 || builders[0].Name != "proj-image.gold" || builders[0].Meta.Host != "image.gold" || builders[0].DiskPath != "/pool/"+vol {
		t.Fatalf("builders: %+v", builders)
	}
	// Built on a disk its base's size, whatever the hosts' disks.
	if got := hv.sizes["pool/"+vol]; got != uint64(3*model.GiB) || c.Hosts[0].Disk == 3*model.GiB {
		t.Errorf("the image was built on a %d-byte disk, want its base's 3 GiB (the host's is %s)", got, c.Hosts[0].Disk)
	}
	if !hv.volumes["pool/"+ManifestVolume("proj", "gold", gold.SHA256, "qcow2")] || hv.volumes["pool/fjord-proj-image-gold-build-seed.iso"] {
		t.Errorf("after the build, volumes %v", hv.volumes)
	}
	if _, ok := hv.domains["proj-image.gold"]; ok {
		t.Error("the builder domain is still defined")
	}
	if got := summary(planOf(d)); got != "" {
		t.Errorf("plan after the build:\n%s", got)
	}
	// The same recipe again is not built again (the plan above is empty);
	// a changed one is a new image and the host is replaced for it.
	c.Images[1].Build.Packages = []string{"jq", "curl"}
	d2 := prepare(t, c)
	gold2, _ := c.Image("gold")
	got = summary(planOf(d2))
	for _, want := range []string{"create image.gold: build from image deb into pool pool as " + ImageVolume("proj", "gold", gold2.SHA256, "qcow2"), "replace host.ci: image sha256 changed"} {
		if gold2.SHA256 == gold.SHA256 || !strings.Contains(got, want) {
			t.Errorf("plan after the recipe changed lacks %q:\n%s", want, got)
		}
	}
}

// A build reports what its script last said it was doing.
func TestBuildStageIsTheScriptsLastWord(t *testing.T) {
	console := "[  OK  ] Started cloud-final.service\r\nfjord-build: apt-get update\r\n[ 98.2] hrtimer: interrupt took 6934760 ns\r\nfjord-build: installing docker.io apparmor auditd iptables jq\r\n         Starting containerd.service\r\n"
	if got := lastStage(console); got != "installing docker.io apparmor auditd iptables jq" {
		t.Errorf("stage %q", got)
	}
	if got := lastStage("[  OK  ] Reached target multi-user.target\n"); got != "" {
		t.Errorf("stage of a console without the script's words: %q", got)
	}
}
