package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

// rebuild replaces one host keeping its identity: name, MAC and address
// follow from the configuration anyway; the host key is read from the live
// host over the pinned connection and given to the new guest, so clients
// and known_hosts files keep working.
func runRebuild(ctx context.Context, a *app, args []string) error {
	var f applyFlags
	fs := a.newFlags("rebuild", "[-dir DIR] HOST")
	f.register(fs)
	fs.StringVar(&f.dir, "dir", ".", "the configuration directory")
	newKey := fs.Bool("new-host-key", false, "give the new guest a new host key (when the old host cannot be reached)")
	fs.DurationVar(&f.bootTimeout, "boot-timeout", 10*time.Minute, "how long each wait (address, SSH, cloud-init) may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("name one host: fjord rebuild [-dir DIR] HOST")
	}
	name := fs.Arg(0)
	f.target, f.replace = multi{name}, multi{name}
	opts := f.options()
	s, plan, d, err := a.makePlan(ctx, &f.configFlags, false, opts)
	if err != nil {
		return err
	}
	defer s.close()
	var found bool
	for _, c := range plan.Changes {
		if c.Kind == provision.KindHost && c.Name == name {
			found = c.Action == provision.Replace
		}
	}
	if !found {
		return fmt.Errorf("host %q is not created yet (or not in the configuration): fjord apply creates it", name)
	}
	keys := map[string]sshx.KeyPair{}
	if !*newKey {
		kp, err := liveHostKey(ctx, s, name)
		if err != nil {
			return fmt.Errorf("cannot keep the host key of %q: %w; pass -new-host-key to rebuild with a new one", name, err)
		}
		keys[name] = kp
	}
	return a.execute(ctx, &f, s, plan, d, execution{question: "rebuild host " + name + " (its disk is replaced)", planOptions: opts, hostKeys: keys})
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
