package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/fjord-dev/fjord/config"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

// runHypervisorKey prints the SSH host key a hypervisor presents, to be
// pinned in its hypervisor block: the one deliberate step before fjord
// trusts it. It authenticates nothing and changes nothing.
func runHypervisorKey(ctx context.Context, a *app, args []string) error {
	var c configFlags
	fs := a.newFlags("hypervisor-key", "[-dir DIR] NAME | qemu+ssh://USER@HOST[:PORT]/system | HOST[:PORT]")
	fs.StringVar(&c.dir, "dir", ".", "the configuration directory NAME is looked up in")
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("name the hypervisor block, its URI or its address: fjord hypervisor-key rack1-a")
	}
	target, pinned := fs.Arg(0), ""
	if !strings.ContainsAny(target, ":/.") {
		// A hypervisor block's name. Its block may lack host_key still (that
		// is what this command is for), so the configuration's own
		// problems do not stop the lookup.
		hv, err := a.hypervisorBlock(&c, target)
		if err != nil {
			return err
		}
		target, pinned = hv.URI, hv.HostKey
	}
	addr, err := sshAddress(target)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	key, err := sshx.ScanHostKey(cctx, addr, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s presents %s\n", addr, sshx.Fingerprint(key))
	if pinned != "" {
		if sshx.Fingerprint(pinned) == sshx.Fingerprint(key) {
			fmt.Fprintln(a.stdout, "That is the key pinned in its hypervisor block.")
			return nil
		}
		fmt.Fprintf(a.stdout, "Its hypervisor block pins a different key (%s): fjord refuses this hypervisor until they agree.\n", sshx.Fingerprint(pinned))
	}
	fmt.Fprintf(a.stdout, "Check that fingerprint on the hypervisor (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then pin it:\n\n  host_key = %q\n", key)
	return nil
}

// hypervisorBlock finds the hypervisor block name in c's configuration,
// whatever else is wrong with it.
func (a *app) hypervisorBlock(c *configFlags, name string) (model.Hypervisor, error) {
	res, _ := config.Load(c.dir, config.Options{Vars: c.vars, VarFiles: c.varFiles})
	if res != nil && res.Partial != nil {
		if hv, ok := res.Partial.Hypervisor(name); ok && hv.URI != "" {
			return hv, nil
		}
	}
	return model.Hypervisor{}, fmt.Errorf("no hypervisor block named %q in %s (or pass its URI: fjord hypervisor-key qemu+ssh://root@HOST/system)", name, c.dir)
}

// sshAddress is the host:port an SSH libvirt URI, or a bare address, names.
func sshAddress(s string) (string, error) {
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err == nil {
			return s, nil
		}
		return net.JoinHostPort(s, "22"), nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("%q names no host", s)
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
