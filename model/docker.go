package model

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/fjord-dev/fjord/authz"
)

// Docker is a host's Docker hardening profile. The zero value is not
// meaningful: start from HardenedDocker and change fields. Every field that
// differs from the hardened default loosens the host and becomes a waiver.
type Docker struct {
	ICC             bool   // CIS 2.2: inter-container communication on the default bridge
	UsernsRemap     bool   // CIS 2.9
	LiveRestore     bool   // CIS 2.15
	UserlandProxy   bool   // CIS 2.16
	NoNewPrivileges bool   // CIS 2.14
	LogDriver       string // CIS 2.13
	SeccompProfile  string // CIS 2.17: "" is Docker's builtin profile, else the profile's JSON
	Swarm           bool   // CIS 5.1: swarm mode is allowed
	DataDisk        Size   // CIS 1.1.1: size of /var/lib/docker's own disk, 0 for none
	Networks        []DockerNetwork
	// Publish are the container ports reachable from outside the host; the
	// host firewall drops every other inbound connection, Docker's
	// published ports included.
	Publish []Port
	// AdminSources are the prefixes the host's SSH accepts connections
	// from; nil for the management network.
	AdminSources []netip.Prefix
	// Authz is the policy of the fjord-authz plugin (CIS 2.12).
	Authz Authz
	// Waive maps a verification check ID to the reason it is waived.
	Waive map[string]string
}

// Authz is the fjord-authz policy of a host, as HCL sets it.
type Authz struct {
	// Relax maps a rule this host does not enforce to the reason.
	Relax map[string]string
	// SensitivePaths and AllowedCapabilities replace the plugin's
	// defaults when set (non-nil).
	SensitivePaths      []string
	AllowedCapabilities []string
}

// AuthzCheck is the verification check that proves rule is enforced.
func AuthzCheck(rule string) string { return "authz." + strings.ReplaceAll(rule, "_", "-") }

// AuthzPolicy is the policy the plugin enforces on host block hostBlock.
func (d Docker) AuthzPolicy(hostBlock string) authz.Policy {
	p := authz.DefaultPolicy("host." + hostBlock)
	for r := range d.Authz.Relax {
		p.Relaxed = append(p.Relaxed, r)
	}
	sort.Strings(p.Relaxed)
	if d.Authz.SensitivePaths != nil {
		p.SensitivePaths = append([]string{}, d.Authz.SensitivePaths...)
	}
	if d.Authz.AllowedCapabilities != nil {
		p.AllowedCapabilities = append([]string{}, d.Authz.AllowedCapabilities...)
	}
	return p
}

// DockerNetwork is a user-defined Docker network created on the host.
type DockerNetwork struct {
	Name     string
	Internal bool // no route out of the network
}

// HardenedDocker is the default profile: every scored check in HARDENING.md passes.
func HardenedDocker() Docker {
	return Docker{
		UsernsRemap:     true,
		LiveRestore:     true,
		NoNewPrivileges: true,
		LogDriver:       "journald",
		DataDisk:        10 * GiB,
	}
}

// Waiver is a check the host is allowed to fail, with why.
type Waiver struct {
	Check  string
	Reason string
}

// Waivers lists, sorted by check ID, what this profile loosens: each field
// set away from the hardened default, and each explicit waive entry.
func (d Docker) Waivers() []Waiver {
	h := HardenedDocker()
	m := map[string]string{}
	loosened := func(cond bool, check, what string) {
		if cond {
			m[check] = what + " (set in HCL)"
		}
	}
	loosened(d.ICC != h.ICC, "docker.icc", "icc = true")
	loosened(d.UsernsRemap != h.UsernsRemap, "docker.userns", "userns_remap = false")
	loosened(d.UsernsRemap != h.UsernsRemap, "docker.userns-range", "userns_remap = false")
	loosened(d.UsernsRemap != h.UsernsRemap, "canary.uid-map", "userns_remap = false")
	loosened(d.UsernsRemap != h.UsernsRemap, "canary.privileged-refused", "userns_remap = false")
	loosened(d.NoNewPrivileges != h.NoNewPrivileges, "canary.no-new-privs", "no_new_privileges = false")
	loosened(d.LiveRestore != h.LiveRestore, "docker.live-restore", "live_restore = false")
	loosened(d.UserlandProxy != h.UserlandProxy, "docker.userland-proxy", "userland_proxy = true")
	loosened(d.NoNewPrivileges != h.NoNewPrivileges, "docker.no-new-privileges", "no_new_privileges = false")
	loosened(d.LogDriver == "json-file", "docker.log-driver", `log_driver = "json-file" (with max-size and max-file)`)
	loosened(d.Swarm, "docker.swarm", "swarm = true")
	loosened(d.DataDisk == 0, "docker.data-disk", `data_disk = "0"`)
	for rule, why := range d.Authz.Relax {
		m[AuthzCheck(rule)] = why + " (authz rule " + rule + " relaxed in HCL)"
	}
	for k, v := range d.Waive {
		m[k] = v
	}
	out := make([]Waiver, 0, len(m))
	for k, v := range m {
		out = append(out, Waiver{Check: k, Reason: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Check < out[j].Check })
	return out
}

// validate reports impossible combinations in a host's docker settings.
func (d Docker) validate(add func(field, format string, args ...any)) {
	if d.Swarm && d.LiveRestore {
		add("docker.swarm", "live_restore cannot be used with swarm mode (Docker refuses it); set live_restore = false or swarm = false")
	}
	switch d.LogDriver {
	case "journald", "syslog", "json-file", "local", "fluentd", "gelf":
	default:
		add("docker.log_driver", "log_driver %q is not one fjord supports (journald, syslog, local, json-file, fluentd, gelf)", d.LogDriver)
	}
	if d.DataDisk != 0 && d.DataDisk < MinDisk {
		add("docker.data_disk", "data_disk must be 0 (none) or at least %s, got %s", MinDisk, d.DataDisk)
	}
	d.validatePorts(add)
	seen := map[string]bool{}
	for _, n := range d.Networks {
		if seen[n.Name] {
			add("docker", "docker network %q is declared twice", n.Name)
		}
		seen[n.Name] = true
		if n.Name == "bridge" || n.Name == "host" || n.Name == "none" {
			add("docker", "docker network %q is one of Docker's own; choose another name", n.Name)
		}
	}
}

// PermissiveSeccomp says why a daemon seccomp profile would let every
// system call it does not name through, or "" when it does not. The
// profile is decoded as dockerd decodes it (encoding/json: keys match
// case-insensitively, the last of duplicate keys wins).
func PermissiveSeccomp(profile string) string {
	if profile == "" {
		return ""
	}
	var p struct {
		DefaultAction string `json:"defaultAction"`
	}
	if err := json.Unmarshal([]byte(profile), &p); err != nil {
		return fmt.Sprintf("the profile does not decode as a seccomp profile: %v", err)
	}
	switch p.DefaultAction {
	case "":
		return "the profile has no defaultAction: say what happens to the calls it does not name (SCMP_ACT_ERRNO, as Docker's default profile does)"
	case "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE":
		return fmt.Sprintf("defaultAction %s lets every system call the profile does not name through (CIS 2.17); deny by default (SCMP_ACT_ERRNO) and allow what the containers need", p.DefaultAction)
	}
	return ""
}
