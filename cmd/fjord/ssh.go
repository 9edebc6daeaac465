package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
)

// pinnedHost is what OpenSSH needs to reach a host fjord created.
type pinnedHost struct {
	alias   string
	host    model.Host
	address string
	hostKey string
	// jump is the remote hypervisor the host is reached through (nil: directly).
	jump *model.Hypervisor
}

// pinnedHosts reads, for each created host of the configuration, the
// address and the host key pinned in its domain's metadata.
func (a *app) pinnedHosts(ctx context.Context, c *configFlags) ([]pinnedHost, *model.Config, error) {
	cfg, err := a.load(c, false)
	if err != nil {
		return nil, nil, err
	}
	s, err := a.open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer s.close()
	return s.pinnedHosts(ctx), cfg, nil
}

func (s *session) pinnedHosts(ctx context.Context) []pinnedHost {
	var out []pinnedHost
	for _, h := range s.cfg.Hosts {
		for _, d := range s.invs[h.Hypervisor].Domains {
			if d.Meta.Host != h.Name || d.Meta.HostKey == "" {
				continue
			}
			addr := provision.CurrentAddress(ctx, s.hvs[h.Hypervisor], d.Name, d.Meta.MAC, d.Meta.IP)
			ph := pinnedHost{alias: provision.DomainName(s.cfg.Project, h.Name), host: h, address: addr, hostKey: d.Meta.HostKey}
			if hv, ok := s.cfg.Hypervisor(h.Hypervisor); ok && hv.OverSSH() {
				ph.jump = &hv
			}
			out = append(out, ph)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].alias < out[j].alias })
	return out
}

// knownHostsPath is where fjord keeps the pinned keys of a project for
// OpenSSH: under the user's state directory, never in /tmp.
func knownHostsPath(getenv func(string) string, project string) (string, error) {
	dir, err := projectStateDir(getenv, project)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "known_hosts"), nil
}

// projectStateDir is where fjord keeps a project's local state (the
// pinned keys' known_hosts file, the lock): XDG_STATE_HOME/fjord/PROJECT.
func projectStateDir(getenv func(string) string, project string) (string, error) {
	dir := getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for fjord's state: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "fjord", project), nil
}

// writeKnownHosts writes one line per host: its alias and address, both
// bound to the pinned key.
func writeKnownHosts(path string, hosts []pinnedHost) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	jumps := map[string]bool{}
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s,%s %s\n", h.alias, h.address, h.hostKey)
		if h.jump != nil && h.jump.HostKey != "" && !jumps[h.jump.Name] {
			jumps[h.jump.Name] = true
			fmt.Fprintf(&b, "%s %s\n", jumpAlias(*h.jump), h.jump.HostKey)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// jumpAlias names a hypervisor's pinned key in fjord's known_hosts.
func jumpAlias(hv model.Hypervisor) string { return "fjord-hypervisor-" + hv.Name }

// proxyCommand reaches a host through its remote hypervisor with the
// system ssh, checking the hypervisor's pinned key as strictly as the
// host's (what ProxyJump would do, but with fjord's known_hosts).
func proxyCommand(knownHosts string, hv model.Hypervisor) string {
	u, _ := url.Parse(hv.URI)
	user, port := "root", "22"
	if u != nil && u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	if u != nil && u.Port() != "" {
		port = u.Port()
	}
	host := ""
	if u != nil {
		host = u.Hostname()
	}
	identity := "" // the agent's keys
	if hv.SSHKeyFile != "" {
		identity = "-i " + shellWord(hv.SSHKeyFile) + " -o IdentitiesOnly=yes "
	}
	// A pinned host_key is in fjord's known_hosts under an alias; a
	// known_hosts file of the user's is used as it is.
	// OpenSSH runs a ProxyCommand with the shell: paths are quoted.
	trust := fmt.Sprintf("-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o HostKeyAlias=%s", shellWord(knownHosts), jumpAlias(hv))
	if hv.HostKey == "" && hv.KnownHosts != "" {
		trust = "-o UserKnownHostsFile=" + shellWord(hv.KnownHosts) + " -o StrictHostKeyChecking=yes"
	}
	return fmt.Sprintf("ssh %s%s -p %s -W %%h:%%p %s@%s", identity, trust, port, user, host)
}

func sshOptions(knownHosts string, h pinnedHost) []string {
	opts := []string{"-i", h.host.SSH.PrivateKeyFile, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "HostKeyAlias=" + h.alias, "-l", h.host.SSH.User}
	if h.jump != nil {
		opts = append(opts, "-o", "ProxyCommand="+proxyCommand(knownHosts, *h.jump))
	}
	return opts
}

func runSSHConfig(ctx context.Context, a *app, args []string) error {
	var c configFlags
	fs := a.newFlags("ssh-config", "[DIR]")
	c.register(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	hosts, cfg, err := a.pinnedHosts(ctx, &c)
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("project %q has no hosts created yet; run fjord apply", cfg.Project)
	}
	kh, err := knownHostsPath(a.getenv, cfg.Project)
	if err != nil {
		return err
	}
	if err := writeKnownHosts(kh, hosts); err != nil {
		return fmt.Errorf("write %s: %w", kh, err)
	}
	fmt.Fprint(a.stdout, sshConfigText(cfg.Project, kh, hosts))
	return nil
}

// sshConfigText is an OpenSSH config with one Host block per host, named
// PROJECT-HOST, that trusts only the pinned key.
func sshConfigText(project, knownHosts string, hosts []pinnedHost) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# fjord project %s: host keys pinned by fjord, in %s\n", project, knownHosts)
	for _, h := range hosts {
		fmt.Fprintf(&b, "\nHost %s\n  HostName %s\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  HostKeyAlias %s\n",
			h.alias, h.address, h.host.SSH.User, h.host.SSH.PrivateKeyFile, knownHosts, h.alias)
		if h.jump != nil {
			fmt.Fprintf(&b, "  ProxyCommand %s\n", proxyCommand(knownHosts, *h.jump))
		}
	}
	return b.String()
}

func runSSH(ctx context.Context, a *app, args []string) error {
	var c configFlags
	fs := a.newFlags("ssh", "[-dir DIR] HOST [-- COMMAND...]")
	c.register(fs)
	fs.StringVar(&c.dir, "dir", ".", "the configuration directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("name the host: fjord ssh HOST [-- COMMAND]")
	}
	name, cmd := rest[0], rest[1:]
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	hosts, cfg, err := a.pinnedHosts(ctx, &c)
	if err != nil {
		return err
	}
	var target *pinnedHost
	for i := range hosts {
		if hosts[i].host.Name == name {
			target = &hosts[i]
		}
	}
	if target == nil {
		return fmt.Errorf("host %q of project %q is not created (or not in the configuration); run fjord apply", name, cfg.Project)
	}
	kh, err := knownHostsPath(a.getenv, cfg.Project)
	if err != nil {
		return err
	}
	if err := writeKnownHosts(kh, hosts); err != nil {
		return fmt.Errorf("write %s: %w", kh, err)
	}
	sshArgs := append(sshOptions(kh, *target), target.address)
	if len(cmd) > 0 {
		sshArgs = append(sshArgs, "--")
		sshArgs = append(sshArgs, cmd...)
	}
	p := exec.CommandContext(ctx, "ssh", sshArgs...)
	p.Stdin, p.Stdout, p.Stderr = a.stdin, a.stdout, a.stderr
	if err := p.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitCodeError{ee.ExitCode()}
		}
		return fmt.Errorf("run ssh: %w", err)
	}
	return nil
}
