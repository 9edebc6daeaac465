package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/fjord-dev/fjord/config"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/verify"
)

// configFlags are the options every command that reads HCL takes.
type configFlags struct {
	vars     multi
	varFiles multi
	dir      string
}

func (c *configFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.vars, "var", "set a variable: -var NAME=VALUE (repeatable)")
	fs.Var(&c.varFiles, "var-file", "read variables from an HCL file (repeatable)")
}

// parse reads flags and the optional DIR argument.
func (c *configFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		c.dir = "."
	case 1:
		c.dir = fs.Arg(0)
	default:
		return fmt.Errorf("too many arguments: %s (options go before DIR)", strings.Join(fs.Args()[1:], " "))
	}
	return nil
}

// load reads the configuration, printing diagnostics on failure. files
// makes it read what apply will read too (image headers, private keys).
func (a *app) load(c *configFlags, files bool) (*model.Config, error) {
	env := map[string]string{}
	for _, kv := range a.environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "FJORD_VAR_") {
			env[strings.TrimPrefix(k, "FJORD_VAR_")] = v
		}
	}
	auto, _ := filepath.Glob(filepath.Join(c.dir, "*.fjordvars"))
	sort.Strings(auto)
	res, diags := config.Load(c.dir, config.Options{Vars: c.vars, VarFiles: append(auto, c.varFiles...), Env: env, KnownCheck: verify.Known, Files: files})
	if len(diags) > 0 {
		res.WriteDiagnostics(a.stderr, diags)
	}
	if diags.HasErrors() {
		return nil, errSilent
	}
	return res.Config, nil
}

// session is a loaded configuration with open hypervisor connections.
type session struct {
	cfg  *model.Config
	hvs  map[string]provision.Hypervisor
	invs map[string]*provision.Inventory
	// placements is where each host is or goes (provision.Place), set
	// in cfg's hosts too.
	placements map[string]provision.Placement
	// placeErr names the new hosts that fit nowhere: an error for plan
	// and apply, nothing to commands that only read or destroy.
	placeErr error
}

func (s *session) close() {
	for _, h := range s.hvs {
		h.Close()
	}
}

// refresh reads every hypervisor's inventory again.
func (s *session) refresh(ctx context.Context) error {
	for name, hv := range s.hvs {
		inv, err := hv.Inventory(ctx, s.cfg.Project)
		if err != nil {
			return fmt.Errorf("hypervisor %q: %w", name, err)
		}
		s.invs[name] = inv
	}
	return nil
}

// open connects to every hypervisor and reads its inventory, all
// hypervisors at once, then places the hosts (provision.Place). Each
// connection failure names the hypervisor block.
func (a *app) open(ctx context.Context, cfg *model.Config) (*session, error) {
	s, down := a.openSome(ctx, cfg)
	if len(down) > 0 {
		s.close()
		return nil, downError(cfg, down, "")
	}
	return s, nil
}

// openSome is open that keeps the hypervisors it reached when others fail:
// down holds each failure by hypervisor name. Hosts are placed only on
// the ones reached.
func (a *app) openSome(ctx context.Context, cfg *model.Config) (*session, map[string]error) {
	s := &session{cfg: cfg, hvs: map[string]provision.Hypervisor{}, invs: map[string]*provision.Inventory{}}
	type opened struct {
		hv  provision.Hypervisor
		inv *provision.Inventory
		err error
	}
	res := make([]opened, len(cfg.Hypervisors))
	var wg sync.WaitGroup
	for i, h := range cfg.Hypervisors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.log.Debug("connecting", "hypervisor", h.Name, "uri", h.URI)
			hv, err := a.connect(ctx, h)
			if err != nil {
				res[i].err = err
				return
			}
			res[i].hv = hv
			if res[i].inv, err = hv.Inventory(ctx, cfg.Project); err != nil {
				res[i].err = err
			}
		}()
	}
	wg.Wait()
	down := map[string]error{}
	for i, h := range cfg.Hypervisors {
		if res[i].err != nil {
			if res[i].hv != nil {
				res[i].hv.Close()
			}
			down[h.Name] = res[i].err
			continue
		}
		s.hvs[h.Name] = res[i].hv
		s.invs[h.Name] = res[i].inv
	}
	s.placements, s.placeErr = provision.Place(cfg, s.invs)
	return s, down
}

// downError names every hypervisor in down, in configuration order, with
// what failed; hint is added when some work could go on without them.
func downError(cfg *model.Config, down map[string]error, hint string) error {
	var errs []error
	for _, h := range cfg.Hypervisors {
		if err, ok := down[h.Name]; ok {
			errs = append(errs, fmt.Errorf("hypervisor %q: %w", h.Name, err))
		}
	}
	if hint != "" {
		errs = append(errs, errors.New(hint))
	}
	return errors.Join(errs...)
}
