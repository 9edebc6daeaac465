package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

// rebuild replaces hosts keeping their identity: name, MAC and address
// follow from the configuration anyway; each host key is read from the
// live host over the pinned connection and given to the new guest, so
// clients and known_hosts files keep working. Several hosts (or a host
// block, all its hosts) are rebuilt rolling: -max-unavailable at a time,
// each verified before the next, stopping at the first failure.
func runRebuild(ctx context.Context, a *app, args []string) error {
	var f applyFlags
	fs := a.newFlags("rebuild", "[-dir DIR] HOST|BLOCK...")
	f.register(fs)
	f.registerRolling(fs)
	fs.StringVar(&f.dir, "dir", ".", "the configuration directory")
	newKey := fs.Bool("new-host-key", false, "give the new guests new host keys (when the old hosts cannot be reached)")
	fs.DurationVar(&f.bootTimeout, "boot-timeout", 10*time.Minute, "how long each wait (address, SSH, cloud-init) may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("name the hosts to rebuild: fjord rebuild [-dir DIR] HOST|BLOCK...")
	}
	cfg, err := a.load(&f.configFlags, true)
	if err != nil {
		return err
	}
	// A block's name stands for all its hosts.
	var names []string
	for _, arg := range fs.Args() {
		arg = strings.TrimPrefix(arg, "host.")
		n := len(names)
		for _, h := range cfg.Hosts {
			if h.Name == arg || h.Base == arg {
				names = append(names, h.Name)
			}
		}
		if len(names) == n {
			return fmt.Errorf("no host or host block %q in %s; nothing was changed", arg, f.dir)
		}
	}
	f.target, f.replace = names, names
	f.rolling = f.rolling || len(names) > 1
	opts := f.options()
	s, plan, d, err := a.makePlan(ctx, &f.configFlags, false, opts)
	if err != nil {
		return err
	}
	defer s.close()
	replaced := map[string]bool{}
	for _, c := range plan.Changes {
		if c.Kind == provision.KindHost && c.Action == provision.Replace {
			replaced[c.Name] = true
		}
	}
	keys := map[string]sshx.KeyPair{}
	for _, name := range names {
		if !replaced[name] {
			return fmt.Errorf("host %q is not created yet: fjord apply creates it; nothing was changed", name)
		}
		if *newKey {
			continue
		}
		kp, err := liveHostKey(ctx, s, name)
		if err != nil {
			return fmt.Errorf("cannot keep the host key of %q: %w; pass -new-host-key to rebuild with a new one; nothing was changed", name, err)
		}
		keys[name] = kp
	}
	question := "rebuild host " + names[0] + " (its disk is replaced)"
	if len(names) > 1 {
		question = fmt.Sprintf("rebuild hosts %s, %d at a time (their disks are replaced)", strings.Join(names, ", "), f.maxUnavailable)
	}
	return a.execute(ctx, &f, s, plan, d, execution{question: question, planOptions: opts, hostKeys: keys})
}

// liveHostKey reads, from the live host, the host key pinned for it.
func liveHostKey(ctx context.Context, s *session, name string) (sshx.KeyPair, error) {
	for _, h := range s.pinnedHosts(ctx) {
		if h.host.Name == name {
			return provision.ReadHostKey(ctx, h.host, s.hvs[h.host.Hypervisor], h.address, h.hostKey, provision.DialSSH)
		}
	}
	return sshx.KeyPair{}, errors.New("the host has no pinned key recorded")
}
