package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/poll"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/spec"
	"github.com/fjord-dev/fjord/sshx"
	"github.com/fjord-dev/fjord/verify"
)

// holdsConfig reports whether dir is a directory with *.hcl files.
func holdsConfig(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	return len(m) > 0
}

type verifyFlags struct {
	configFlags
	json  bool
	junit string
	list  bool
}

func runVerify(ctx context.Context, a *app, args []string) error {
	var f verifyFlags
	fs := a.newFlags("verify", "[-dir DIR] [HOST...]")
	f.register(fs)
	fs.StringVar(&f.dir, "dir", "", "the configuration directory (default .)")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	fs.StringVar(&f.junit, "junit", "", "also write the report as JUnit XML to this file")
	fs.BoolVar(&f.list, "list", false, "list every check with its reference and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.list {
		fmt.Fprintf(a.stdout, "%-40s %-28s %-6s %s\n", verify.HostKVMID, "fjord isolation", verify.High, "QEMU runs the guest under KVM (QMP query-kvm)")
		for _, c := range append(verify.All(), verify.CanaryChecks()...) {
			fmt.Fprintf(a.stdout, "%-40s %-28s %-6s %s\n", c.ID, c.Reference, c.Severity, c.Title)
		}
		return nil
	}
	rest := fs.Args()
	if f.dir == "" {
		f.dir = "."
		// The old grammar named the directory first, unlike ssh and rebuild.
		if len(rest) > 0 && holdsConfig(rest[0]) {
			fmt.Fprintf(a.stderr, "fjord verify DIR is deprecated: use fjord verify -dir %s [HOST...]\n", rest[0])
			f.dir, rest = rest[0], rest[1:]
		}
	}
	cfg, err := a.load(&f.configFlags, false)
	if err != nil {
		return err
	}
	hosts, err := selectHosts(cfg, rest)
	if err != nil {
		return err
	}
	s, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()

	reports := make([]hostReport, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = verifyHost(ctx, cfg, s, h)
		}()
	}
	wg.Wait()

	if f.junit != "" {
		if err := writeJUnit(f.junit, reports); err != nil {
			return err
		}
	}
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"project": cfg.Project, "hosts": reports}); err != nil {
			return err
		}
	} else {
		writeHuman(a.stdout, reports)
	}
	for _, r := range reports {
		if !r.ok() {
			return errSilent
		}
	}
	return nil
}

// selectHosts picks the named hosts (all when none are named).
func selectHosts(cfg *spec.Config, names []string) ([]spec.Host, error) {
	if len(names) == 0 {
		return cfg.Hosts, nil
	}
	byName := map[string]spec.Host{}
	var all []string
	for _, h := range cfg.Hosts {
		byName[h.Name] = h
		all = append(all, h.Name)
	}
	var out []spec.Host
	for _, n := range names {
		h, ok := byName[n]
		if !ok {
			sort.Strings(all)
			return nil, fmt.Errorf("no host %q in the configuration (hosts: %s)", n, strings.Join(all, ", "))
		}
		out = append(out, h)
	}
	return out, nil
}

// verifyHost connects with the key pinned in the domain's metadata and runs
// every check.
func verifyHost(ctx context.Context, cfg *spec.Config, s *session, h spec.Host) hostReport {
	start := time.Now()
	r := hostReport{Host: h.Name, Checks: []verify.Outcome{}}
	fail := func(format string, args ...any) hostReport {
		r.Error = fmt.Sprintf(format, args...)
		r.Seconds = secondsSince(start)
		return r
	}
	var meta *provision.HostMeta
	for _, d := range s.invs[h.Hypervisor].Domains {
		if d.Meta.Host == h.Name {
			meta = &d.Meta
			if d.State != "running" {
				return fail("domain %s is %s; run fjord apply to start it", d.Name, d.State)
			}
		}
	}
	if meta == nil {
		return fail("not created yet; run fjord apply")
	}
	r.Address = meta.IP
	if st, err := s.hvs[h.Hypervisor].DomainStatus(ctx, provision.DomainName(cfg.Project, h.Name)); err == nil && len(st.Addresses) > 0 {
		r.Address = st.Addresses[0]
	}
	key, err := sshx.ReadPrivateKey(h.SSH.PrivateKeyFile)
	if err != nil {
		return fail("%v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	t := sshx.Target{Addr: net.JoinHostPort(r.Address, "22"), User: h.SSH.User, PrivateKey: key, PinnedKey: meta.HostKey}
	c, err := sshx.Dial(cctx, t)
	// sshd refuses connections for a moment while it reloads: try twice more.
	for try := 0; err != nil && !errors.Is(err, sshx.ErrHostKeyMismatch) && try < 2 && poll.Sleep(cctx, 2*time.Second) == nil; try++ {
		c, err = sshx.Dial(cctx, t)
	}
	if err != nil {
		return fail("ssh: %v", err)
	}
	defer c.Close()
	seed, err := cloudinit.Render(provision.SeedInput(cfg.Project, h))
	if err != nil {
		return fail("%v", err)
	}
	e := verify.Expect{DaemonJSON: seed.DaemonJSON, Docker: h.Docker}
	r.Checks, err = verify.Host(cctx, c, e, provision.KVMQuery(s.hvs[h.Hypervisor], provision.DomainName(cfg.Project, h.Name)))
	if err != nil {
		return fail("%v", err)
	}
	r.Seconds = secondsSince(start)
	return r
}
