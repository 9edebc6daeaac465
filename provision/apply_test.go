package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

// fakeHV is an in-memory hypervisor: enough of libvirt's behaviour to run
// the executor, safe for concurrent use, recording every call.
type fakeHV struct {
	mu       sync.Mutex
	pools    map[string]bool
	networks map[string]bool
	volumes  map[string]bool   // pool/name
	sizes    map[string]uint64 // pool/name → capacity asked for
	domains  map[string]DomainSpec
	state    map[string]string
	calls    []string
	failOn   string // a call that fails, such as "define proj-db"
	running  int    // domains being defined/started at once, and the peak
	peak     int
	meet     int // when set, DefineAndStart waits for this many at once (see there)
	// build, when set, is an image builder guest's run: given its
	// domain, it returns what the guest printed on its console before it
	// powered itself off.
	build    func(DomainSpec) string
	consoles map[string]string
}

func newFakeHV() *fakeHV {
	return &fakeHV{pools: map[string]bool{}, networks: map[string]bool{}, volumes: map[string]bool{}, sizes: map[string]uint64{},
		domains: map[string]DomainSpec{}, state: map[string]string{}}
}

func (f *fakeHV) call(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if c == f.failOn {
		return fmt.Errorf("injected failure: %s", c)
	}
	return nil
}

func (f *fakeHV) Inventory(ctx context.Context, project string) (*Inventory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv := &Inventory{}
	for p := range f.pools {
		inv.Pools = append(inv.Pools, PoolState{Name: p, Active: true, OwnedBy: project})
	}
	for n := range f.networks {
		inv.Networks = append(inv.Networks, NetworkState{Name: n, Active: true, Owned: true})
	}
	for v := range f.volumes {
		pool, name, _ := strings.Cut(v, "/")
		inv.Volumes = append(inv.Volumes, VolumeState{Pool: pool, Name: name, Path: "/" + v})
	}
	for n, d := range f.domains {
		inv.Domains = append(inv.Domains, DomainState{Name: n, State: f.state[n], Meta: d.Meta})
	}
	return inv, nil
}

func (f *fakeHV) EnsurePool(ctx context.Context, p PoolSpec) error {
	if err := f.call("pool " + p.Name); err != nil {
		return err
	}
	f.mu.Lock()
	f.pools[p.Name] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeHV) EnsureNetwork(ctx context.Context, n NetworkSpec) error {
	if err := f.call("network " + n.Name); err != nil {
		return err
	}
	f.mu.Lock()
	f.networks[n.Name] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeHV) CreateVolume(ctx context.Context, v VolumeSpec) (string, error) {
	if err := f.call("volume " + v.Name); err != nil {
		return "", err
	}
	f.mu.Lock()
	f.volumes[v.Pool+"/"+v.Name] = true
	f.sizes[v.Pool+"/"+v.Name] = v.Capacity
	f.mu.Unlock()
	return "/" + v.Pool + "/" + v.Name, nil
}

func (f *fakeHV) DeleteVolume(ctx context.Context, pool, name string) error {
	f.mu.Lock()
	delete(f.volumes, pool+"/"+name)
	f.mu.Unlock()
	return nil
}

func (f *fakeHV) DefineAndStart(ctx context.Context, d DomainSpec) error {
	f.mu.Lock()
	f.running++
	if f.running > f.peak {
		f.peak = f.running
	}
	f.mu.Unlock()
	if f.meet == 0 {
		time.Sleep(20 * time.Millisecond) // long enough for parallel hosts to overlap
	}
	// A test of parallelism: each host waits (up to a time no apply that
	// runs hosts in parallel takes to start the next) until meet hosts
	// have been in here at once, so that a loaded machine cannot make a
	// parallel apply look serial.
	for deadline := time.Now().Add(5 * time.Second); f.meet > 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		met := f.peak >= f.meet
		f.mu.Unlock()
		if met {
			break
		}
	}
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	if err := f.call("define " + d.Name); err != nil {
		return err
	}
	f.mu.Lock()
	f.domains[d.Name], f.state[d.Name] = d, "running"
	if f.build != nil && strings.Contains(d.Name, "-image.") {
		if f.consoles == nil {
			f.consoles = map[string]string{}
		}
		f.consoles[d.Name], f.state[d.Name] = f.build(d), "shutoff"
	}
	f.mu.Unlock()
	return nil
}

func (f *fakeHV) SetMeta(ctx context.Context, name string, m HostMeta) error {
	if err := f.call("meta " + name); err != nil {
		return err
	}
	f.mu.Lock()
	d := f.domains[name]
	d.Meta = m
	f.domains[name] = d
	f.mu.Unlock()
	return nil
}
func (f *fakeHV) StartDomain(ctx context.Context, name string) error { return f.call("start " + name) }

func (f *fakeHV) Restart(ctx context.Context, name string, o RemoveOptions) error {
	return f.call("restart " + name)
}

func (f *fakeHV) Reconfigure(ctx context.Context, name string, vcpu int, memKiB uint64, m HostMeta) error {
	if err := f.call(fmt.Sprintf("reconfigure %s vcpu=%d mem=%d", name, vcpu, memKiB)); err != nil {
		return err
	}
	f.mu.Lock()
	d := f.domains[name]
	d.VCPU, d.MemoryKiB, d.Meta = vcpu, memKiB, m
	f.domains[name] = d
	f.mu.Unlock()
	return nil
}

func (f *fakeHV) DomainStatus(ctx context.Context, name string) (DomainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.domains[name]
	if !ok {
		return DomainStatus{}, ErrNotFound
	}
	addr := "127.0.0.1"
	if d.Meta.IP != "" {
		addr = d.Meta.IP // the guest's reserved address: fake guests tell hosts apart by it
	}
	st := DomainStatus{State: f.state[name], Addresses: []string{addr}, Reason: d.Name}
	st.Leases = []Lease{{MAC: d.Meta.MAC, Addr: addr}}
	if len(d.NICs) > 0 {
		st.Leases[0].MAC = d.NICs[0].MAC
	}
	return st, nil
}

func (f *fakeHV) ConsoleTail(ctx context.Context, name string, lines int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.consoles[name]
}

func (f *fakeHV) RemoveDomain(ctx context.Context, name string, o RemoveOptions) error {
	f.call("remove " + name)
	f.mu.Lock()
	delete(f.domains, name)
	f.mu.Unlock()
	return nil
}

func (f *fakeHV) QueryKVM(ctx context.Context, name string) (KVMStatus, error) {
	return KVMStatus{Enabled: true, Present: true}, nil
}
func (f *fakeHV) DetachSeed(ctx context.Context, name string) error { return f.call("detach " + name) }
func (f *fakeHV) DeletePool(ctx context.Context, name string) error {
	return f.call("delete-pool " + name)
}
func (f *fakeHV) DeleteNetwork(ctx context.Context, name string) error {
	return f.call("delete-network " + name)
}
func (f *fakeHV) GrowVolume(ctx context.Context, domain, pool, volume string, size uint64) error {
	return f.call(fmt.Sprintf("grow %s %s/%s %d", domain, pool, volume, size))
}
func (f *fakeHV) Close() error { return nil }

var _ Hypervisor = (*fakeHV)(nil)

// goodGuest answers the verifier with the outputs a hardened host gave
// (recorded in ../verify/testdata/good) and the canary's.
// goodGuest answers as a hardened host of cfg (testConfig's when nil).
type goodGuest struct {
	t   *testing.T
	cfg *model.Config
}

func (g goodGuest) Run(ctx context.Context, cmd string) (sshx.Result, error) {
	if strings.Contains(cmd, "/run/cloud-init/result.json") {
		return sshx.Result{Stdout: cloudInitDone}, nil
	}
	if !strings.Contains(cmd, "@@fjord-source") {
		return sshx.Result{}, nil // sealing
	}
	var b strings.Builder
	files, _ := filepath.Glob("../verify/testdata/good/*")
	for _, f := range files {
		out, _ := os.ReadFile(f)
		id := filepath.Base(f)
		switch id {
		case "firewall":
			out = []byte(savedFirewall(g.cfg))
		case "logins":
			out = []byte(logins(g.cfg))
		}
		fmt.Fprintf(&b, "\n@@fjord-source %s\n%s\n@@fjord-source-rc %s 0\n", id, out, id)
	}
	return sshx.Result{Stdout: b.String()}, nil
}

// logins is the logins source on a host of c (testConfig's when nil):
// root locked, the admin locked with its declared keys.
func logins(c *model.Config) string {
	if c == nil {
		c = testConfig("x")
	}
	h := c.Hosts[0]
	return "@@account root L\n@@account " + h.SSH.User + " L\n" + strings.Join(h.SSH.AuthorizedKeys, "\n") + "\n"
}

// savedFirewall is what iptables-save prints on a host of testConfig once
// Docker has started: fjord's rules, Docker's jump and RETURN.
func savedFirewall(c *model.Config) string {
	if c == nil {
		c = testConfig("x")
	}
	r := firewall.For(c, c.Hosts[0])
	lines := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	return "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n" +
		lines(r.V4.Input) + "-A FORWARD -j DOCKER-USER\n" + lines(r.V4.DockerUser) + "-A DOCKER-USER -j RETURN\nCOMMIT\n" +
		"@@ip6\n*filter\n:INPUT DROP [0:0]\n" + lines(r.V6.Input) + "COMMIT\n"
}

func (g goodGuest) RunInput(ctx context.Context, cmd string, in io.Reader) (sshx.Result, error) {
	return sshx.Result{Stdout: "\n@@fjord-source canary-run\nno probe\n@@fjord-source-rc canary-run 125\n\n@@fjord-source canary-privileged\nx\n@@fjord-source-rc canary-privileged 125\n"}, nil
}

func (g goodGuest) Close() error { return nil }

func keyFile(t *testing.T) string {
	kp, _ := sshx.NewHostKey()
	p := filepath.Join(t.TempDir(), "id")
	os.WriteFile(p, []byte(kp.PrivatePEM), 0o600)
	return p
}

// applyable gives c's hosts a real client key and the hardened profile,
// and its image a file with a known checksum, so Apply can run it.
func applyable(t *testing.T, c *model.Config) {
	key := keyFile(t)
	for i := range c.Hosts {
		c.Hosts[i].SSH.PrivateKeyFile = key
		c.Hosts[i].Docker = model.HardenedDocker()
		// Unit tests run without the embedded probe: the canary is the e2e suite's.
		c.Hosts[i].Docker.Waive = map[string]string{"canary.*": "no probe in unit tests"}
	}
	c.Images[0].Path = filepath.Join(t.TempDir(), "img")
	os.WriteFile(c.Images[0].Path, []byte("image"), 0o644)
	c.Images[0].SHA256 = "6105d6cc76af400325e94d588ce511be5bfdbb73b437dc51eca43917d7a43e3d" // sha256("image")
}

func TestApplyCreatesHostsInParallelAndIsolatesFailures(t *testing.T) {
	c := testConfig("a", "b", "c", "db")
	applyable(t, c)
	d := prepare(t, c)
	hv := newFakeHV()
	hv.failOn = "define proj-db"
	hv.meet = 2
	plan := MakePlan(d, map[string]*Inventory{"hv": {}}, PlanOptions{})
	var events []Event
	var mu sync.Mutex
	res, err := Apply(context.Background(), plan, d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true,
		Parallelism: 3, PollInterval: time.Millisecond,
		Dial: func(ctx context.Context, t2 sshx.Target) (Guest, error) { return goodGuest{t: t}, nil }, Probe: noProbe,
		OnEvent: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
	})
	if err == nil || !strings.Contains(err.Error(), `host "db"`) || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Apply error = %v, want the db host's failure", err)
	}
	var ok, failed []string
	for _, h := range res.Hosts {
		if h.Error == "" {
			ok = append(ok, h.Host)
		} else {
			failed = append(failed, h.Host)
		}
	}
	sort.Strings(ok)
	for _, h := range res.Hosts {
		for _, o := range h.Checks {
			if o.Status == "fail" {
				t.Logf("%s: %s failed: %s", h.Host, o.ID, o.Detail)
			}
		}
	}
	if strings.Join(ok, ",") != "a,b,c" || strings.Join(failed, ",") != "db" {
		t.Errorf("hosts ok %v, failed %v", ok, failed)
	}
	if hv.peak < 2 || hv.peak > 3 {
		t.Errorf("at most %d hosts were booted at once, want 2..3 (parallelism 3)", hv.peak)
	}
	// The failed create cleaned up after itself: no db volumes remain, and
	// the verified hosts' seeds are gone.
	for v := range hv.volumes {
		if strings.Contains(v, "-db") || strings.HasSuffix(v, "-seed.iso") {
			t.Errorf("volume %s left behind", v)
		}
	}
	// Pools and networks came before any host; every host phase is evented.
	first := map[string]int{}
	for i, e := range events {
		if _, seen := first[e.Object]; !seen {
			first[e.Object] = i
		}
	}
	if first["pool.pool"] > first["host.a"] || first["network.net"] > first["host.a"] || first["image.deb"] > first["host.a"] {
		t.Errorf("hosts started before their pool, network or image: %v", first)
	}
}

func TestApplyRefusesARefusedPlan(t *testing.T) {
	d := prepare(t, testConfig("web"))
	hv := newFakeHV()
	_, err := Apply(context.Background(), &Plan{Refused: []Refusal{{Host: "web", Action: Delete}}}, d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true})
	if err == nil || len(hv.calls) != 0 {
		t.Fatalf("err %v, calls %v", err, hv.calls)
	}
}

func TestApplyChangesMemoryInPlace(t *testing.T) {
	c := testConfig("web")
	key := keyFile(t)
	c.Hosts[0].SSH.PrivateKeyFile = key
	c.Hosts[0].Docker = model.HardenedDocker()
	c.Hosts[0].Docker.Waive = map[string]string{"canary.*": "no probe in unit tests"}
	before := prepare(t, c)
	hv := newFakeHV()
	hv.pools["pool"], hv.networks["net"] = true, true
	hv.volumes["pool/"+OverlayVolume("proj", "web")] = true
	hv.volumes["pool/"+ImageVolume("proj", "deb", c.Images[0].SHA256, "qcow2")] = true
	hv.domains["proj-web"], hv.state["proj-web"] = DomainSpec{Name: "proj-web", Meta: before.Hosts[0].Meta}, "running"

	c.Hosts[0].Memory = 3 * model.GiB
	d := prepare(t, c)
	inv, _ := hv.Inventory(context.Background(), "proj")
	plan := MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})

	// Stopped after the definition changed but before the guest restarted:
	// the recorded memory is still the old one, so the next plan finishes.
	hv.failOn = "restart proj-web"
	if _, err := Apply(context.Background(), plan, d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true, PollInterval: time.Millisecond}); err == nil {
		t.Fatal("Apply succeeded with a failing restart")
	}
	hv.failOn = ""
	inv, _ = hv.Inventory(context.Background(), "proj")
	if inv.Domains[0].Meta.Memory != before.Hosts[0].Meta.Memory {
		t.Fatalf("after the interrupted update: %+v", inv.Domains[0])
	}
	plan = MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})
	if got := summary(plan); !strings.HasPrefix(got, "update host.web: memory: ") || !strings.Contains(got, "→ 3GiB (in place") {
		t.Fatalf("plan after the interrupted update:\n%s", got)
	}
	hv.calls = nil
	res, err := Apply(context.Background(), plan, d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true,
		PollInterval: time.Millisecond,
		Dial:         func(ctx context.Context, t2 sshx.Target) (Guest, error) { return goodGuest{t: t}, nil }, Probe: noProbe,
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	calls := strings.Join(hv.calls, "\n")
	if !strings.Contains(calls, "reconfigure proj-web vcpu=1 mem=3145728\nrestart proj-web") || strings.Contains(calls, "remove proj-web") {
		t.Errorf("calls:\n%s", calls)
	}
	if got := hv.domains["proj-web"].Meta.Memory; got != uint64(3*model.GiB) {
		t.Errorf("recorded memory = %d", got)
	}
	if len(res.Hosts) != 1 || len(res.Hosts[0].Checks) == 0 {
		t.Errorf("the restarted host was not verified: %+v", res.Hosts)
	}
}

// A network fjord did not create is used as it is: apply never defines or
// starts it, though the plan lists it; one fjord created gets the new
// hosts' reservations.
func TestApplyLeavesForeignNetworksAlone(t *testing.T) {
	for _, owned := range []bool{false, true} {
		d := prepare(t, testConfig())
		inv := &Inventory{
			Pools:    []PoolState{{Name: "pool", Path: "/srv/pool", Active: true, OwnedBy: d.Config.Project}},
			Networks: []NetworkState{{Name: "net", Active: false, Owned: owned}},
		}
		plan := MakePlan(d, map[string]*Inventory{"hv": inv}, PlanOptions{})
		hv := newFakeHV()
		if _, err := Apply(context.Background(), plan, d, map[string]Hypervisor{"hv": hv}, Options{WithoutAuthzPlugin: true}); err != nil {
			t.Fatal(err)
		}
		touched := slices.Contains(hv.calls, "network net")
		if touched != owned {
			t.Errorf("network owned=%v: EnsureNetwork called %v (calls %v)", owned, touched, hv.calls)
		}
	}
}

// Verify checks an existing host through the same CheckHost as apply: a
// missing or stopped domain is an error naming what to do; a running one
// is reached with its pinned key at its address and every check runs.
func TestVerifyAnExistingHost(t *testing.T) {
	c := testConfig("web")
	c.Hosts[0].SSH.PrivateKeyFile = keyFile(t)
	c.Hosts[0].Docker = model.HardenedDocker()
	h := c.Hosts[0]
	hv := newFakeHV()
	if r := Verify(context.Background(), c, h, hv, &Inventory{}, VerifyOptions{}); r.Error != "not created yet; run fjord apply" || r.Checks == nil {
		t.Errorf("missing domain: %+v", r)
	}
	meta := HostMeta{Host: "web", IP: "10.0.0.9", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8"}
	stopped := &Inventory{Domains: []DomainState{{Name: DomainName(c.Project, "web"), State: "shut off", Meta: meta}}}
	if r := Verify(context.Background(), c, h, hv, stopped, VerifyOptions{}); !strings.Contains(r.Error, "is shut off; run fjord apply") {
		t.Errorf("stopped domain: %+v", r)
	}
	running := &Inventory{Domains: []DomainState{{Name: DomainName(c.Project, "web"), State: "running", Meta: meta}}}
	var dialled sshx.Target
	r := Verify(context.Background(), c, h, hv, running, VerifyOptions{Probe: noProbe, Dial: func(ctx context.Context, tg sshx.Target) (Guest, error) {
		dialled = tg
		return goodGuest{t: t}, nil
	}})
	if r.Error != "" || len(r.Checks) < 50 || r.Seconds <= 0 || r.Fingerprint == "" || r.User != "admin" {
		t.Errorf("running host: error %q, %d checks, %+v", r.Error, len(r.Checks), r)
	}
	if dialled.Addr != "10.0.0.9:22" || dialled.PinnedKey != meta.HostKey {
		t.Errorf("dialled %+v", dialled)
	}
}

// catGuest answers any command with a fixed output.
type catGuest struct{ out string }

func (g catGuest) Run(ctx context.Context, cmd string) (sshx.Result, error) {
	return sshx.Result{Stdout: g.out}, nil
}
func (g catGuest) RunInput(ctx context.Context, cmd string, in io.Reader) (sshx.Result, error) {
	return sshx.Result{}, nil
}
func (g catGuest) Close() error { return nil }

// ReadHostKey hands back the live host key only when it is the pinned one.
func TestReadHostKeyChecksThePin(t *testing.T) {
	c := testConfig("web")
	c.Hosts[0].SSH.PrivateKeyFile = keyFile(t)
	live, _ := sshx.NewHostKey()
	other, _ := sshx.NewHostKey()
	var pinned string
	dial := func(ctx context.Context, tg sshx.Target) (Guest, error) {
		pinned = tg.PinnedKey
		return catGuest{live.PrivatePEM}, nil
	}
	kp, err := ReadHostKey(context.Background(), c.Hosts[0], nil, "10.0.0.9", live.Public, dial)
	if err != nil || kp.Public != live.Public || pinned != live.Public {
		t.Fatalf("pinned key read back: %v, %q", err, kp.Public)
	}
	if _, err := ReadHostKey(context.Background(), c.Hosts[0], nil, "10.0.0.9", other.Public, dial); err == nil || !strings.Contains(err.Error(), "is not the pinned key") {
		t.Fatalf("a host key other than the pinned one: %v", err)
	}
}

// routedHV is a remote hypervisor: its guests are reached through it.
type routedHV struct {
	*fakeHV
	via func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (r routedHV) Via() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return r.via
}

// A guest of a remote hypervisor is dialled through it.
func TestVerifyReachesARemoteGuestThroughItsHypervisor(t *testing.T) {
	c := testConfig("web")
	c.Hosts[0].SSH.PrivateKeyFile = keyFile(t)
	c.Hosts[0].Docker = model.HardenedDocker()
	hv := routedHV{newFakeHV(), func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") }}
	meta := HostMeta{Host: "web", IP: "10.0.0.9", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8"}
	inv := &Inventory{Domains: []DomainState{{Name: DomainName(c.Project, "web"), State: "running", Meta: meta}}}
	var through bool
	Verify(context.Background(), c, c.Hosts[0], hv, inv, VerifyOptions{Probe: noProbe, Dial: func(ctx context.Context, tg sshx.Target) (Guest, error) {
		through = tg.Via != nil
		return goodGuest{t: t}, nil
	}})
	if !through {
		t.Error("the guest of a remote hypervisor was dialled directly")
	}
}

// A hypervisor whose pool cannot be made fails its own hosts, untouched,
// and the other hypervisor's hosts are created and verified.
func TestApplyIsolatesAFailingHypervisor(t *testing.T) {
	c := fleet(2, "a", "b")
	applyable(t, c)
	invs := map[string]*Inventory{"a": {}, "b": {}}
	pl, err := Place(c, invs)
	if err != nil {
		t.Fatal(err)
	}
	d := prepare(t, c)
	d.Placements = pl
	a, b := newFakeHV(), newFakeHV()
	a.failOn = "pool pool"
	res, err := Apply(context.Background(), MakePlan(d, invs, PlanOptions{}), d, map[string]Hypervisor{"a": a, "b": b}, Options{WithoutAuthzPlugin: true,
		PollInterval: time.Millisecond,
		Dial:         func(ctx context.Context, t2 sshx.Target) (Guest, error) { return goodGuest{t: t, cfg: c}, nil }, Probe: noProbe,
	})
	if err == nil || !strings.Contains(err.Error(), `pool "pool" on a`) {
		t.Fatalf("Apply error = %v, want a's pool failure", err)
	}
	byHost := map[string]HostResult{}
	for _, h := range res.Hosts {
		byHost[h.Host] = h
	}
	if h := byHost["ci-0"]; h.Hypervisor != "a" || !strings.Contains(h.Error, "not attempted") {
		t.Errorf("ci-0 on a: %+v", h)
	}
	if h := byHost["ci-1"]; h.Hypervisor != "b" || h.Error != "" {
		t.Errorf("ci-1 on b: %+v", h)
	}
	for _, call := range a.calls {
		if call != "pool pool" {
			t.Errorf("hypervisor a was asked for %q after its pool failed", call)
		}
	}
	if len(b.domains) != 1 {
		t.Errorf("b holds %d domains, want 1", len(b.domains))
	}
}

// noProbe refuses every exposure probe: unit tests send no packets.
func noProbe(context.Context, string, string) (net.Conn, error) { return nil, syscall.ECONNREFUSED }
