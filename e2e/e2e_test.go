//go:build e2e

// Package e2e drives the fjord binary against a real libvirtd and real QEMU
// guests. The harness installs what it needs, starts libvirtd inside a
// network namespace of its own (so the guests' bridge and every packet stay
// there), builds its guest image with debootstrap (cached by recipe) and
// runs fjord inside that namespace.
//
// Run as root: go test -tags e2e -timeout 40m ./e2e
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/authz"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

// netns is the namespace libvirtd, the guests' bridges and fjord run in.
const netns = "fjord"

const project = "e2e"

type harness struct {
	root    string // repository root
	bin     string // the fjord binary
	work    string // per-run files: keys, variables, known_hosts
	config  string // the HCL directory
	varFile string
	key     string // client private key path
	image   string // the guest image file
}

var h harness

func TestMain(m *testing.M) {
	if dialHelper() || serveHelper() {
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: must run as root (it starts libvirtd and builds a disk image)")
		os.Exit(1)
	}
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	if code == 0 {
		code = m.Run()
	}
	os.RemoveAll(h.work)
	os.Exit(code)
}

// timed runs a setup step and prints how long it took.
func timed(what string, fn func() error) error {
	t0 := time.Now()
	err := fn()
	fmt.Fprintf(os.Stderr, "e2e: %-22s %6.1fs\n", what, time.Since(t0).Seconds())
	return err
}

func setup() (int, error) {
	wd, _ := os.Getwd()
	h.root = filepath.Dir(wd)
	var err error
	// Per-run files (a client key among them) live in a root-only
	// directory, never in /tmp; a run killed before its cleanup leaves
	// nothing readable, and the next run removes what it left.
	const base = "/var/lib/fjord-e2e"
	if err := os.MkdirAll(base, 0o700); err != nil {
		return 1, err
	}
	if err := os.Chmod(base, 0o700); err != nil {
		return 1, err
	}
	stale, _ := filepath.Glob(filepath.Join(base, "run-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	if h.work, err = os.MkdirTemp(base, "run-"); err != nil {
		return 1, err
	}
	// Temporary directories of tests and benchmarks (keys, node files) too.
	tmp := filepath.Join(h.work, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return 1, err
	}
	os.Setenv("TMPDIR", tmp)
	h.bin = filepath.Join(h.work, "fjord")
	h.config = filepath.Join(h.root, "e2e", "testdata", "basic")
	steps := []struct {
		name string
		fn   func() error
	}{
		{"install packages", func() error { return runScript("scripts/install-deps.sh") }},
		{"start libvirtd", func() error { return runScript("scripts/libvirtd.sh", "start", netns) }},
		{"build fjord", func() error {
			// The static helpers fjord embeds: the canary probe and the authz plugin.
			for out, pkg := range map[string]string{"canary/probe.bin": "./cmd/fjord-probe", "authz/plugin/fjord-authz.bin": "./cmd/fjord-authz"} {
				c := exec.Command("go", "build", "-tags", "seccomp", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
				c.Env = append(os.Environ(), "CGO_ENABLED=0")
				if err := cmdErr(c, h.root); err != nil {
					return err
				}
			}
			// crashhook: FJORD_CRASH_AT makes this binary kill itself at an event.
			return cmdErr(exec.Command("go", "build", "-tags", "helpers,crashhook", "-o", h.bin, "./cmd/fjord"), h.root)
		}},
		{"guest image", writeVars},
	}
	for _, s := range steps {
		if err := timed(s.name, s.fn); err != nil {
			return 1, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	// Nothing of this project may be left from an earlier, interrupted run.
	if r := fjord(context.Background(), "destroy", "-auto-approve", "-shutdown-timeout", "1s", "-var-file", h.varFile, h.config); r.code != 0 {
		return 1, fmt.Errorf("cleaning up an earlier run: %s", r.out)
	}
	return 0, nil
}

func cmdErr(c *exec.Cmd, dir string) error {
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(c.Args, " "), err, out)
	}
	return nil
}

func runScript(script string, args ...string) error {
	return cmdErr(exec.Command("bash", append([]string{filepath.Join(h.root, script)}, args...)...), h.root)
}

// writeVars builds (or finds) the guest image, makes a client key and
// writes the variables file the e2e configuration reads.
func writeVars() error {
	out, err := exec.Command("bash", filepath.Join(h.root, "e2e", "scripts", "build-image.sh")).Output()
	if err != nil {
		var ee *exec.ExitError
		if ok := asExit(err, &ee); ok {
			return fmt.Errorf("build-image.sh: %w\n%s", err, ee.Stderr)
		}
		return err
	}
	image := strings.TrimSpace(string(out))
	h.image = image
	sum, err := exec.Command("sha256sum", image).Output()
	if err != nil {
		return err
	}
	kp, err := sshx.NewHostKey() // any ed25519 key pair serves as the client key
	if err != nil {
		return err
	}
	h.key = filepath.Join(h.work, "id_ed25519")
	if err := os.WriteFile(h.key, []byte(kp.PrivatePEM), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(h.key+".pub", []byte(kp.Public+" e2e\n"), 0o644); err != nil {
		return err
	}
	h.varFile = filepath.Join(h.work, "e2e.fjordvars")
	vars := fmt.Sprintf("image_path = %q\nimage_sha256 = %q\nssh_public_key = %q\nssh_private_key_file = %q\n",
		image, strings.Fields(string(sum))[0], kp.Public+" e2e", h.key)
	return os.WriteFile(h.varFile, []byte(vars), 0o600)
}

func asExit(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

type result struct {
	code int
	out  string // stdout
	err  string // stderr
}

// fjord runs the binary inside the namespace.
func fjord(ctx context.Context, args ...string) result { return fjordEnv(ctx, nil, args...) }

// fjordEnv runs the binary with extra environment variables.
// fjordCache keeps fjord's download cache (images given by url) in the
// run's directory; the Go build cache the harness uses stays where it is.
func fjordCache() string { return "XDG_CACHE_HOME=" + filepath.Join(h.work, "cache") }

func fjordEnv(ctx context.Context, env []string, args ...string) result {
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", netns, h.bin}, args...)...)
	c.Env = append(append(os.Environ(), fjordCache()), env...)
	c.Dir = h.work
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	r := result{out: out.String(), err: errb.String()}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	return r
}

func virsh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-c", "qemu:///system"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ownedObjects counts the libvirt objects named for the e2e project.
func ownedObjects(t *testing.T) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, d := range strings.Fields(virsh(t, "list", "--all", "--name")) {
		if strings.HasPrefix(d, project+"-") {
			n["domains"]++
		}
	}
	for _, p := range strings.Fields(virsh(t, "pool-list", "--all", "--name")) {
		if p == "e2e" {
			n["pools"]++
			for _, line := range strings.Split(virsh(t, "vol-list", p), "\n") {
				// Counted: the project's volumes; not its pool's ownership marker.
				if strings.Contains(line, "fjord-"+project+"-") && !strings.Contains(line, "pool.owner") {
					n["volumes"]++
				}
			}
		}
	}
	for _, net := range strings.Fields(virsh(t, "net-list", "--all", "--name")) {
		if net == "e2e" {
			n["networks"]++
		}
	}
	return n
}

// applyEvents reads apply -json output: progress events and the result.
type applyOutput struct {
	phases map[string]float64 // phase → seconds, for host.node
	hosts  []struct {
		Host    string `json:"host"`
		Address string `json:"address"`
		User    string `json:"user"`
		HostKey string `json:"host_key"`
		Error   string `json:"error"`
		Checks  []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Detail string `json:"detail"`
		} `json:"checks"`
	}
	errMsg string
}

func parseApply(t *testing.T, out string) applyOutput {
	t.Helper()
	ao := applyOutput{phases: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Event *struct {
				Object   string `json:"object"`
				Phase    string `json:"phase"`
				Status   string `json:"status"`
				Duration int64  `json:"duration_ns"`
			} `json:"event"`
			Result *struct {
				Hosts json.RawMessage `json:"hosts"`
			} `json:"result"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("apply -json printed a line that is not JSON: %q", sc.Text())
		}
		if e := line.Event; e != nil && e.Status == "done" {
			ao.phases[e.Object+" "+e.Phase] = time.Duration(e.Duration).Seconds()
		}
		if line.Result != nil {
			if err := json.Unmarshal(line.Result.Hosts, &ao.hosts); err != nil {
				t.Fatal(err)
			}
			ao.errMsg = line.Error
		}
	}
	return ao
}

// TestLifecycle is the path a user takes: validate, plan, apply, reach the
// host over SSH with the pinned key, plan again (nothing), destroy, and
// nothing owned is left. It shares one guest across its steps.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	cfg := []string{"-var-file", h.varFile, h.config}
	reset(t)

	r := fjord(ctx, append([]string{"validate"}, cfg...)...)
	if r.code != 0 || !strings.Contains(r.out, "valid") {
		t.Fatalf("validate: exit %d\n%s%s", r.code, r.out, r.err)
	}

	r = fjord(ctx, append([]string{"plan", "-detailed-exitcode"}, cfg...)...)
	if r.code != 2 {
		t.Fatalf("plan before apply: exit %d, want 2 (changes)\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"+ pool.e2e", "+ network.e2e", "+ image.bookworm", "+ host.node", "4 to create"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}

	// The first apply is killed (SIGKILL) right after the guest boots,
	// before anyone verified it. The next apply must finish the job: wait
	// for the host, verify it and remove its seed, with the key it pinned.
	t0 := time.Now()
	r = fjordEnv(ctx, []string{"FJORD_CRASH_AT=host.node/boot:done"}, append([]string{"apply", "-auto-approve", "-json"}, cfg...)...)
	killedWall := time.Since(t0)
	killed := parseApply(t, r.out)
	if r.code != -1 {
		t.Fatalf("apply with FJORD_CRASH_AT was not killed: exit %d\n%s%s", r.code, r.out, r.err)
	}
	r = fjord(ctx, append([]string{"plan"}, cfg...)...)
	if !strings.Contains(r.out, "~ host.node") || !strings.Contains(r.out, "provisioning did not finish") {
		t.Errorf("plan after apply was killed at boot does not finish the host:\n%s%s", r.out, r.err)
	}
	t0 = time.Now()
	r = fjord(ctx, append([]string{"apply", "-auto-approve", "-json"}, cfg...)...)
	applyWall := killedWall + time.Since(t0)
	ao := parseApply(t, r.out)
	for k, v := range killed.phases {
		ao.phases[k] = v
	}
	if r.code != 0 {
		t.Fatalf("apply after the kill: exit %d: %s\n%s\n%s", r.code, ao.errMsg, r.out, r.err)
	}
	t.Logf("apply wall time %.1fs (killed after boot at %.1fs, then finished)", applyWall.Seconds(), killedWall.Seconds())
	for _, p := range []string{"pool.e2e create", "network.e2e create", "image.bookworm import", "host.node volume", "host.node data-disk", "host.node seed", "host.node boot", "host.node address", "host.node ssh", "host.node cloud-init", "host.node verify", "host.node seal"} {
		t.Logf("  phase %-24s %6.1fs", p, ao.phases[p])
	}
	if len(ao.hosts) != 1 {
		t.Fatalf("apply result hosts = %+v", ao.hosts)
	}
	node := ao.hosts[0]
	var failed, waived []string
	for _, c := range node.Checks {
		switch c.Status {
		case "fail":
			failed = append(failed, c.ID)
		case "waived":
			waived = append(waived, c.ID)
		}
	}
	sort.Strings(waived)
	t.Logf("apply verified %d checks; waived %v", len(node.Checks), waived)
	if node.Error != "" || len(failed) > 0 || len(node.Checks) < 60 {
		t.Fatalf("host not verified: error %q, failed %v, %d checks", node.Error, failed, len(node.Checks))
	}
	if strings.Join(waived, ",") != "authz.host-uts,guest.kvm,host.kvm" {
		t.Errorf("waived = %v, want exactly the two KVM checks the configuration waives and the authz rule it relaxes", waived)
	}
	before := ownedObjects(t)
	t.Logf("owned libvirt objects after apply: %v", before)
	if before["domains"] != 1 || before["networks"] != 1 || before["pools"] != 1 || before["volumes"] != 3 {
		t.Errorf("objects after apply = %v, want 1 domain, 1 network, 1 pool, 3 volumes (image, root disk, seed)", before)
	}

	// The pinned key is in the domain's metadata, not only in fjord's output.
	meta := virsh(t, "metadata", project+"-node", "--uri", "https://fjord.dev/xmlns/host/1")
	if !strings.Contains(meta, node.HostKey) {
		t.Errorf("domain metadata does not hold the pinned host key %q:\n%s", node.HostKey, meta)
	}

	guest := &guest{addr: node.Address, user: node.User, hostKey: node.HostKey}
	t.Run("seed removed after verification", func(t *testing.T) {
		if blk := virsh(t, "domblklist", project+"-node"); strings.Contains(blk, "seed") {
			t.Errorf("the seed disk is still attached:\n%s", blk)
		}
		if vols := virsh(t, "vol-list", "e2e"); strings.Contains(vols, "seed") {
			t.Errorf("the seed volume still exists:\n%s", vols)
		}
	})
	t.Run("verify fails exactly the mutated checks", func(t *testing.T) { testMutations(t, guest, cfg) })
	t.Run("fjord-authz refuses what gives a container the host", func(t *testing.T) { testAuthz(t, guest, cfg) })

	t.Run("ssh with the pinned host key", func(t *testing.T) {
		kh := filepath.Join(h.work, "known_hosts")
		os.WriteFile(kh, []byte(node.Address+" "+node.HostKey+"\n"), 0o600)
		sshArgs := []string{"netns", "exec", netns, "ssh", "-i", h.key, "-o", "UserKnownHostsFile=" + kh,
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
			node.User + "@" + node.Address}
		out, err := exec.Command("ip", append(sshArgs, "sudo -n docker info --format '{{json .SecurityOptions}}'; id -un")...).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "name=userns") || !strings.Contains(string(out), "admin") {
			t.Errorf("ssh output lacks name=userns and the admin user:\n%s", out)
		}
		// fjord ssh uses the key pinned in the domain, through OpenSSH.
		r := fjord(context.Background(), "ssh", "-dir", h.config, "-var-file", h.varFile, "node", "--", "id", "-un")
		if r.code != 0 || strings.TrimSpace(r.out) != "admin" {
			t.Errorf("fjord ssh node -- id -un: exit %d, %q %s", r.code, r.out, r.err)
		}
		// apply published the host to OpenSSH (~/.ssh/fjord, included from
		// ~/.ssh/config) and to Docker as a context over ssh://.
		alias, err := exec.Command("ip", "netns", "exec", netns, "ssh", "-o", "BatchMode=yes", project+"-node", "id", "-un").CombinedOutput()
		if err != nil || strings.TrimSpace(string(alias)) != "admin" {
			t.Errorf("ssh e2e-node id -un: %v %s", err, alias)
		}
		if _, err := exec.LookPath("docker"); err == nil {
			out, err := exec.Command("ip", "netns", "exec", netns, "docker", "--context", project+"-node", "info", "--format", "{{json .SecurityOptions}}").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "name=userns") {
				t.Errorf("docker --context %s-node info: %v\n%s", project, err, out)
			}
		} else {
			t.Log("no docker CLI on this machine: the Docker context is not exercised")
		}
		// The same client with a different pinned key must refuse the host.
		other, _ := sshx.NewHostKey()
		os.WriteFile(kh, []byte(node.Address+" "+other.Public+"\n"), 0o600)
		out, err = exec.Command("ip", append(sshArgs, "true")...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "REMOTE HOST IDENTIFICATION HAS CHANGED") {
			t.Errorf("ssh with a wrong pinned key: err %v\n%s", err, out)
		}
	})

	// fjord rebuild (a new disk, the same identity) is TestRemoteFleet's,
	// through a remote hypervisor.

	r = fjord(ctx, append([]string{"plan", "-detailed-exitcode"}, cfg...)...)
	if r.code != 0 || !strings.Contains(r.out, "No changes") {
		t.Errorf("plan after apply: exit %d, want 0 and no changes\n%s%s", r.code, r.out, r.err)
	}
	r = fjord(ctx, append([]string{"apply", "-auto-approve"}, cfg...)...)
	if r.code != 0 || !strings.Contains(r.out, "No changes") || strings.Contains(r.out, "create…") {
		t.Errorf("second apply changed something: exit %d\n%s%s", r.code, r.out, r.err)
	}

	t.Run("memory changes in place", func(t *testing.T) {
		guest.run(t, "sudo touch /var/tmp/before-resize")
		more := append([]string{"-var", "memory=3GiB"}, cfg...)
		r := fjord(ctx, append([]string{"plan"}, more...)...)
		if !strings.Contains(r.out, "~ host.node") || !strings.Contains(r.out, "memory: 2GiB → 3GiB (in place, restarts the guest)") {
			t.Fatalf("plan for more memory:\n%s%s", r.out, r.err)
		}
		t0 := time.Now()
		r = fjord(ctx, append([]string{"apply", "-auto-approve"}, more...)...)
		t.Logf("in-place memory change wall time %.1fs", time.Since(t0).Seconds())
		if r.code != 0 {
			t.Fatalf("apply more memory: exit %d\n%s%s", r.code, r.out, r.err)
		}
		out := guest.run(t, "test -e /var/tmp/before-resize && echo kept; awk '/MemTotal/ {print $2}' /proc/meminfo")
		f := strings.Fields(out)
		if len(f) != 2 || f[0] != "kept" {
			t.Fatalf("the disk did not survive the change: %q", out)
		}
		if kb, _ := strconv.Atoi(f[1]); kb < 2900000 {
			t.Errorf("MemTotal %s kB after asking for 3GiB", f[1])
		}
		if r := fjord(ctx, append([]string{"plan", "-detailed-exitcode"}, more...)...); r.code != 0 {
			t.Errorf("plan after the change: exit %d\n%s", r.code, r.out)
		}
	})

	t0 = time.Now()
	r = fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...)
	t.Logf("destroy wall time %.1fs", time.Since(t0).Seconds())
	if r.code != 0 {
		t.Fatalf("destroy: exit %d\n%s%s", r.code, r.out, r.err)
	}
	after := ownedObjects(t)
	t.Logf("owned libvirt objects after destroy: %v", after)
	if _, err := exec.LookPath("docker"); err == nil {
		if exec.Command("docker", "context", "inspect", project+"-node").Run() == nil {
			t.Error("destroy left the Docker context")
		}
	}
	if len(after) != 0 {
		t.Errorf("destroy left %v", after)
	}
	if _, err := os.Stat("/var/lib/fjord/pools/e2e"); !os.IsNotExist(err) {
		t.Errorf("pool directory left behind: %v", err)
	}
}

// TestPausedGuestFailsAtOnce pauses the guest while apply waits for it:
// apply must fail within seconds naming the state and reason, show the
// console, and leave nothing of the host behind.
func TestPausedGuestFailsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := []string{"-var-file", h.varFile, h.config}
	reset(t)
	done := make(chan result, 1)
	go func() { done <- fjord(ctx, append([]string{"apply", "-auto-approve"}, cfg...)...) }()

	domain := project + "-node"
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, _ := exec.Command("virsh", "-c", "qemu:///system", "domstate", domain).Output()
		if strings.TrimSpace(string(out)) == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the domain never started")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // let the console show something
	virsh(t, "suspend", domain)
	paused := time.Now()
	r := <-done
	t.Logf("apply failed %.1fs after the pause", time.Since(paused).Seconds())
	if r.code != 1 {
		t.Fatalf("apply on a paused guest: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if time.Since(paused) > 60*time.Second {
		t.Errorf("apply took %s to notice the pause", time.Since(paused))
	}
	for _, want := range []string{"is paused (paused by a user)", "last lines of the serial console", "were removed"} {
		if !strings.Contains(r.out+r.err, want) {
			t.Errorf("failure output lacks %q:\n%s%s", want, r.out, r.err)
		}
	}
	if n := ownedObjects(t); n["domains"] != 0 || n["volumes"] > 1 {
		t.Errorf("failed create left %v (only the base image may stay)", n)
	}
	if r := fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...); r.code != 0 {
		t.Fatalf("destroy: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if n := ownedObjects(t); len(n) != 0 {
		t.Errorf("destroy left %v", n)
	}
}

// reset destroys whatever an earlier test left of the project.
func reset(t *testing.T) {
	t.Helper()
	if r := fjord(context.Background(), "destroy", "-auto-approve", "-shutdown-timeout", "1s", "-var-file", h.varFile, h.config); r.code != 0 {
		t.Fatalf("destroy before the test: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// guest reaches the e2e host with the system's ssh client, the pinned key
// in a known_hosts file of its own and strict checking.
type guest struct {
	addr, user, hostKey string
}

func (g *guest) run(t *testing.T, cmd string) string {
	t.Helper()
	out, err := g.try(cmd)
	if err != nil {
		t.Fatalf("ssh %q: %v\n%s", cmd, err, out)
	}
	return out
}

// output is run for another goroutine than the test's: a failure to run
// cmd is in what it returns.
func (g *guest) output(cmd string) string {
	out, err := g.try(cmd)
	if err != nil {
		return fmt.Sprintf("ssh %q: %v\n%s", cmd, err, out)
	}
	return out
}

// knownHosts writes the guest's pinned key for ssh, whole under a name of
// its own, then renamed: other goroutines may be reading it.
func (g *guest) knownHosts() (string, error) {
	kh := filepath.Join(h.work, "known_hosts.guest."+g.addr)
	f, err := os.CreateTemp(h.work, "known_hosts.*")
	if err != nil {
		return "", err
	}
	f.WriteString(g.addr + " " + g.hostKey + "\n")
	f.Close()
	return kh, os.Rename(f.Name(), kh)
}

func (g *guest) try(cmd string) (string, error) {
	kh, err := g.knownHosts()
	if err != nil {
		return "", err
	}
	var out []byte
	for try := 0; try < 5; try++ { // sshd refuses connections while it reloads
		out, err = exec.Command("ip", "netns", "exec", netns, "ssh", "-i", h.key, "-o", "UserKnownHostsFile="+kh,
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
			g.user+"@"+g.addr, cmd).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Connection refused") {
			break
		}
		time.Sleep(2 * time.Second)
	}
	return string(out), err
}

// failingChecks runs fjord verify -json and returns the IDs that failed.
func failingChecks(t *testing.T, cfg []string) ([]string, float64) {
	t.Helper()
	r := fjord(context.Background(), append([]string{"verify", "-json"}, cfg...)...)
	var rep struct {
		Hosts []struct {
			Error   string  `json:"error"`
			Seconds float64 `json:"seconds"`
			Checks  []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"checks"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil || len(rep.Hosts) != 1 {
		t.Fatalf("verify -json: exit %d, %v\n%s%s", r.code, err, r.out, r.err)
	}
	if rep.Hosts[0].Error != "" {
		t.Fatalf("verify could not check the host: %s", rep.Hosts[0].Error)
	}
	var ids []string
	for _, c := range rep.Hosts[0].Checks {
		if c.Status == "fail" {
			ids = append(ids, c.ID)
		}
	}
	sort.Strings(ids)
	if (len(ids) == 0) != (r.code == 0) {
		t.Errorf("verify exit code %d with failing checks %v", r.code, ids)
	}
	return ids, rep.Hosts[0].Seconds
}

// restartDocker restarts the daemon as an operator would after a change.
// Docker's unit allows three starts a minute, and the mutations below
// restart it four times within one now that a verification takes about
// 15 s: the start count is cleared first, or the fourth is refused and
// the daemon stays down.
const restartDocker = "systemctl reset-failed docker.service && systemctl restart docker"

// dropAuthz takes fjord-authz out of the guest's daemon.json (a copy is
// kept in /root/daemon.json by the caller).
const dropAuthz = `python3 -c "import json; d = json.load(open(\"/etc/docker/daemon.json\")); d.pop(\"authorization-plugins\"); json.dump(d, open(\"/etc/docker/daemon.json\", \"w\"), indent=2)"`

// testMutations breaks one setting at a time on the live guest, expects
// fjord verify to fail exactly the checks that cover it, restores it, and
// expects a clean verify once all are restored.
func testMutations(t *testing.T, g *guest, cfg []string) {
	ids, secs := failingChecks(t, cfg)
	t.Logf("verify on the fresh host: %.1fs, failing %v", secs, ids)
	if len(ids) != 0 {
		t.Fatalf("a freshly applied host fails %v", ids)
	}
	g.run(t, `sudo sh -c 'tar -C / -c bin/busybox | docker import - fjord-e2e/busybox:1 >/dev/null'`)
	mutations := []struct {
		name, breakIt, restore string
		want                   []string
	}{
		{"userns-remap removed and docker restarted",
			`sudo sh -c 'cp /etc/docker/daemon.json /root/daemon.json && sed -i "s/\"userns-remap\": \"default\"/\"userns-remap\": \"\"/" /etc/docker/daemon.json && ` + restartDocker + `'`,
			`sudo sh -c 'cp /root/daemon.json /etc/docker/daemon.json && ` + restartDocker + `'`,
			// Without remapping the daemon uses another root dir, where the
			// networks fjord created do not exist: docker.networks fails too.
			// --privileged is still refused, by fjord-authz.
			[]string{"canary.uid-map", "docker.daemon-json", "docker.networks", "docker.userns"}},
		{"password login enabled",
			`echo 'PasswordAuthentication yes' | sudo tee /etc/ssh/sshd_config.d/05-e2e.conf >/dev/null && sudo systemctl reload ssh`,
			`sudo rm /etc/ssh/sshd_config.d/05-e2e.conf && sudo systemctl reload ssh`,
			[]string{"ssh.passwordauthentication"}},
		{"docker socket world-writable", `sudo chmod 666 /run/docker.sock`, `sudo chmod 660 /run/docker.sock`,
			[]string{"file.run.docker.sock"}},
		// fjord-authz refuses such a container, so it is started while the
		// plugin is out of daemon.json; live-restore keeps it running once
		// the plugin is back, and the runtime audit must find it.
		{"privileged container with / mounted, started without fjord-authz",
			`sudo sh -c 'cp /etc/docker/daemon.json /root/daemon.json && ` + dropAuthz + ` && ` + restartDocker + ` && docker run -d --name e2e-evil --privileged --userns=host -v /:/host fjord-e2e/busybox:1 /bin/busybox sleep 600 >/dev/null && cp /root/daemon.json /etc/docker/daemon.json && ` + restartDocker + `'`,
			`sudo docker rm -f e2e-evil >/dev/null`,
			[]string{"runtime.host-mounts", "runtime.host-namespaces", "runtime.pids-limit", "runtime.privileged", "runtime.root-writable", "runtime.unconfined"}},
		{"dmesg readable", `sudo sysctl -qw kernel.dmesg_restrict=0`, `sudo sysctl -qw kernel.dmesg_restrict=1`,
			[]string{"sysctl.kernel.dmesg_restrict"}},
		{"audit rules unloaded", `sudo auditctl -D >/dev/null`,
			// rules.d, and the /run watch containerd's unit adds once its socket exists.
			`sudo augenrules --load >/dev/null && sudo auditctl -w /run/containerd/containerd.sock -p rwxa -k docker`,
			[]string{"docker.audit"}},
		{"admin in the docker group", `sudo gpasswd -a admin docker >/dev/null`, `sudo gpasswd -d admin docker >/dev/null`,
			[]string{"docker.group"}},
		{"fjord-authz taken out of daemon.json and docker restarted",
			`sudo sh -c 'cp /etc/docker/daemon.json /root/daemon.json && ` + dropAuthz + ` && ` + restartDocker + `'`,
			`sudo sh -c 'cp /root/daemon.json /etc/docker/daemon.json && ` + restartDocker + `'`,
			append([]string{"docker.authorization-plugins", "docker.daemon-json", "authz.unreadable"}, enforcedAuthzChecks...)},
	}
	// The mutations that touch one setting each, with checks of their own,
	// go in one round: each check must still fail, and nothing else may.
	var one, together []int
	for i, m := range mutations {
		switch m.name {
		case "password login enabled", "docker socket world-writable", "dmesg readable", "audit rules unloaded", "admin in the docker group":
			together = append(together, i)
		default:
			one = append(one, i)
		}
	}
	merged := struct {
		name, breakIt, restore string
		want                   []string
	}{name: "five settings at once"}
	var breaks, restores []string
	for _, i := range together {
		breaks, restores = append(breaks, mutations[i].breakIt), append(restores, mutations[i].restore)
		merged.want = append(merged.want, mutations[i].want...)
	}
	merged.breakIt, merged.restore = strings.Join(breaks, " && "), strings.Join(restores, " && ")
	mutations = append(mutations, merged)
	// userns first (as before), then the five, then the rest.
	rounds := append([]int{one[0], len(mutations) - 1}, one[1:]...)
	for _, i := range rounds {
		m := mutations[i]
		g.run(t, m.breakIt)
		got, secs := failingChecks(t, cfg)
		t.Logf("%-38s verify %.1fs, failing %v", m.name, secs, got)
		sort.Strings(m.want)
		if strings.Join(got, ",") != strings.Join(m.want, ",") {
			t.Errorf("%s: failing checks %v, want %v", m.name, got, m.want)
		}
		// The next mutation's exact expectation also proves this one was
		// restored; the last is proven by the final clean verify.
		g.run(t, m.restore)
	}
	if again, _ := failingChecks(t, cfg); len(again) != 0 {
		t.Errorf("after every mutation was restored, still failing %v", again)
	}
	// The canary image was the test's own; leave the host as it was.
	g.run(t, `sudo docker rmi fjord-e2e/busybox:1 >/dev/null`)
}

// enforcedAuthzChecks are the fjord-authz rule checks the e2e host
// enforces: all but host_uts, which its configuration relaxes.
var enforcedAuthzChecks = func() []string {
	var ids []string
	for _, r := range authz.RuleNames() {
		if r != authz.RuleHostUTS {
			ids = append(ids, model.AuthzCheck(r))
		}
	}
	return ids
}()

// testAuthz runs on the verified guest what users would run: each request
// that gives a container the host must be refused by fjord-authz with its
// rule and what to change, an ordinary hardened container must run, the
// relaxed rule must let exactly its case through, every refusal must be in
// the journal, and with the plugin stopped Docker must refuse everything
// and fjord verify must fail.
func testAuthz(t *testing.T, g *guest, cfg []string) {
	const img = "fjord-e2e/busybox:1"
	g.run(t, `sudo sh -c 'tar -C / -c bin/busybox | docker import - `+img+` >/dev/null'`)
	defer g.run(t, `sudo sh -c 'docker rm -f e2e-app >/dev/null 2>&1; docker volume rm e2e-etc >/dev/null 2>&1; docker rmi `+img+` >/dev/null'`)

	out := g.run(t, "sudo docker run --rm --read-only --cap-drop=ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges --pids-limit 64 --user 65534 --network none "+img+" /bin/busybox echo hardened-ok")
	if !strings.Contains(out, "hardened-ok") {
		t.Errorf("a hardened container did not run: %s", out)
	}
	g.run(t, "sudo docker run -d --name e2e-app --read-only --cap-drop=ALL --pids-limit 64 --user 65534 --network none "+img+" /bin/busybox sleep 600")
	if out := g.run(t, "sudo docker exec e2e-app /bin/busybox echo exec-ok"); !strings.Contains(out, "exec-ok") {
		t.Errorf("docker exec into a hardened container: %s", out)
	}
	// host_uts is relaxed on this host: that case, and only that, goes through.
	if out := g.run(t, "sudo docker run --rm --uts=host --network none "+img+" /bin/busybox hostname 2>&1; echo rc=$?"); !strings.Contains(out, "node") || !strings.Contains(out, "rc=0") {
		t.Errorf("--uts=host refused though host_uts is relaxed: %s", out)
	}
	g.run(t, "mkdir -p /tmp/e2e-plugin/rootfs && echo '{}' >/tmp/e2e-plugin/config.json")
	run := func(flags string) string { return "docker run --rm " + flags + " " + img + " /bin/busybox true" }
	refused := []struct{ rule, cmd string }{
		{"privileged", run("--privileged --userns=host -v /:/host")},
		{"privileged", run("--uts=host --privileged")},
		{"userns_host", run("--userns=host")},
		{"host_pid", run("--pid=host")},
		{"host_ipc", run("--ipc=host")},
		{"host_network", run("--network=host")},
		{"host_cgroupns", run("--cgroupns=host")},
		{"sensitive_mounts", run("-v /:/host")},
		{"sensitive_mounts", run("-v /var/run/docker.sock:/var/run/docker.sock")},
		{"sensitive_mounts", run("--mount type=bind,source=/etc,target=/x")},
		{"sensitive_mounts", "docker volume create -o type=none -o o=bind -o device=/etc e2e-etc"},
		{"cap_add", run("--cap-add SYS_ADMIN")},
		{"cap_add", run("--cap-add ALL")},
		{"seccomp_unconfined", run("--security-opt seccomp=unconfined")},
		{"apparmor_unconfined", run("--security-opt apparmor=unconfined")},
		{"systempaths_unconfined", run("--security-opt systempaths=unconfined")},
		{"new_privileges", run("--security-opt no-new-privileges=false")},
		{"devices", run("--device /dev/null:/dev/e2e")},
		{"privileged_exec", "docker exec --privileged e2e-app /bin/busybox true"},
		{"plugins", "docker plugin create e2e/plugin /tmp/e2e-plugin"},
	}
	// Three at a time: the cost is the docker CLI and the daemon under
	// emulation, and the guest has two CPUs.
	outs := make([]string, len(refused))
	t0 := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	for i, r := range refused {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			outs[i] = g.output("sudo " + r.cmd + " 2>&1; echo rc=$?")
		}()
	}
	wg.Wait()
	t.Logf("%d refusals, three at a time: %.1fs", len(refused), time.Since(t0).Seconds())
	for i, r := range refused {
		want := "fjord policy rule " + r.rule + "; relax it in host.node docker.authz"
		if out := outs[i]; !strings.Contains(out, "authorization denied by plugin fjord-authz") || !strings.Contains(out, want) || strings.Contains(out, "rc=0") {
			t.Errorf("%s: not refused by rule %s:\n%s", r.cmd, r.rule, out)
			continue
		}
		t.Logf("refused (%s): %s", r.rule, r.cmd)
	}
	testAttacksLive(t, g)
	journal := g.run(t, "sudo journalctl -u fjord-authz.service --no-pager -o cat")
	if n := strings.Count(journal, "msg=denied"); n < len(refused) {
		t.Errorf("the journal holds %d refusals, want at least %d:\n%s", n, len(refused), journal)
	}
	if !strings.Contains(journal, "rule=privileged asked=--privileged") || !strings.Contains(journal, "rule=plugins") {
		t.Errorf("the journal does not name the rules and what was asked:\n%s", journal)
	}

	// Started in a mount namespace of its own, the plugin would resolve
	// host paths in another filesystem than dockerd's: it refuses to start.
	g.run(t, `sudo sh -c 'mkdir -p /run/systemd/system/fjord-authz.service.d && printf "[Service]\\nPrivateTmp=yes\\n" >/run/systemd/system/fjord-authz.service.d/e2e.conf && systemctl daemon-reload && (systemctl restart fjord-authz.service || true)'`)
	private := g.run(t, "sudo journalctl -u fjord-authz.service --no-pager -o cat -n 20")
	g.run(t, `sudo sh -c 'rm -r /run/systemd/system/fjord-authz.service.d && systemctl daemon-reload && systemctl reset-failed fjord-authz.service && systemctl restart fjord-authz.service'`)
	if !strings.Contains(private, "another mount namespace than the daemon's") {
		t.Errorf("fjord-authz with PrivateTmp=yes did not refuse to start:\n%s", private)
	}

	// The plugin down: Docker fails closed, and so does verification.
	g.run(t, "sudo systemctl stop fjord-authz.service")
	t0 = time.Now()
	// Each waits out the daemon's retries of the plugin: both at once.
	down := g.run(t, "(sudo docker ps >/tmp/e2e-ps 2>&1; echo rc=$? >>/tmp/e2e-ps) & sudo docker run --rm --network none "+img+" /bin/busybox true 2>&1; echo rc=$?; wait; cat /tmp/e2e-ps; rm /tmp/e2e-ps")
	t.Logf("Docker with fjord-authz stopped (docker ps and docker run, at once, answered in %.1fs):\n%s", time.Since(t0).Seconds(), down)
	if strings.Contains(down, "rc=0") || strings.Count(down, "rc=") != 2 || strings.Count(down, "plugin fjord-authz") < 2 {
		t.Errorf("Docker served requests with the plugin down:\n%s", down)
	}
	r := fjord(context.Background(), append([]string{"verify", "-json"}, cfg...)...)
	if r.code == 0 || !strings.Contains(r.out, `"authz.service"`) {
		t.Errorf("verify with the plugin stopped: exit %d\n%.2000s%s", r.code, r.out, r.err)
	}
	failed, _ := failingOf(r.out)
	t.Logf("verify with fjord-authz stopped: exit %d, failing %v", r.code, failed)
	for _, id := range append([]string{"authz.service", "authz.namespace", "authz.unreadable"}, enforcedAuthzChecks...) {
		if !slices.Contains(failed, id) {
			t.Errorf("%s did not fail with the plugin stopped", id)
		}
	}
	g.run(t, "sudo systemctl start fjord-authz.service")
	if ids, _ := failingChecks(t, cfg); len(ids) != 0 {
		t.Errorf("plugin started again, still failing %v", ids)
	}
}

// failingOf reads the failing check IDs from verify -json output.
func failingOf(out string) ([]string, error) {
	var rep struct {
		Hosts []struct {
			Checks []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"checks"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return nil, err
	}
	var ids []string
	for _, h := range rep.Hosts {
		for _, c := range h.Checks {
			if c.Status == "fail" {
				ids = append(ids, c.ID)
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// TestCrashBoundaries kills apply (SIGKILL) at each boundary before the
// guest boots, and destroy in the middle: every time, plan must still work
// and destroy must leave no owned object behind. The boundary after boot is
// in TestLifecycle, where the next apply finishes the host.
func TestCrashBoundaries(t *testing.T) {
	ctx := context.Background()
	cfg := []string{"-var-file", h.varFile, h.config}
	reset(t)
	for _, at := range []string{"pool.e2e/create:done", "network.e2e/create:done", "image.bookworm/import:done",
		"host.node/volume:done", "host.node/data-disk:done", "host.node/seed:done"} {
		r := fjordEnv(ctx, []string{"FJORD_CRASH_AT=" + at}, append([]string{"apply", "-auto-approve"}, cfg...)...)
		if r.code != -1 {
			t.Fatalf("%s: apply was not killed: exit %d\n%s%s", at, r.code, r.out, r.err)
		}
		left := ownedObjects(t)
		p := fjord(ctx, append([]string{"plan", "-detailed-exitcode"}, cfg...)...)
		if p.code != 2 || !strings.Contains(p.out, "+ host.node") {
			t.Errorf("%s: plan after the kill: exit %d\n%s%s", at, p.code, p.out, p.err)
		}
		d := fjord(ctx, append([]string{"destroy", "-auto-approve", "-shutdown-timeout", "5s"}, cfg...)...)
		after := ownedObjects(t)
		t.Logf("killed at %-28s left %v; destroy exit %d, then %v", at, left, d.code, after)
		if d.code != 0 || len(after) != 0 {
			t.Errorf("%s: destroy after the kill: exit %d, left %v\n%s%s", at, d.code, after, d.out, d.err)
		}
	}

	// Two fjords on one project: the second refuses at once, naming the first.
	first := make(chan result, 1)
	go func() {
		first <- fjordEnv(ctx, []string{"FJORD_CRASH_AT=host.node/seed:done"}, append([]string{"apply", "-auto-approve"}, cfg...)...)
	}()
	var second result
	for i := 0; i < 100; i++ { // until the first holds the lock (it plans first)
		time.Sleep(100 * time.Millisecond)
		second = fjord(ctx, append([]string{"destroy", "-auto-approve", "-lock-timeout", "0s"}, cfg...)...)
		if second.code != 0 || strings.Contains(second.err, "locked") {
			break
		}
	}
	if second.code != 1 || !strings.Contains(second.err, "is locked by fjord apply these changes, pid") {
		t.Errorf("second fjord while the first applies: exit %d\n%s%s", second.code, second.out, second.err)
	}
	if r := <-first; r.code != -1 {
		t.Errorf("first apply: exit %d\n%s", r.code, r.err)
	}
	if r := fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...); r.code != 0 || len(ownedObjects(t)) != 0 {
		t.Errorf("destroy after the concurrent run: exit %d, left %v", r.code, ownedObjects(t))
	}

	// destroy killed after its first deletion, then destroy again.
	r := fjordEnv(ctx, []string{"FJORD_CRASH_AT=host.node/seed:done"}, append([]string{"apply", "-auto-approve"}, cfg...)...)
	if r.code != -1 {
		t.Fatalf("apply was not killed: exit %d", r.code)
	}
	r = fjordEnv(ctx, []string{"FJORD_CRASH_AT=volume.fjord-e2e-node-docker.qcow2/delete:done"}, append([]string{"destroy", "-auto-approve"}, cfg...)...)
	if r.code != -1 {
		t.Fatalf("destroy was not killed: exit %d\n%s%s", r.code, r.out, r.err)
	}
	half := ownedObjects(t)
	r = fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...)
	after := ownedObjects(t)
	t.Logf("destroy killed after its first volume left %v; destroy again: exit %d, then %v", half, r.code, after)
	if r.code != 0 || len(after) != 0 {
		t.Errorf("second destroy: exit %d, left %v\n%s%s", r.code, after, r.out, r.err)
	}
}

// TestForeignObjectsNamedLikeFjordsSurvive puts a volume and a domain named
// with the project's prefix next to fjord's own, then destroys: fjord
// removes its objects, never the foreign ones, and says why the pool stays.
func TestForeignObjectsNamedLikeFjordsSurvive(t *testing.T) {
	ctx := context.Background()
	cfg := []string{"-var-file", h.varFile, h.config}
	reset(t)
	if r := fjordEnv(ctx, []string{"FJORD_CRASH_AT=host.node/seed:done"}, append([]string{"apply", "-auto-approve"}, cfg...)...); r.code != -1 {
		t.Fatalf("apply was not killed: exit %d", r.code)
	}
	virsh(t, "vol-create-as", "e2e", "fjord-e2e-foreign.qcow2", "1M", "--format", "qcow2")
	dom := filepath.Join(h.work, "impostor.xml")
	os.WriteFile(dom, []byte(`<domain type='qemu'><name>e2e-impostor</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`), 0o600)
	virsh(t, "define", dom)
	defer exec.Command("virsh", "-c", "qemu:///system", "undefine", "e2e-impostor").Run()

	r := fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...)
	vols := virsh(t, "vol-list", "e2e")
	doms := virsh(t, "list", "--all", "--name")
	t.Logf("destroy next to foreign objects: exit %d; pool now holds:\n%s", r.code, vols)
	if !strings.Contains(vols, "fjord-e2e-foreign.qcow2") || !strings.Contains(doms, "e2e-impostor") {
		t.Fatalf("destroy removed a foreign object:\nvolumes:\n%s\ndomains:\n%s", vols, doms)
	}
	for _, v := range []string{"fjord-e2e-node.qcow2", "fjord-e2e-node-docker.qcow2", "fjord-e2e-node-seed.iso", "image-bookworm"} {
		if strings.Contains(vols, v) {
			t.Errorf("destroy left fjord's own %s", v)
		}
	}
	if r.code != 1 || !strings.Contains(r.out+r.err, `pool "e2e" still holds 1 volumes besides fjord's marker: left in place`) {
		t.Errorf("destroy should report the pool it kept: exit %d\n%s%s", r.code, r.out, r.err)
	}
	virsh(t, "vol-delete", "--pool", "e2e", "fjord-e2e-foreign.qcow2")
	virsh(t, "undefine", "e2e-impostor")
	if r := fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...); r.code != 0 {
		t.Fatalf("destroy once the foreign objects were gone: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if left := ownedObjects(t); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}
