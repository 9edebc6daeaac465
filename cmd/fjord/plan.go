package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/fjord-dev/fjord/provision"
)

type planFlags struct {
	configFlags
	json             bool
	detailedExitCode bool
}

func runPlan(ctx context.Context, a *app, args []string) error {
	var f planFlags
	fs := a.newFlags("plan", "[DIR]")
	f.register(fs)
	fs.BoolVar(&f.json, "json", false, "print the plan as JSON")
	fs.BoolVar(&f.detailedExitCode, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	s, plan, _, err := a.makePlan(ctx, &f.configFlags, false)
	if err != nil {
		return err
	}
	defer s.close()
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(plan); err != nil {
			return err
		}
	} else {
		renderPlan(a.stdout, plan)
	}
	if f.detailedExitCode && plan.HasChanges() {
		return exitCodeError{exitChanges}
	}
	return nil
}

// makePlan loads, checks, connects and plans. destroy plans the removal of
// everything the project owns instead.
func (a *app) makePlan(ctx context.Context, c *configFlags, destroy bool) (*session, *provision.Plan, *provision.Desired, error) {
	cfg, err := a.load(c)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := a.open(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	var d *provision.Desired
	if destroy {
		d = provision.Empty(cfg.Project)
	} else {
		if err := checkPools(cfg, s.invs); err != nil {
			s.close()
			return nil, nil, nil, err
		}
		if d, err = provision.Prepare(cfg, version); err != nil {
			s.close()
			return nil, nil, nil, err
		}
	}
	return s, provision.MakePlan(d, s.invs), d, nil
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
	var same []string
	for _, c := range p.Changes {
		if c.Action == provision.NoOp {
			same = append(same, c.Kind+"."+c.Name)
			continue
		}
		fmt.Fprintf(w, "%s%-28s %-8s %s\n", actionSymbols[c.Action], c.Kind+"."+c.Name, c.Action, strings.Join(c.Reasons, "; "))
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
