package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

type outputFlags struct {
	configFlags
	json    bool
	ansible bool
}

// outputHost is one created host as libvirt records it: what the tools
// people use next need to reach it with its pinned key.
type outputHost struct {
	Host           string      `json:"host"`
	Block          string      `json:"block"`
	Hypervisor     string      `json:"hypervisor"`
	Address        string      `json:"address"`
	User           string      `json:"user"`
	PrivateKeyFile string      `json:"private_key_file"`
	HostKey        string      `json:"host_key"`
	Fingerprint    string      `json:"fingerprint"`
	SSHAlias       string      `json:"ssh_alias"`   // in fjord's ssh config and known_hosts
	KnownHosts     string      `json:"known_hosts"` // fjord's known_hosts file for the project
	Jump           *outputJump `json:"jump,omitempty"`
}

// outputJump is the remote hypervisor a host is reached through.
type outputJump struct {
	Hypervisor string `json:"hypervisor"`
	Address    string `json:"address"` // host:port
	User       string `json:"user"`
	HostKey    string `json:"host_key,omitempty"`
	KnownHosts string `json:"known_hosts,omitempty"` // when the hypervisor trusts a known_hosts file
	ProxyCmd   string `json:"proxy_command"`
}

// runOutput prints the project's created hosts from libvirt's record (no
// state file): a table, -json, or -ansible (an Ansible YAML inventory,
// written as JSON, which YAML reads, grouped by host block).
func runOutput(ctx context.Context, a *app, args []string) error {
	var f outputFlags
	fs := a.newFlags("output", "[-json | -ansible] [DIR]")
	f.register(fs)
	fs.BoolVar(&f.json, "json", false, "print the hosts as JSON")
	fs.BoolVar(&f.ansible, "ansible", false, "print an Ansible inventory (YAML, as JSON) with each host's address, user, key, pinned host key and jump")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if f.json && f.ansible {
		return fmt.Errorf("choose -json or -ansible")
	}
	hosts, cfg, err := a.pinnedHosts(ctx, &f.configFlags)
	if err != nil {
		return err
	}
	kh, err := knownHostsPath(a.getenv, cfg.Project)
	if err != nil {
		return err
	}
	if len(hosts) > 0 {
		// The inventory points at this file: it must hold what it names.
		if err := writeKnownHosts(kh, hosts); err != nil {
			return fmt.Errorf("write %s: %w", kh, err)
		}
	}
	out := outputHosts(kh, hosts)
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	switch {
	case f.json:
		return enc.Encode(map[string]any{"project": cfg.Project, "hosts": out})
	case f.ansible:
		return enc.Encode(ansibleInventory(kh, hosts))
	}
	if len(out) == 0 {
		fmt.Fprintf(a.stdout, "Project %q has no hosts created yet.\n", cfg.Project)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tUSER\tHYPERVISOR\tHOST KEY")
	for _, h := range out {
		via := h.Hypervisor
		if h.Jump != nil {
			via += " (jump " + h.Jump.Address + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Host, h.Address, h.User, via, h.Fingerprint)
	}
	return tw.Flush()
}

func outputHosts(knownHosts string, hosts []pinnedHost) []outputHost {
	out := []outputHost{}
	for _, h := range hosts {
		o := outputHost{Host: h.host.Name, Block: h.host.Base, Hypervisor: h.host.Hypervisor, Address: h.address,
			User: h.host.SSH.User, PrivateKeyFile: h.host.SSH.PrivateKeyFile, HostKey: h.hostKey,
			Fingerprint: sshx.Fingerprint(h.hostKey), SSHAlias: h.alias, KnownHosts: knownHosts}
		if h.jump != nil {
			o.Jump = jumpOf(knownHosts, *h.jump)
		}
		out = append(out, o)
	}
	return out
}

func jumpOf(knownHosts string, hv model.Hypervisor) *outputJump {
	j := &outputJump{Hypervisor: hv.Name, HostKey: hv.HostKey, KnownHosts: hv.KnownHosts, ProxyCmd: proxyCommand(knownHosts, hv), User: "root"}
	if u, err := url.Parse(hv.URI); err == nil {
		if u.User != nil && u.User.Username() != "" {
			j.User = u.User.Username()
		}
		port := u.Port()
		if port == "" {
			port = "22"
		}
		j.Address = u.Hostname() + ":" + port
	}
	return j
}

// ansibleInventory is an Ansible inventory: every host in group "all" and
// in a group named for its host block, with the connection variables
// that make Ansible's ssh trust only the pinned key.
func ansibleInventory(knownHosts string, hosts []pinnedHost) map[string]any {
	groups := map[string]map[string]any{}
	all := map[string]any{}
	for _, h := range hosts {
		args := []string{"-o IdentitiesOnly=yes", "-o UserKnownHostsFile=" + shellWord(knownHosts), "-o StrictHostKeyChecking=yes", "-o HostKeyAlias=" + h.alias}
		if h.jump != nil {
			args = append(args, shellWord("-oProxyCommand="+proxyCommand(knownHosts, *h.jump)))
		}
		vars := map[string]any{
			"ansible_host":                 h.address,
			"ansible_user":                 h.host.SSH.User,
			"ansible_ssh_private_key_file": h.host.SSH.PrivateKeyFile,
			"ansible_ssh_common_args":      strings.Join(args, " "),
			"ansible_become":               true, // the admin user has passwordless sudo
			"fjord_hypervisor":             h.host.Hypervisor,
			"fjord_host_key":               h.hostKey,
		}
		all[h.host.Name] = vars
		name := ansibleGroup(h.host.Base)
		if groups[name] == nil {
			groups[name] = map[string]any{"hosts": map[string]any{}}
		}
		groups[name]["hosts"].(map[string]any)[h.host.Name] = map[string]any{}
	}
	children := map[string]any{}
	for n, g := range groups {
		children[n] = g
	}
	return map[string]any{"all": map[string]any{"hosts": all, "children": children}}
}

// ansibleGroup makes a host block's label a valid Ansible group name
// (letters, digits, underscores).
func ansibleGroup(block string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, block)
}

// shellWord quotes s for the shlex split Ansible applies to
// ansible_ssh_common_args.
func shellWord(s string) string {
	if !strings.ContainsAny(s, " \t'\"\\$") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
