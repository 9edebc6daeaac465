package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/provision/libvirtd"
)

func testApp(stdin string) (*app, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &app{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv:  func(string) string { return "" },
		environ: func() []string { return nil },
		connect: connectHypervisor,
	}, &out, &errb
}

func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	a, out, errb := testApp("")
	code := a.run(context.Background(), []string{"validate", "../../config/testdata/invalid-references"})
	if code != exitError {
		t.Fatalf("exit %d, want 1", code)
	}
	if out.Len() != 0 {
		t.Errorf("diagnostics went to stdout: %s", out)
	}
	for _, want := range []string{"main.hcl line 15", "main.hcl line 16", "main.hcl line 28", `no network block named "wan"`} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
}

func TestValidateOK(t *testing.T) {
	a, out, _ := testApp("")
	if code := a.run(context.Background(), []string{"validate", "testdata/testdriver"}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), `project "cli", 2 host(s)`) {
		t.Errorf("stdout = %s", out)
	}
}

func TestPlanAgainstTestDriver(t *testing.T) {
	a, out, errb := testApp("")
	code := a.run(context.Background(), []string{"plan", "-detailed-exitcode", "testdata/testdriver"})
	if code != exitChanges {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errb)
	}
	s := out.String()
	for _, want := range []string{"+ pool.fresh", "+ network.lab", "+ image.deb", "+ host.web-0", "+ host.web-1",
		"Unchanged: pool.default-pool", "Plan: 5 to create, 0 to update, 0 to replace, 0 to delete."} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	a, out, errb := testApp("")
	if code := a.run(context.Background(), []string{"plan", "-json", "testdata/testdriver"}); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	var p provision.Plan
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("plan -json is not JSON: %v\n%s", err, out)
	}
	if p.Project != "cli" || p.Count(provision.Create) != 5 {
		t.Errorf("plan = %+v", p)
	}
}

func TestApplyRefusesWithoutConfirmation(t *testing.T) {
	a, _, errb := testApp("")
	code := a.run(context.Background(), []string{"apply", "testdata/testdriver"})
	if code != exitError {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errb.String(), "needs confirmation") || !strings.Contains(errb.String(), "-auto-approve") {
		t.Errorf("stderr = %s", errb)
	}
	// A missing key is found when the configuration is read, before
	// anything is created or asked.
	dir := t.TempDir()
	b, _ := os.ReadFile("testdata/testdriver/deb.qcow2")
	os.WriteFile(filepath.Join(dir, "deb.qcow2"), b, 0o600)
	src, _ := os.ReadFile("testdata/testdriver/main.hcl")
	os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644)
	a, _, errb = testApp("")
	if code := a.run(context.Background(), []string{"apply", "-auto-approve", dir}); code != exitError ||
		!strings.Contains(errb.String(), "Unusable private key") || !strings.Contains(errb.String(), "main.hcl line 36") {
		t.Errorf("apply without the key file: exit %d, stderr = %s", code, errb)
	}
}

func TestDestroyNeedsATerminalOrAutoApprove(t *testing.T) {
	a, _, errb := testApp("")
	// test:///default holds nothing of project "cli": nothing to destroy, no question.
	if code := a.run(context.Background(), []string{"destroy", "testdata/testdriver"}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	a.interactive = true
	if err := a.confirm("destroy"); err == nil {
		t.Error("an empty answer confirmed")
	}
	a2, _, _ := testApp("yes\n")
	a2.interactive = true
	if err := a2.confirm("destroy"); err != nil {
		t.Errorf("yes was refused: %v", err)
	}
	a3, _, _ := testApp("yes\n")
	if err := a3.confirm("destroy"); err == nil || !strings.Contains(err.Error(), "-auto-approve") {
		t.Errorf("no terminal: %v", err)
	}
}

func TestUnreachableHypervisorNamesTheBlock(t *testing.T) {
	a, _, errb := testApp("")
	code := a.run(context.Background(), []string{"plan", "-var", "x=1", "testdata/testdriver"})
	if code != exitError || !strings.Contains(errb.String(), `sets "x", but no variable block declares it`) {
		t.Errorf("exit %d: %s", code, errb)
	}
	a, _, errb = testApp("")
	a.connect = func(context.Context, model.Hypervisor) (provision.Hypervisor, error) {
		return libvirtd.Open("qemu+unix:///system?socket=/nonexistent/sock")
	}
	code = a.run(context.Background(), []string{"plan", "testdata/testdriver"})
	if code != exitError || !strings.Contains(errb.String(), `hypervisor "test": hypervisor unreachable`) {
		t.Errorf("exit %d: %s", code, errb)
	}
}

func TestUnknownCommand(t *testing.T) {
	a, _, errb := testApp("")
	if code := a.run(context.Background(), []string{"frobnicate"}); code != exitError || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Errorf("exit %d: %s", code, errb)
	}
}

func TestProjectLockNamesItsHolder(t *testing.T) {
	state := t.TempDir()
	getenv := func(string) string { return state } // XDG_STATE_HOME
	l, err := lockProject(context.Background(), getenv, "p", "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockProject(context.Background(), getenv, "p", "destroy", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "locked by fjord apply, pid") {
		t.Fatalf("second lock = %v", err)
	}
	// Ctrl-C while waiting for the lock stops the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	t0 := time.Now()
	if _, err := lockProject(ctx, getenv, "p", "destroy", time.Hour); err == nil || time.Since(t0) > time.Second {
		t.Fatalf("lock wait with a cancelled context: %v after %s", err, time.Since(t0))
	}
	l.release()
	l2, err := lockProject(context.Background(), getenv, "p", "destroy", 0)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.release()
}

func TestSavedPlanRefusedWhenTheConfigurationChanged(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"deb.qcow2", "id_ed25519"} {
		b, _ := os.ReadFile(filepath.Join("testdata/testdriver", f))
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	src, _ := os.ReadFile("testdata/testdriver/main.hcl")
	os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644)
	planFile := filepath.Join(t.TempDir(), "plan.json")

	a, out, errb := testApp("")
	if code := a.run(context.Background(), []string{"plan", "-out", planFile, dir}); code != exitOK {
		t.Fatalf("plan -out: exit %d\n%s%s", code, out, errb)
	}
	if st, err := os.Stat(planFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved plan: %v %v (must be private: it may hold -var values)", st, err)
	}
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.Replace(string(src), `count   = 2`, `count   = 3`, 1)), 0o644)
	a, out, errb = testApp("")
	code := a.run(context.Background(), []string{"apply", planFile})
	if code != exitError || !strings.Contains(errb.String(), "the configuration changed since the plan was saved") {
		t.Fatalf("apply of a stale plan: exit %d\n%s%s", code, out, errb)
	}
}

func TestPlanDriftNamesWhatMoved(t *testing.T) {
	saved := &provision.Plan{Changes: []provision.Change{
		{Kind: "host", Name: "web", Hypervisor: "hv", Action: provision.Create, Reasons: []provision.Reason{{Code: provision.ReasonAbsent, Object: "p-web"}}},
		{Kind: "pool", Name: "p", Hypervisor: "hv", Action: provision.Create},
	}}
	now := &provision.Plan{Changes: []provision.Change{
		{Kind: "host", Name: "web", Hypervisor: "hv", Action: provision.NoOp, Reasons: []provision.Reason{{Code: provision.ReasonMatches}}},
		{Kind: "network", Name: "n", Hypervisor: "hv", Action: provision.Create},
	}}
	got := strings.Join(planDrift(saved, now), "\n")
	for _, want := range []string{"host.web: saved create (no domain p-web), now no-op (running, matches the configuration)", "pool.p: saved create, now nothing to do", "network.n: not in the saved plan, now create"} {
		if !strings.Contains(got, want) {
			t.Errorf("drift lacks %q:\n%s", want, got)
		}
	}
	if len(planDrift(saved, saved)) != 0 {
		t.Error("a plan drifted from itself")
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestPlanTextGolden renders a representative change set: a create, an
// in-place update, a replace, a delete and a refusal.
func TestPlanTextGolden(t *testing.T) {
	p := &provision.Plan{Project: "demo", Changes: []provision.Change{
		{Kind: "pool", Name: "nvme", Action: provision.NoOp, Owned: true, Reasons: []provision.Reason{{Code: provision.ReasonExists, Owned: true}}},
		{Kind: "network", Name: "lab", Action: provision.NoOp},
		{Kind: "image", Name: "bookworm", Action: provision.Create, Reasons: []provision.Reason{{Code: provision.ReasonImport, Field: "nvme", Object: "fjord-demo-image-bookworm-1f3c1b7f47b2.qcow2"}}},
		{Kind: "host", Name: "web-0", Action: provision.Update, Reconfigure: true, Reasons: []provision.Reason{{Code: provision.ReasonChanged, Field: "memory", Old: "2GiB", New: "4GiB", Effect: provision.EffectRestart}}},
		{Kind: "host", Name: "web-1", Action: provision.Replace, Reasons: []provision.Reason{{Code: provision.ReasonChanged, Field: "image sha256", Effect: provision.EffectReplace}, {Code: provision.ReasonChanged, Field: "user-data", Effect: provision.EffectReplace}}},
		{Kind: "host", Name: "db", Action: provision.Create, Reasons: []provision.Reason{{Code: provision.ReasonAbsent, Object: "demo-db"}}},
		{Kind: "host", Name: "old", Action: provision.Delete, Reasons: []provision.Reason{{Code: provision.ReasonNotConfigured}}},
		{Kind: "volume", Name: "fjord-demo-image-bookworm-aaaaaaaaaaaa.qcow2", Action: provision.Delete, Reasons: []provision.Reason{{Code: provision.ReasonNoLongerUsed, Object: "demo"}}},
	}, Refused: []provision.Refusal{{Host: "old", Action: provision.Delete, Reasons: []provision.Reason{{Code: provision.ReasonNotConfigured}}}}}
	var b bytes.Buffer
	renderPlan(&b, p)
	path := filepath.Join("testdata", "plan.golden")
	if *update {
		os.WriteFile(path, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("plan text differs from %s (go test ./cmd/fjord -update):\n%s", path, b.String())
	}
}

// A plan saved by an older fjord (format 1: reasons were sentences) is
// refused naming the version, not misread.
func TestOldSavedPlanRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(path, []byte(`{"format": 1, "dir": "/x", "plan": {"project": "p", "changes": [{"kind": "host", "name": "web", "action": "create", "reasons": ["no domain p-web"]}]}}`), 0o600)
	if _, err := readSavedPlan(path); err == nil || !strings.Contains(err.Error(), "saved by another fjord version (format 1, this fjord reads 2)") {
		t.Fatalf("old saved plan: %v", err)
	}
}

// An unreachable hypervisor fails plan naming it; -target still plans
// hosts that cannot be placed on it, and refuses those that could.
func TestUnreachableHypervisorLeavesTargetsElsewhere(t *testing.T) {
	farDown := func(ctx context.Context, h model.Hypervisor) (provision.Hypervisor, error) {
		if h.Name == "far" {
			return libvirtd.Open("qemu+unix:///system?socket=/nonexistent/sock")
		}
		return connectHypervisor(ctx, h)
	}
	plan := func(args ...string) (int, string, string) {
		a, out, errb := testApp("")
		a.connect = farDown
		code := a.run(context.Background(), append([]string{"plan"}, append(args, "testdata/twohv")...))
		return code, out.String(), errb.String()
	}
	code, _, errb := plan()
	if code != exitError || !strings.Contains(errb, `hypervisor "far": hypervisor unreachable`) || !strings.Contains(errb, "-target") {
		t.Errorf("plan with far down: exit %d: %s", code, errb)
	}
	code, out, errb := plan("-target", "web")
	if code != exitOK || !strings.Contains(out, "host.web") || strings.Contains(out, "host.edge") {
		t.Errorf("plan -target web with far down: exit %d\n%s%s", code, out, errb)
	}
	code, _, errb = plan("-target", "edge")
	if code != exitError || !strings.Contains(errb, `hypervisor "far"`) || !strings.Contains(errb, `needed by host "edge"`) {
		t.Errorf("plan -target edge with far down: exit %d: %s", code, errb)
	}
}

// verify goes on past an unreachable hypervisor: the hosts that may be
// there are reported unverified with why, the others are checked.
func TestVerifyReportsHostsOfAnUnreachableHypervisor(t *testing.T) {
	a, out, errb := testApp("")
	a.connect = func(ctx context.Context, h model.Hypervisor) (provision.Hypervisor, error) {
		if h.Name == "far" {
			return libvirtd.Open("qemu+unix:///system?socket=/nonexistent/sock")
		}
		return connectHypervisor(ctx, h)
	}
	code := a.run(context.Background(), []string{"verify", "-json", "-dir", "testdata/twohv"})
	if code != exitError {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	var rep struct {
		Hosts []provision.HostResult `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, h := range rep.Hosts {
		got[h.Host] = h.Error
	}
	if !strings.Contains(got["edge"], `not verified, its hypervisor is unreachable: hypervisor "far"`) {
		t.Errorf("edge: %q", got["edge"])
	}
	if !strings.Contains(got["web"], "not created yet") {
		t.Errorf("web (on the reachable hypervisor) was not checked: %q", got["web"])
	}
}
