package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fjord-dev/fjord/authz/plugin"
	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
	"github.com/fjord-dev/fjord/verify"
)

// Guest is a connection to a booted host.
type Guest interface {
	verify.Session
	Close() error
}

// Dialer connects to a host with its pinned key.
type Dialer func(ctx context.Context, t sshx.Target) (Guest, error)

// DialSSH is the real Dialer.
func DialSSH(ctx context.Context, t sshx.Target) (Guest, error) { return sshx.Dial(ctx, t) }

// Event reports progress. Status is "start", "done" or "fail".
type Event struct {
	Time   time.Time `json:"time"`
	Object string    `json:"object"` // "host.web-0", "pool.default", …
	// Hypervisor is where the object is.
	Hypervisor string        `json:"hypervisor,omitempty"`
	Phase      string        `json:"phase"`
	Status     string        `json:"status"`
	Duration   time.Duration `json:"duration_ns,omitempty"`
	Message    string        `json:"message,omitempty"`
	// Progress is set on "progress" events of a phase under way that
	// moves bytes (an image downloaded, hashed, uploaded).
	Progress *Progress `json:"progress,omitempty"`
}

// Options tune Apply.
type Options struct {
	Version         string
	Parallelism     int           // hosts worked on at once per hypervisor (default 4)
	BootTimeout     time.Duration // per wait: address, SSH, cloud-init (default 10m)
	ShutdownTimeout time.Duration // ACPI shutdown before forcing off (default 60s)
	// WithoutAuthzPlugin lets a build without the plugin create hosts
	// (unit tests with fake guests only).
	WithoutAuthzPlugin bool
	PollInterval       time.Duration // between looks for an address or SSH (default 500ms: each look is one cheap call)
	KeepOnFailure      bool          // leave a failed host's objects for inspection
	ImageCache         string        // where images given by url are downloaded
	// HostKeys are host keys to reuse instead of generating new ones, by
	// host name: a rebuild keeps the host's identity.
	HostKeys map[string]sshx.KeyPair
	Dial     Dialer // default DialSSH
	// Rolling works on hosts MaxUnavailable (default 1) at a time across
	// all hypervisors, each batch verified before the next starts, and
	// stops at the first batch with a failure: the hosts after it are not
	// touched, and nothing is deleted.
	Rolling        bool
	MaxUnavailable int
	// Probe opens the connections that test each host's exposure from
	// outside; default: from here, through the hypervisor for a remote one
	// (the way SSH goes).
	Probe   verify.DialFunc
	OnEvent func(Event)
}

// HostResult is what Apply learned about one host it created or started.
type HostResult struct {
	Host        string            `json:"host"`
	Hypervisor  string            `json:"hypervisor"`
	Address     string            `json:"address,omitempty"`
	User        string            `json:"user,omitempty"`
	HostKey     string            `json:"host_key,omitempty"`
	Fingerprint string            `json:"host_key_fingerprint,omitempty"`
	Checks      []verify.Outcome  `json:"checks,omitempty"`
	Phases      map[string]string `json:"phases,omitempty"` // phase → duration
	Error       string            `json:"error,omitempty"`
	// Seconds is how long verifying the host took (fjord verify).
	Seconds float64 `json:"seconds,omitempty"`
	// Grown are the disks grown in place, with their new sizes.
	Grown []GrownDisk `json:"grown,omitempty"`
}

// GrownDisk is a disk grown online: the volume's new size and the size
// of the filesystem on it as the guest's df reports it, in bytes.
type GrownDisk struct {
	Disk       string `json:"disk"` // PartDisk or PartDataDisk
	Size       uint64 `json:"size"`
	Filesystem uint64 `json:"filesystem"`
}

// OK reports whether the host was checked and no check failed unwaived.
func (h HostResult) OK() bool { return h.Error == "" && len(verify.Failed(h.Checks)) == 0 }

// Result is the outcome of Apply.
type Result struct {
	Hosts []HostResult `json:"hosts"`
	// Stopped is set when a rolling apply stopped at a failure.
	Stopped *RollingStop `json:"stopped,omitempty"`
}

// RollingStop is where a rolling apply stopped: the hosts of the batch
// that failed, how many hosts were done before, and those never touched.
type RollingStop struct {
	Failed    []string `json:"failed"`
	Done      int      `json:"done"`
	Untouched []string `json:"untouched"`
}

// Failed reports whether any host failed.
func (r *Result) Failed() bool {
	for _, h := range r.Hosts {
		if h.Error != "" || len(verify.Failed(h.Checks)) > 0 {
			return true
		}
	}
	return false
}

type applier struct {
	d      *Desired
	hvs    map[string]Hypervisor
	opts   Options
	mu     sync.Mutex
	images map[string]string // hypervisor/pool/volume → path
}

func (a *applier) emit(e Event) {
	if a.opts.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opts.OnEvent(e)
}

// step runs fn as a phase of object, emitting start and done/fail events.
func (a *applier) step(hv, object, phase string, fn func() error) (time.Duration, error) {
	a.emit(Event{Object: object, Hypervisor: hv, Phase: phase, Status: "start"})
	t0 := time.Now()
	err := fn()
	d := time.Since(t0)
	if err != nil {
		a.emit(Event{Object: object, Hypervisor: hv, Phase: phase, Status: "fail", Duration: d, Message: err.Error()})
		return d, err
	}
	a.emit(Event{Object: object, Hypervisor: hv, Phase: phase, Status: "done", Duration: d})
	return d, nil
}

// Apply executes plan: pools and networks, then base images, then hosts in
// parallel (create, replace, start, each waited for and verified), then
// deletions in reverse dependency order. A failure of one host does not stop
// the others; an infrastructure failure (pool, network, image) on a
// hypervisor stops the run there before any of its hosts is touched, and
// the other hypervisors go on. The returned error summarises every failure.
func Apply(ctx context.Context, plan *Plan, d *Desired, hvs map[string]Hypervisor, opts Options) (*Result, error) {
	if len(plan.Refused) > 0 {
		hosts := make([]string, len(plan.Refused))
		for i, r := range plan.Refused {
			hosts[i] = r.Host
		}
		return &Result{}, fmt.Errorf("the plan is refused: protected hosts %s would be replaced or deleted", strings.Join(hosts, ", "))
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 4
	}
	if opts.BootTimeout <= 0 {
		opts.BootTimeout = 10 * time.Minute
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 60 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if opts.Dial == nil {
		opts.Dial = DialSSH
	}
	a := &applier{d: d, hvs: hvs, opts: opts, images: map[string]string{}}
	cfg := d.Config
	res := &Result{}

	// A pool, network or image that fails on a hypervisor takes that
	// hypervisor out of the run: none of its hosts is touched, nothing
	// more is done there, and the other hypervisors go on.
	down := map[string]error{}
	fail := func(hv string, err error) {
		if down[hv] == nil {
			down[hv] = err
		}
	}

	// 1. Pools and networks.
	for _, c := range plan.Changes {
		if c.Action != Create || down[c.Hypervisor] != nil {
			continue
		}
		hv := hvs[c.Hypervisor]
		var err error
		switch c.Kind {
		case KindPool:
			sp, _ := cfg.Pool(c.Name)
			_, err = a.step(c.Hypervisor, "pool."+c.Name, "create", func() error {
				return hv.EnsurePool(ctx, PoolSpec{Name: sp.Name, Path: sp.Path, Project: cfg.Project})
			})
		case KindNetwork:
			_, err = a.step(c.Hypervisor, "network."+c.Name, "create", func() error {
				return hv.EnsureNetwork(ctx, a.networkSpec(c.Name, c.Hypervisor))
			})
		}
		if err != nil {
			fail(c.Hypervisor, fmt.Errorf("%s %q on %s: %w", c.Kind, c.Name, c.Hypervisor, err))
		}
	}
	// Reservations for hosts new to a network fjord owns.
	for _, c := range plan.Changes {
		if c.Kind == KindNetwork && c.Action == NoOp && c.Owned && down[c.Hypervisor] == nil {
			if err := hvs[c.Hypervisor].EnsureNetwork(ctx, a.networkSpec(c.Name, c.Hypervisor)); err != nil {
				fail(c.Hypervisor, fmt.Errorf("network %q on %s: %w", c.Name, c.Hypervisor, err))
			}
		}
	}

	// 2. Base images: every pool a changed host needs, imported at most once.
	for _, c := range plan.Changes {
		if c.Kind != KindImage || down[c.Hypervisor] != nil || (c.Action != Create && !a.hostsNeedImage(plan, c)) {
			continue
		}
		im, _ := cfg.Image(c.Name)
		phase := map[bool]string{true: "import", false: "lookup"}[c.Action == Create]
		if im.Build != nil && c.Action == Create {
			phase = "build"
		}
		var err error
		_, err = a.step(c.Hypervisor, "image."+c.Name, phase, func() error {
			report := func(p Progress) {
				a.emit(Event{Object: "image." + c.Name, Hypervisor: c.Hypervisor, Phase: phase, Status: "progress", Progress: &p})
			}
			var path string
			var err error
			if phase == "build" {
				path, err = a.buildImage(ctx, c.Hypervisor, c.Pool, im, report)
			} else {
				path, err = importImage(ctx, hvs[c.Hypervisor], cfg.Project, c.Pool, im, opts.ImageCache, report)
			}
			if err == nil {
				a.images[c.Hypervisor+"/"+c.Pool+"/"+im.Name] = path
			}
			return err
		})
		if err != nil {
			fail(c.Hypervisor, fmt.Errorf("image %q into pool %q on %s: %w", c.Name, c.Pool, c.Hypervisor, err))
		}
	}

	// 3. Hosts, in parallel with a per-hypervisor limit, or rolling.
	if opts.Rolling {
		a.rolling(ctx, plan, res, down)
	} else {
		a.parallel(ctx, hostChanges(plan), res, down)
	}

	// 4. Deletions: hosts, then volumes, then networks and pools (not
	// after a rolling apply stopped: what follows the failure is left).
	var errs []error
	for _, kind := range []string{KindHost, KindVolume, KindNetwork, KindPool} {
		for _, c := range plan.Changes {
			if c.Kind != kind || c.Action != Delete || down[c.Hypervisor] != nil || res.Stopped != nil {
				continue
			}
			hv := hvs[c.Hypervisor]
			_, err := a.step(c.Hypervisor, kind+"."+c.Name, "delete", func() error {
				switch kind {
				case KindHost:
					return hv.RemoveDomain(ctx, DomainName(cfg.Project, c.Name), RemoveOptions{ShutdownTimeoutSeconds: int(opts.ShutdownTimeout / time.Second)})
				case KindVolume:
					return hv.DeleteVolume(ctx, c.Pool, c.Name)
				case KindNetwork:
					return hv.DeleteNetwork(ctx, c.Name)
				default:
					return hv.DeletePool(ctx, c.Name)
				}
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("delete %s %q on %s: %w", kind, c.Name, c.Hypervisor, err))
			}
		}
	}
	for _, hv := range slices.Sorted(maps.Keys(down)) {
		errs = append(errs, down[hv])
	}
	for _, h := range res.Hosts {
		if h.Error != "" {
			errs = append(errs, fmt.Errorf("host %q: %s", h.Host, h.Error))
		} else if f := verify.Failed(h.Checks); len(f) > 0 {
			errs = append(errs, fmt.Errorf("host %q failed %d verification check(s)", h.Host, len(f)))
		}
	}
	return res, errors.Join(errs...)
}

// parallel works on every host change at once, up to Parallelism per
// hypervisor.
func (a *applier) parallel(ctx context.Context, changes []Change, res *Result, down map[string]error) {
	var wg sync.WaitGroup
	sems := map[string]chan struct{}{}
	var resMu sync.Mutex
	for _, c := range changes {
		if sems[c.Hypervisor] == nil {
			sems[c.Hypervisor] = make(chan struct{}, a.opts.Parallelism)
		}
		sem := sems[c.Hypervisor]
		dh := a.d.host(c.Name)
		if err := down[c.Hypervisor]; err != nil {
			res.Hosts = append(res.Hosts, HostResult{Host: c.Name, Hypervisor: c.Hypervisor, User: dh.Spec.SSH.User,
				Error: fmt.Sprintf("not attempted: an earlier step on hypervisor %q failed (%s)", c.Hypervisor, firstWords(err))})
			continue
		}
		wg.Add(1)
		go func(c Change) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			hr := a.host(ctx, c, dh)
			resMu.Lock()
			res.Hosts = append(res.Hosts, hr)
			resMu.Unlock()
		}(c)
	}
	wg.Wait()
}

// rolling works on the host changes MaxUnavailable at a time, in the
// plan's order, and stops after the first batch in which a host failed
// to come up or to verify: the hosts after it are left as they are.
func (a *applier) rolling(ctx context.Context, plan *Plan, res *Result, down map[string]error) {
	n := a.opts.MaxUnavailable
	if n <= 0 {
		n = 1
	}
	// In the configuration's order: web-0, web-1, … whichever hypervisor
	// each is on.
	changes := hostChanges(plan)
	slices.SortStableFunc(changes, func(x, y Change) int {
		hx, hy := a.d.host(x.Name).Spec, a.d.host(y.Name).Spec
		if hx.Base != hy.Base {
			return strings.Compare(hx.Base, hy.Base)
		}
		return hx.Index - hy.Index
	})
	for i := 0; i < len(changes); i += n {
		batch := changes[i:min(i+n, len(changes))]
		from := len(res.Hosts)
		a.parallel(ctx, batch, res, down)
		var failed []string
		for _, hr := range res.Hosts[from:] {
			if !hr.OK() {
				failed = append(failed, hr.Host)
			}
		}
		if len(failed) == 0 && ctx.Err() == nil {
			continue
		}
		stop := &RollingStop{Failed: failed, Done: from + len(batch) - len(failed)}
		for _, c := range changes[i+len(batch):] {
			stop.Untouched = append(stop.Untouched, c.Name)
			res.Hosts = append(res.Hosts, HostResult{Host: c.Name, Hypervisor: c.Hypervisor, User: a.d.host(c.Name).Spec.SSH.User,
				Error: fmt.Sprintf("not attempted: the rolling apply stopped after %s failed", strings.Join(failed, ", "))})
		}
		res.Stopped = stop
		return
	}
}

// hostChanges are the plan's changes to hosts that Apply works on.
func hostChanges(plan *Plan) []Change {
	var out []Change
	for _, c := range plan.Changes {
		if c.Kind == KindHost && (c.Action == Create || c.Action == Replace || c.Action == Update) {
			out = append(out, c)
		}
	}
	return out
}

// hostsNeedImage reports whether a host change in plan will build on image c.
func (a *applier) hostsNeedImage(plan *Plan, c Change) bool {
	for _, hc := range plan.Changes {
		if hc.Kind != KindHost || hc.Hypervisor != c.Hypervisor || (hc.Action != Create && hc.Action != Replace) {
			continue
		}
		h := a.d.host(hc.Name)
		if h.Spec.Image == c.Name && h.Spec.Pool == c.Pool {
			return true
		}
	}
	return false
}

// networkSpec builds a libvirt network with a reservation for each host's
// interface on it.
func (a *applier) networkSpec(name, hv string) NetworkSpec {
	n, _ := a.d.Config.Network(name)
	gw := n.HypervisorAddress()
	last := lastUsable(n.CIDR.Masked().Addr(), n.CIDR.Bits())
	ns := NetworkSpec{
		Name:       n.Name,
		MTU:        n.MTU,
		Bridge:     NetworkBridge(a.d.Config.Project, n.Name),
		Gateway:    gw.String(),
		Prefix:     n.CIDR.Bits(),
		RangeStart: gw.Next().String(),
		RangeEnd:   last,
	}
	if n.Mode == model.NetRoute || n.Mode == model.NetNAT {
		ns.Forward = n.Mode
	}
	for _, h := range a.d.Hosts {
		if h.Spec.Hypervisor != hv {
			continue
		}
		for _, nic := range h.Spec.NICs {
			if nic.Network == name {
				ns.Hosts = append(ns.Hosts, DHCPHost{MAC: nic.MAC, IP: nic.IP.String(), Name: h.Spec.Name})
			}
		}
	}
	return ns
}

// domainNICs are a host's interfaces as libvirt attaches them.
func domainNICs(cfg *model.Config, h model.Host) []DomainNIC {
	out := make([]DomainNIC, 0, len(h.NICs))
	for _, nic := range h.NICs {
		n, _ := cfg.Network(nic.Network)
		d := DomainNIC{MAC: nic.MAC, MTU: n.MTU}
		if n.Managed() {
			d.Network = n.Name
		} else {
			d.Bridge = n.Bridge
		}
		out = append(out, d)
	}
	return out
}

func lastUsable(base interface{ As4() [4]byte }, bits int) string {
	b := base.As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += 1<<(32-bits) - 2
	return net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n)).String()
}

// host creates, replaces or starts one host, waits for it and verifies it.
func (a *applier) host(ctx context.Context, c Change, h DesiredHost) HostResult {
	cfg := a.d.Config
	hv := a.hvs[c.Hypervisor]
	obj := "host." + h.Spec.Name
	domain := DomainName(cfg.Project, h.Spec.Name)
	hr := HostResult{Host: h.Spec.Name, Hypervisor: c.Hypervisor, User: h.Spec.SSH.User, Phases: map[string]string{}}
	fail := func(err error) HostResult {
		hr.Error = err.Error()
		return hr
	}
	timed := func(phase string, fn func() error) error {
		d, err := a.step(c.Hypervisor, obj, phase, fn)
		hr.Phases[phase] = d.Round(100 * time.Millisecond).String()
		return err
	}

	hostKey := h.Meta.HostKey
	if c.Action == Update {
		// Started again: it keeps the key recorded when it was created.
		inv, err := hv.Inventory(ctx, cfg.Project)
		if err != nil {
			return fail(err)
		}
		ds, _ := findDomain(inv, domain)
		hostKey = ds.Meta.HostKey
		if c.Reconfigure {
			meta := ds.Meta
			meta.VCPU, meta.Memory, meta.Protect, meta.Autostart = h.Meta.VCPU, h.Meta.Memory, h.Meta.Protect, h.Meta.Autostart
			err := timed("reconfigure", func() error {
				// The metadata keeps the old vcpu and memory until the guest
				// runs with the new ones: an apply stopped in between leaves
				// a difference the next plan sees and finishes.
				if err := hv.Reconfigure(ctx, domain, h.Spec.VCPU, uint64(h.Spec.Memory/model.KiB), ds.Meta); err != nil {
					return err
				}
				var err error
				if ds.State == "running" {
					err = hv.Restart(ctx, domain, RemoveOptions{ShutdownTimeoutSeconds: int(a.opts.ShutdownTimeout / time.Second)})
				} else {
					err = hv.StartDomain(ctx, domain)
				}
				if err != nil {
					return err
				}
				return hv.SetMeta(ctx, domain, meta)
			})
			if err != nil {
				return fail(err)
			}
			ds.State = "restarted"
		}
		if len(c.InPlace) > 0 {
			if ds.State != "running" && ds.State != "restarted" {
				if err := timed("start", func() error { return hv.StartDomain(ctx, domain) }); err != nil {
					return fail(err)
				}
			}
			if c.Reconfigure {
				// The restart left the record with the new vcpu and memory.
				inv, err := hv.Inventory(ctx, cfg.Project)
				if err != nil {
					return fail(err)
				}
				ds, _ = findDomain(inv, domain)
			}
			if err := a.updateInPlace(ctx, hv, c, h, ds, &hr, timed); err != nil {
				return fail(err)
			}
			return hr
		}
		if !c.Reconfigure && (ds.Meta.Protect != h.Meta.Protect || ds.Autostart != h.Meta.Autostart) {
			meta := ds.Meta
			meta.Protect, meta.Autostart = h.Meta.Protect, h.Meta.Autostart
			if err := timed("metadata", func() error { return hv.SetMeta(ctx, domain, meta) }); err != nil {
				return fail(err)
			}
		}
		switch {
		case ds.State == "restarted":
		case ds.State != "running":
			if err := timed("start", func() error { return hv.StartDomain(ctx, domain) }); err != nil {
				return fail(err)
			}
		case !seedLeft(inv, a.d.Config.Project, h):
			hr.HostKey, hr.Fingerprint, hr.Address = hostKey, sshx.Fingerprint(hostKey), ds.Meta.IP
			return hr // a metadata-only update needs no wait
		}
	} else {
		if c.Action == Replace {
			err := timed("remove-old", func() error {
				if err := hv.RemoveDomain(ctx, domain, RemoveOptions{ShutdownTimeoutSeconds: int(a.opts.ShutdownTimeout / time.Second)}); err != nil {
					return err
				}
				return errors.Join(
					hv.DeleteVolume(ctx, h.Spec.Pool, OverlayVolume(cfg.Project, h.Spec.Name)),
					hv.DeleteVolume(ctx, h.Spec.Pool, SeedVolume(cfg.Project, h.Spec.Name)),
					hv.DeleteVolume(ctx, h.Spec.Pool, DataVolume(cfg.Project, h.Spec.Name)))
			})
			if err != nil {
				return fail(err)
			}
		}
		var err error
		hostKey, err = a.create(ctx, hv, c.Hypervisor, h, timed)
		if err != nil {
			if !a.opts.KeepOnFailure {
				a.cleanupHost(hv, h)
			}
			return fail(err)
		}
	}
	hr.HostKey = hostKey
	hr.Fingerprint = sshx.Fingerprint(hostKey)

	err := a.waitAndVerify(ctx, hv, h, domain, hostKey, &hr, timed)
	if err != nil {
		if c.Action != Update && !a.opts.KeepOnFailure {
			// After an error of several lines (a guest's log), the
			// aftermath goes on a line of its own.
			sep := " "
			if strings.Contains(err.Error(), "\n") {
				sep = "\n"
			}
			if cerr := a.cleanupHost(hv, h); cerr != nil {
				err = fmt.Errorf("%w%s(removing the host's domain and volumes failed too: %w; the next apply finds what is left and finishes or replaces it)", err, sep, cerr)
			} else {
				err = fmt.Errorf("%w%s(the host's domain and volumes were removed; -keep-on-failure keeps them for inspection)", err, sep)
			}
		}
		return fail(err)
	}
	return hr
}

// create makes a host's volumes and seed, then defines and boots it. It
// returns the pinned public host key.
func (a *applier) create(ctx context.Context, hv Hypervisor, hvName string, h DesiredHost, timed func(string, func() error) error) (string, error) {
	cfg := a.d.Config
	im, _ := cfg.Image(h.Spec.Image)
	var overlay, seedPath, hostKey string
	err := timed("volume", func() error {
		base := a.images[hvName+"/"+h.Spec.Pool+"/"+im.Name]
		if base == "" {
			return fmt.Errorf("base image %q is not in pool %q", im.Name, h.Spec.Pool)
		}
		// A root disk left by an interrupted run is stale: cloud-init on it
		// would skip the new seed (same instance-id) and keep old host keys.
		if err := hv.DeleteVolume(ctx, h.Spec.Pool, OverlayVolume(cfg.Project, h.Spec.Name)); err != nil {
			return err
		}
		var err error
		overlay, err = hv.CreateVolume(ctx, VolumeSpec{
			Pool: h.Spec.Pool, Name: OverlayVolume(cfg.Project, h.Spec.Name), Format: "qcow2",
			Capacity: uint64(h.Spec.Disk), Backing: &Backing{Path: base, Format: im.Format},
		})
		return err
	})
	if err != nil {
		return "", err
	}
	var data string
	if h.Spec.Docker.DataDisk > 0 {
		err = timed("data-disk", func() error {
			if err := hv.DeleteVolume(ctx, h.Spec.Pool, DataVolume(cfg.Project, h.Spec.Name)); err != nil {
				return err
			}
			var err error
			data, err = hv.CreateVolume(ctx, VolumeSpec{Pool: h.Spec.Pool, Name: DataVolume(cfg.Project, h.Spec.Name), Format: "qcow2", Capacity: uint64(h.Spec.Docker.DataDisk)})
			return err
		})
		if err != nil {
			return "", err
		}
	}
	err = timed("seed", func() error {
		kp, keep := a.opts.HostKeys[h.Spec.Name]
		if !keep {
			var err error
			if kp, err = sshx.NewHostKey(); err != nil {
				return err
			}
		}
		in := SeedInput(cfg, h.Spec)
		if len(in.AuthzPlugin) == 0 && !a.opts.WithoutAuthzPlugin {
			return plugin.ErrNoPlugin
		}
		in.HostKey = cloudinit.HostKey{PrivatePEM: kp.PrivatePEM, Public: kp.Public}
		seed, err := cloudinit.Render(in)
		if err != nil {
			return err
		}
		iso, err := seed.ISO()
		if err != nil {
			return err
		}
		// A fresh seed volume every time: an old one would carry another key.
		if err := hv.DeleteVolume(ctx, h.Spec.Pool, SeedVolume(cfg.Project, h.Spec.Name)); err != nil {
			return err
		}
		seedPath, err = hv.CreateVolume(ctx, VolumeSpec{
			Pool: h.Spec.Pool, Name: SeedVolume(cfg.Project, h.Spec.Name), Format: "raw",
			Capacity: uint64(len(iso)), Content: iso,
		})
		hostKey = kp.Public
		return err
	})
	if err != nil {
		return "", err
	}
	hvSpec, _ := cfg.Hypervisor(h.Spec.Hypervisor)
	meta := h.Meta
	meta.HostKey = hostKey
	meta.Version = a.opts.Version
	err = timed("boot", func() error {
		return hv.DefineAndStart(ctx, DomainSpec{
			Name: DomainName(cfg.Project, h.Spec.Name), VirtType: hvSpec.VirtType,
			VCPU: h.Spec.VCPU, MemoryKiB: uint64(h.Spec.Memory / model.KiB),
			DiskPath: overlay, DataPath: data, SeedPath: seedPath, NICs: domainNICs(a.d.Config, h.Spec), Meta: meta,
		})
	})
	return hostKey, err
}

// cleanupHost removes what a failed create left, on a context of its own so
// that it still runs after Ctrl-C.
func (a *applier) cleanupHost(hv Hypervisor, h DesiredHost) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := a.d.Config.Project
	_, err := a.step(h.Spec.Hypervisor, "host."+h.Spec.Name, "cleanup", func() error {
		return errors.Join(
			hv.RemoveDomain(ctx, DomainName(p, h.Spec.Name), RemoveOptions{ShutdownTimeoutSeconds: 0}),
			hv.DeleteVolume(ctx, h.Spec.Pool, OverlayVolume(p, h.Spec.Name)),
			hv.DeleteVolume(ctx, h.Spec.Pool, SeedVolume(p, h.Spec.Name)),
			hv.DeleteVolume(ctx, h.Spec.Pool, DataVolume(p, h.Spec.Name)),
		)
	})
	return err
}

// firstWords is the start of an error's first line, to refer to it
// without repeating all of it.
func firstWords(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 60 {
		cut := strings.LastIndexByte(msg[:60], ' ')
		if cut < 0 {
			cut = 60
		}
		msg = msg[:cut] + " …"
	}
	return msg
}
