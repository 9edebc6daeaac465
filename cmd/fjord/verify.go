package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
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
		for _, c := range verify.Catalog() {
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
	// An audit goes on past an unreachable hypervisor: its hosts are
	// reported unverified, with why, and the others are checked.
	s, down := a.openSome(ctx, cfg)
	defer s.close()
	if len(down) == len(cfg.Hypervisors) {
		return downError(cfg, down, "")
	}
	// Placement ran on the hypervisors reached: refresh the hosts' view of it.
	placed := map[string]string{}
	for _, h := range cfg.Hosts {
		placed[h.Name] = h.Hypervisor
	}

	reports := make([]provision.HostResult, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		h.Hypervisor = placed[h.Name]
		if r, ok := unreachableHost(h, s.placements[h.Name], down); ok {
			reports[i] = r
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = provision.Verify(ctx, cfg, h, s.hvs[h.Hypervisor], s.invs[h.Hypervisor], provision.VerifyOptions{})
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
		if !r.OK() {
			return errSilent
		}
	}
	return nil
}

// selectHosts picks the named hosts (all when none are named).
func selectHosts(cfg *model.Config, names []string) ([]model.Host, error) {
	if len(names) == 0 {
		return cfg.Hosts, nil
	}
	byName := map[string]model.Host{}
	var all []string
	for _, h := range cfg.Hosts {
		byName[h.Name] = h
		all = append(all, h.Name)
	}
	var out []model.Host
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

// unreachableHost is the report of a host that cannot be verified: it
// was found on no hypervisor reached, and one it may be on is down.
func unreachableHost(h model.Host, p provision.Placement, down map[string]error) (provision.HostResult, bool) {
	if p.Existing || len(down) == 0 {
		return provision.HostResult{}, false
	}
	var why []string
	for _, hv := range h.Candidates() {
		if err, ok := down[hv]; ok {
			why = append(why, fmt.Sprintf("hypervisor %q: %v", hv, err))
		}
	}
	if len(why) == 0 {
		return provision.HostResult{}, false
	}
	return provision.HostResult{Host: h.Name, User: h.SSH.User, Checks: []verify.Outcome{},
		Error: "not verified, its hypervisor is unreachable: " + strings.Join(why, "; ")}, true
}
