package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

type applyFlags struct {
	configFlags
	selectFlags
	autoApprove     bool
	json            bool
	keepOnFailure   bool
	parallelism     int
	bootTimeout     time.Duration
	shutdownTimeout time.Duration
	lockTimeout     time.Duration
	rolling         bool
	maxUnavailable  int
}

// execution is what a verb hands execute beside its flags: what the plan
// is for and what it was made with.
type execution struct {
	question    string                // what the user is asked to confirm
	destroy     bool                  // the plan removes the project
	planOptions provision.PlanOptions // what the plan was made with
	hostKeys    map[string]sshx.KeyPair
}

func (f *applyFlags) register(fs *flag.FlagSet) {
	f.configFlags.register(fs)
	fs.BoolVar(&f.autoApprove, "auto-approve", false, "do not ask for confirmation")
	fs.BoolVar(&f.json, "json", false, "print progress events and the result as JSON lines")
	fs.IntVar(&f.parallelism, "parallelism", 4, "hosts worked on at once per hypervisor")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 60*time.Second, "how long a guest may take to power off (ACPI) before it is forced off")
	fs.DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long to wait for another fjord working on the same project")
}

// registerRolling adds the flags of verbs that work on existing hosts.
func (f *applyFlags) registerRolling(fs *flag.FlagSet) {
	fs.BoolVar(&f.rolling, "rolling", false, "work on hosts -max-unavailable at a time, each verified before the next, stopping at the first failure")
	fs.IntVar(&f.maxUnavailable, "max-unavailable", 1, "with -rolling: how many hosts may be worked on (and so unavailable) at once")
}

func runApply(ctx context.Context, a *app, args []string) error {
	var f applyFlags
	fs := a.newFlags("apply", "[DIR]")
	f.register(fs)
	f.registerRolling(fs)
	fs.BoolVar(&f.keepOnFailure, "keep-on-failure", false, "keep a host that failed to come up, for inspection")
	f.selectFlags.register(fs)
	fs.DurationVar(&f.bootTimeout, "boot-timeout", 10*time.Minute, "how long each wait (address, SSH, cloud-init) may take")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	opts := f.options()
	var saved *savedPlan
	if st, err := os.Stat(f.dir); err == nil && st.Mode().IsRegular() {
		// apply FILE: exactly the saved plan, read the way it was made.
		if saved, err = readSavedPlan(f.dir); err != nil {
			return err
		}
		f.configFlags = configFlags{dir: saved.Dir, vars: saved.Vars, varFiles: saved.VarFiles}
		opts, f.autoApprove = saved.Options, true
	}
	s, plan, d, err := a.makePlan(ctx, &f.configFlags, false, opts)
	if err != nil {
		return err
	}
	defer s.close()
	if saved != nil {
		if desiredDigest(d) != saved.Desired {
			return errors.New("the configuration changed since the plan was saved; nothing was changed: plan again")
		}
		if moved := planDrift(saved.Plan, plan); len(moved) > 0 {
			return fmt.Errorf("libvirt changed since the plan was saved; nothing was changed:\n  %s", strings.Join(moved, "\n  "))
		}
	}
	return a.execute(ctx, &f, s, plan, d, execution{question: "apply these changes", planOptions: opts})
}

// execute shows the plan, asks for confirmation and applies it.
func (a *app) execute(ctx context.Context, f *applyFlags, s *session, plan *provision.Plan, d *provision.Desired, x execution) error {
	if f.rolling && f.maxUnavailable < 1 {
		return fmt.Errorf("-max-unavailable must be at least 1, got %d; nothing was changed", f.maxUnavailable)
	}
	if !f.json {
		renderPlan(a.stdout, plan)
	}
	if len(plan.Refused) > 0 {
		return fmt.Errorf("nothing was changed: the plan holds %d refused change(s)", len(plan.Refused))
	}
	if !plan.HasChanges() {
		if f.json {
			return json.NewEncoder(a.stdout).Encode(map[string]any{"result": provision.Result{Hosts: []provision.HostResult{}}, "changes": 0})
		}
		return nil
	}
	if !f.autoApprove {
		if err := a.confirm(x.question); err != nil {
			return err
		}
	}
	lock, err := lockProject(ctx, a.getenv, plan.Project, x.question, f.lockTimeout)
	if err != nil {
		return err
	}
	defer lock.release()
	// Another fjord may have changed the project while this one waited or
	// asked: apply only the plan that was shown.
	if err := s.refresh(ctx); err != nil {
		return err
	}
	if diffs, refusals := provision.Diff(plan, provision.MakePlan(d, s.invs, x.planOptions)); len(diffs) > 0 || refusals {
		return errors.New("libvirt changed since the plan was shown (another fjord or a person acted on the project); nothing was changed: run the command again")
	}
	cache, _ := os.UserCacheDir()
	opts := provision.Options{
		Version:         version,
		Parallelism:     f.parallelism,
		BootTimeout:     f.bootTimeout,
		ShutdownTimeout: f.shutdownTimeout,
		KeepOnFailure:   f.keepOnFailure,
		ImageCache:      filepath.Join(cache, "fjord", "images"),
		HostKeys:        x.hostKeys,
		Rolling:         f.rolling,
		MaxUnavailable:  f.maxUnavailable,
	}
	var live *liveStatus
	if a.stdoutTerminal && !f.json {
		live = newLiveStatus(a.stdout, time.Now)
		live.start(time.Second)
	}
	opts.OnEvent = a.eventPrinter(f.json, len(s.cfg.Hypervisors) > 1, live)
	start := time.Now()
	res, err := provision.Apply(ctx, plan, d, s.hvs, opts)
	if live != nil {
		live.close()
	}
	info := a.stdout
	if f.json {
		info = io.Discard
	}
	defer func() {
		if x.destroy {
			a.withdrawAccess(ctx, s)
		} else {
			a.publishAccess(ctx, s, info)
		}
	}()
	if f.json {
		out := map[string]any{"result": res, "seconds": time.Since(start).Seconds()}
		if err != nil {
			out["error"] = err.Error()
		}
		if jerr := json.NewEncoder(a.stdout).Encode(out); jerr != nil {
			return jerr
		}
		if err != nil {
			return errSilent
		}
		return nil
	}
	a.renderResult(res, time.Since(start))
	if res != nil && res.Stopped != nil {
		st := res.Stopped
		fmt.Fprintf(a.stdout, "\nThe rolling apply stopped: %s failed after %d host(s) were done; not touched: %s. Fix the failure and apply again: it goes on from there.\n",
			strings.Join(st.Failed, ", "), st.Done, noneIfEmpty(strings.Join(st.Untouched, ", ")))
	}
	if err != nil {
		return fmt.Errorf("apply failed:\n%w", err)
	}
	return nil
}

// eventPrinter renders apply's events; multi names each object's
// hypervisor too (object@hypervisor).
// On a terminal, live (non-nil) keeps a line per object under way below them.
func (a *app) eventPrinter(asJSON, multi bool, live *liveStatus) func(provision.Event) {
	enc := json.NewEncoder(a.stdout)
	crash := crashHook()
	// Off a terminal a transfer's progress is a line every 10 s (and at
	// each step's end); on one it is the live footer's.
	lastShown := map[string]time.Time{}
	return func(e provision.Event) {
		if crash != nil {
			defer crash(e)
		}
		if asJSON {
			_ = enc.Encode(map[string]any{"event": e})
			return
		}
		obj := e.Object
		if multi && e.Hypervisor != "" {
			obj += "@" + e.Hypervisor
		}
		var line string
		switch e.Status {
		case "start":
			line = fmt.Sprintf("%s %-24s %s…\n", e.Time.Format("15:04:05"), obj, e.Phase)
		case "done":
			line = fmt.Sprintf("%s %-24s %s done (%s)\n", e.Time.Format("15:04:05"), obj, e.Phase, e.Duration.Round(100*time.Millisecond))
		case "fail":
			line = fmt.Sprintf("%s %-24s %s FAILED after %s\n", e.Time.Format("15:04:05"), obj, e.Phase, e.Duration.Round(100*time.Millisecond))
		case "progress":
			if e.Progress == nil {
				return
			}
			if live != nil {
				live.progress(e)
				return
			}
			key := obj + " " + e.Progress.Step
			if e.Progress.Done != e.Progress.Total && e.Time.Sub(lastShown[key]) < 10*time.Second {
				return
			}
			lastShown[key] = e.Time
			line = fmt.Sprintf("%s %-24s %s %s\n", e.Time.Format("15:04:05"), obj, e.Phase, progressText(*e.Progress))
		}
		if live != nil {
			live.event(e, obj, line)
			return
		}
		fmt.Fprint(a.stdout, line)
	}
}

func (a *app) renderResult(res *provision.Result, took time.Duration) {
	if res == nil || len(res.Hosts) == 0 {
		fmt.Fprintf(a.stdout, "\nDone in %s.\n", took.Round(time.Second))
		return
	}
	fmt.Fprintln(a.stdout)
	writeHuman(a.stdout, res.Hosts)
	for _, h := range res.Hosts {
		for _, g := range h.Grown {
			fmt.Fprintf(a.stdout, "host %s: %s grown online to %s (filesystem %.1f GiB)\n", h.Host,
				map[string]string{provision.PartDisk: "root disk", provision.PartDataDisk: "Docker data disk"}[g.Disk], model.Size(g.Size), float64(g.Filesystem)/float64(model.GiB))
		}
		if h.Error == "" && h.Address != "" {
			fmt.Fprintf(a.stdout, "host %s: ssh %s@%s, host key %s (pinned; fjord verify re-runs the checks)\n", h.Host, h.User, h.Address, h.Fingerprint)
		}
	}
	fmt.Fprintf(a.stdout, "\nApply finished in %s.\n", took.Round(time.Second))
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
