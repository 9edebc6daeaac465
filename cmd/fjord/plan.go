package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
)

type planFlags struct {
	configFlags
	json             bool
	detailedExitCode bool
	out              string
}

// selectFlags narrow or force a plan: -target and -replace, repeatable.
type selectFlags struct {
	target  multi
	replace multi
}

func (s *selectFlags) register(fs *flag.FlagSet) {
	fs.Var(&s.target, "target", "limit the plan to host.NAME and what it needs (repeatable)")
	fs.Var(&s.replace, "replace", "replace host.NAME even if unchanged (repeatable)")
}

func (s *selectFlags) options() provision.PlanOptions {
	return provision.PlanOptions{Target: s.target, Replace: s.replace}
}

func runPlan(ctx context.Context, a *app, args []string) error {
	var f planFlags
	var sel selectFlags
	fs := a.newFlags("plan", "[DIR]")
	f.register(fs)
	sel.register(fs)
	fs.BoolVar(&f.json, "json", false, "print the plan as JSON")
	fs.BoolVar(&f.detailedExitCode, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	fs.StringVar(&f.out, "out", "", "save the plan to this file for fjord apply FILE")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	s, plan, d, err := a.makePlan(ctx, &f.configFlags, false, sel.options())
	if err != nil {
		return err
	}
	defer s.close()
	if len(plan.Refused) > 0 {
		renderPlan(a.stdout, plan)
		return errSilent
	}
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(plan); err != nil {
			return err
		}
	} else {
		renderPlan(a.stdout, plan)
	}
	if f.out != "" {
		if err := writeSavedPlan(f.out, &f.configFlags, sel.options(), d, plan); err != nil {
			return err
		}
		if !f.json {
			fmt.Fprintf(a.stdout, "\nSaved the plan to %s: fjord apply %s makes exactly these changes.\n", f.out, f.out)
		}
	}
	if f.detailedExitCode && plan.HasChanges() {
		return exitCodeError{exitChanges}
	}
	return nil
}

// makePlan loads, checks, connects and plans. destroy plans the removal of
// everything the project owns instead.
func (a *app) makePlan(ctx context.Context, c *configFlags, destroy bool, popts provision.PlanOptions) (*session, *provision.Plan, *provision.Desired, error) {
	cfg, err := a.load(c, !destroy)
	if err != nil {
		return nil, nil, nil, err
	}
	// Hosts are placed from what the hypervisors report, then their
	// desired state (placement included) is computed.
	s, down := a.openSome(ctx, cfg)
	if err := needed(cfg, down, destroy, popts.Target); err != nil {
		s.close()
		return nil, nil, nil, err
	}
	var d *provision.Desired
	if destroy {
		d = provision.Empty(cfg)
	} else if d, err = provision.Prepare(cfg, version); err != nil {
		s.close()
		return nil, nil, nil, err
	}
	d.Placements = s.placements
	if !destroy {
		if s.placeErr != nil {
			s.close()
			return nil, nil, nil, s.placeErr
		}
		if err := errors.Join(provision.CheckPools(ctx, cfg, s.invs, s.hvs), provision.CheckBridges(ctx, cfg, s.hvs)); err != nil {
			s.close()
			return nil, nil, nil, err
		}
	}
	return s, provision.MakePlan(d, s.invs, popts), d, nil
}

// needed fails when a hypervisor the plan needs is down: any of them,
// unless -target names hosts none of whose candidates is down.
func needed(cfg *model.Config, down map[string]error, destroy bool, targets []string) error {
	if len(down) == 0 {
		return nil
	}
	if len(targets) == 0 || destroy {
		names := make([]string, 0, len(down))
		for _, h := range cfg.Hypervisors {
			if _, ok := down[h.Name]; ok {
				names = append(names, h.Name)
			}
		}
		hint := ""
		if !destroy && len(down) < len(cfg.Hypervisors) {
			hint = fmt.Sprintf("to plan hosts elsewhere meanwhile, name them with -target (hosts that may be placed on %s cannot be)", strings.Join(names, ", "))
		}
		return downError(cfg, down, hint)
	}
	want := map[string]bool{}
	for _, t := range targets {
		want[strings.TrimPrefix(t, "host.")] = true
	}
	blocking := map[string]error{}
	for _, h := range cfg.Hosts {
		if !want[h.Name] {
			continue
		}
		for _, hv := range h.Candidates() {
			if err, ok := down[hv]; ok {
				blocking[hv] = fmt.Errorf("%w (needed by host %q)", err, h.Name)
			}
		}
	}
	if len(blocking) > 0 {
		return downError(cfg, blocking, "")
	}
	return nil
}

var actionSymbols = map[provision.Action]string{
	provision.Create:  "  + ",
	provision.Update:  "  ~ ",
	provision.Replace: "-/+ ",
	provision.Delete:  "  - ",
	provision.NoOp:    "    ",
}

// renderPlan prints changes first, then a one-line summary. Unchanged
// objects are listed in a short "no changes" section.
func renderPlan(w io.Writer, p *provision.Plan) {
	fmt.Fprintf(w, "fjord plan for project %q\n\n", p.Project)
	// Over several hypervisors, changes are grouped under the one they
	// happen on (the plan lists them hypervisor by hypervisor).
	hvs := map[string]bool{}
	for _, c := range p.Changes {
		hvs[c.Hypervisor] = true
	}
	multi := len(hvs) > 1
	var same []string
	last := ""
	for _, c := range p.Changes {
		if c.Action == provision.NoOp {
			name := c.Kind + "." + c.Name
			if multi {
				name += " (" + c.Hypervisor + ")"
			}
			same = append(same, name)
			continue
		}
		if multi && c.Hypervisor != last {
			fmt.Fprintf(w, "on hypervisor %s:\n", c.Hypervisor)
			last = c.Hypervisor
		}
		fmt.Fprintf(w, "%s%-28s %-8s %s\n", actionSymbols[c.Action], c.Kind+"."+c.Name, c.Action, provision.ReasonTexts(c.Reasons, "; "))
		if len(c.Addresses) > 0 {
			var as []string
			for _, a := range c.Addresses {
				how := "reserved"
				if a.Static {
					how = "static"
				}
				as = append(as, fmt.Sprintf("%s %s on %s (%s)", a.Interface, a.Address, a.Network, how))
			}
			fmt.Fprintf(w, "%-41s addresses: %s\n", "", strings.Join(as, ", "))
		}
	}
	for _, r := range p.Refused {
		fmt.Fprintf(w, "\nRefused: %s\n", r)
	}
	if !p.HasChanges() {
		fmt.Fprintf(w, "No changes. %d object(s) match the configuration.\n", len(same))
		return
	}
	if len(same) > 0 {
		fmt.Fprintf(w, "\nUnchanged: %s\n", strings.Join(same, ", "))
	}
	fmt.Fprintf(w, "\nPlan: %d to create, %d to update, %d to replace, %d to delete.\n",
		p.Count(provision.Create), p.Count(provision.Update), p.Count(provision.Replace), p.Count(provision.Delete))
}
