package verify

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/hardening"
	"github.com/fjord-dev/fjord/model"
)

// Sources are the commands checks read, keyed by ID. They run as root.
var Sources = map[string]string{
	"virt":        "systemd-detect-virt --vm",
	"kconfig":     `grep -E '^CONFIG_SECCOMP(_FILTER)?=' "/boot/config-$(uname -r)"`,
	"cgroup":      "stat -fc %T /sys/fs/cgroup",
	"apparmor":    "aa-status --enabled && echo enabled",
	"sysctl":      "sysctl -e " + strings.Join(sysctlKeys(), " "),
	"daemon-json": "cat /etc/docker/daemon.json",
	// docker_info is the probe's answer (see dockerProbe): its JSON line.
	"docker-info":  `printf '%s\n' "$docker_info" | grep -m 1 '^{'`,
	"subuid":       "grep '^dockremap:' /etc/subuid",
	"dockerd-args": "ps -o args= -C dockerd",
	"sshd":         "sshd -T",
	"data-disk":    "findmnt -n -o SOURCE,FSTYPE /var/lib/docker",
	"docker-group": "getent group docker",
	"audit":        "auditctl -l; echo @@exists; for p in " + strings.Join(auditPaths, " ") + "; do [ -e \"$p\" ] && echo \"$p\"; done; true",
	"files":        "for p in " + strings.Join(filePaths(), " ") + "; do [ -e \"$p\" ] && stat -L -c '%n %U:%G %a' \"$p\"; done; true",
	"networks":     "docker network ls --format '{{.Name}} {{.Internal}}'",
	"firewall":     "iptables-save -t filter && echo @@ip6 && ip6tables-save -t filter",
	// The seccomp options the running daemon reports, and the profile file
	// daemon.json names, if any.
	"seccomp": `printf '%s\n' "$docker_info" | sed -n '/^{/,$p' | sed 1d; ` +
		`p=$(sed -n 's/.*"seccomp-profile"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' /etc/docker/daemon.json | head -n 1); case "$p" in /*) echo "@@profile $p"; cat "$p";; esac`,
	"containers": `for id in $(docker ps -q); do
  echo "@@container $id"; docker inspect "$id"
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  echo "@@status $id"; grep -E '^(CapEff|Seccomp|NoNewPrivs):' "/proc/$pid/status"
done`,
}

// sysctlRule is one kernel setting: op is "=" or ">=".
type sysctlRule struct {
	key, op, want string
}

// sysctlRules are HARDENING.md's kernel settings, one check each.
var sysctlRules = []sysctlRule{
	{"kernel.kptr_restrict", ">=", "1"},
	{"kernel.dmesg_restrict", "=", "1"},
	{"kernel.yama.ptrace_scope", ">=", "1"},
	{"kernel.unprivileged_bpf_disabled", ">=", "1"},
	{"kernel.perf_event_paranoid", ">=", "2"},
	{"kernel.randomize_va_space", "=", "2"},
	{"fs.protected_hardlinks", "=", "1"},
	{"fs.protected_symlinks", "=", "1"},
	{"fs.suid_dumpable", "=", "0"},
	{"net.ipv4.conf.all.rp_filter", "=", "1"},
	{"net.ipv4.conf.all.accept_redirects", "=", "0"},
	{"net.ipv4.conf.all.send_redirects", "=", "0"},
	{"net.ipv4.conf.all.accept_source_route", "=", "0"},
	{"net.ipv4.tcp_syncookies", "=", "1"},
	{"net.ipv4.ip_forward", "=", "1"}, // required by Docker: dev-sec sysctl-01 is waived by design
	{"user.max_user_namespaces", ">=", "1"},
}

func sysctlKeys() []string {
	k := make([]string, len(sysctlRules))
	for i, r := range sysctlRules {
		k[i] = r.key
	}
	return k
}

// fileRule is CIS 3.x: owner and the highest mode allowed.
type fileRule struct {
	path, owner string
	maxMode     int
	cis         string
}

var fileRules = []fileRule{
	{"/lib/systemd/system/docker.service", "root:root", 0o644, "CIS 3.1-3.2"},
	{"/lib/systemd/system/docker.socket", "root:root", 0o644, "CIS 3.3-3.4"},
	{"/etc/docker", "root:root", 0o755, "CIS 3.5-3.6"},
	{"/run/docker.sock", "root:docker", 0o660, "CIS 3.15-3.16"},
	{"/etc/docker/daemon.json", "root:root", 0o644, "CIS 3.17-3.18"},
	{"/run/containerd/containerd.sock", "root:root", 0o660, "CIS 3.23-3.24"},
}

func filePaths() []string {
	p := make([]string, len(fileRules))
	for i, r := range fileRules {
		p[i] = r.path
	}
	return p
}

// auditPaths must each have a -w PATH -p rwxa rule when PATH exists.
var auditPaths = []string{"/usr/bin/dockerd", "/usr/sbin/dockerd", "/usr/bin/containerd", "/usr/bin/runc", "/usr/sbin/runc",
	"/var/lib/docker", "/etc/docker", "/lib/systemd/system/docker.service", "/lib/systemd/system/docker.socket",
	"/run/containerd/containerd.sock", "/etc/docker/daemon.json"}

// sshdRules are dev-sec ssh-baseline settings read from sshd -T.
var sshdRules = []struct {
	key, op, want string
}{
	{"permitrootlogin", "=", "no"},
	{"passwordauthentication", "=", "no"},
	{"kbdinteractiveauthentication", "=", "no"},
	{"permitemptypasswords", "=", "no"},
	{"pubkeyauthentication", "=", "yes"},
	{"x11forwarding", "=", "no"},
	{"allowagentforwarding", "=", "no"},
	{"allowtcpforwarding", "=", "no"},
	{"permittunnel", "=", "no"},
	{"maxauthtries", "<=", "3"},
	{"logingracetime", "<=", "30"},
	{"clientaliveinterval", ">", "0"},
}

// All is the full check table, in report order.
func All() []Check {
	cs := []Check{
		{ID: "guest.kvm", Reference: "fjord isolation", Title: "The guest runs under hardware virtualization (KVM)", Severity: High, Source: "virt",
			Hint: "use a hypervisor with working KVM and virt_type = \"kvm\"; waive guest.kvm only for test hosts",
			Judge: func(o Output, _ Expect) string {
				if got := strings.TrimSpace(o.Text); got != "kvm" {
					return fmt.Sprintf("systemd-detect-virt says %q, not kvm", got)
				}
				return ""
			}},
		{ID: "kernel.seccomp", Reference: "fjord isolation", Title: "The guest kernel has seccomp filtering built in", Severity: High, Source: "kconfig",
			Hint: "use a kernel built with CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y",
			Judge: func(o Output, _ Expect) string {
				for _, k := range []string{"CONFIG_SECCOMP=y", "CONFIG_SECCOMP_FILTER=y"} {
					if !hasLine(o.Text, k) {
						return k + " not found in the kernel config"
					}
				}
				return ""
			}},
		{ID: "kernel.cgroup2", Reference: "fjord isolation", Title: "cgroup v2 is mounted", Severity: Medium, Source: "cgroup",
			Hint:  "boot with systemd's unified cgroup hierarchy",
			Judge: func(o Output, _ Expect) string { return expectText(o, "cgroup2fs") }},
		{ID: "kernel.apparmor", Reference: "CIS 5.1 (AppArmor)", Title: "AppArmor is enabled", Severity: High, Source: "apparmor",
			Hint: "install apparmor and boot with apparmor=1 security=apparmor",
			Judge: func(o Output, _ Expect) string {
				if o.Code != 0 || !hasLine(o.Text, "enabled") {
					return "aa-status --enabled: " + orEmpty(o.Text)
				}
				return ""
			}},
	}
	for _, r := range sysctlRules {
		r := r
		cs = append(cs, Check{ID: "sysctl." + r.key, Reference: "dev-sec linux-baseline", Title: fmt.Sprintf("sysctl %s %s %s", r.key, r.op, r.want),
			Severity: Medium, Source: "sysctl", Hint: "fjord writes /etc/sysctl.d/90-fjord.conf; run sysctl --system",
			Judge: func(o Output, _ Expect) string {
				got, ok := keyValues(o.Text, " = ")[r.key]
				if !ok {
					return r.key + " is not present on this kernel"
				}
				if !compare(got, r.op, r.want) {
					return fmt.Sprintf("%s is %s", r.key, got)
				}
				return ""
			}})
	}
	cs = append(cs, daemonChecks()...)
	cs = append(cs,
		Check{ID: "docker.userns", Reference: "CIS 2.9", Title: "Docker runs with user-namespace remapping", Severity: High, Source: "docker-info",
			Hint:  `set "userns-remap": "default" in /etc/docker/daemon.json and restart docker`,
			Judge: func(o Output, _ Expect) string { return securityOption(o, "name=userns") }},
		Check{ID: "docker.userns-range", Reference: "CIS 2.9", Title: "Docker's root dir is the remapped one from /etc/subuid", Severity: High, Source: "subuid",
			Hint: "let Docker create the dockremap user, then restart docker",
			Judge: func(o Output, _ Expect) string {
				f := strings.Split(strings.TrimSpace(o.Text), ":")
				if o.Code != 0 || len(f) != 3 {
					return "no dockremap range in /etc/subuid"
				}
				if f[2] != "65536" {
					return fmt.Sprintf("dockremap has %s ids, want 65536", f[2])
				}
				return ""
			}},
		Check{ID: "docker.seccomp", Reference: "CIS 2.17", Title: "Docker applies a seccomp profile that denies by default", Severity: High, Source: "seccomp",
			Hint: `remove "seccomp-profile" from daemon.json, or point it at a profile whose defaultAction is SCMP_ACT_ERRNO`,
			Judge: func(o Output, e Expect) string {
				opts, profile, custom := strings.Cut(o.Text, "@@profile ")
				for _, s := range strings.Split(opts, "\n") {
					s = strings.TrimSpace(s)
					if !strings.HasPrefix(s, "name=seccomp") {
						continue
					}
					if strings.Contains(s, "profile=unconfined") {
						return "the daemon runs containers unconfined"
					}
					if !custom {
						return "" // Docker's builtin profile
					}
					// The profile the running daemon names, as it is on disk:
					// a file swapped under it is what the next start loads.
					path, body, _ := strings.Cut(profile, "\n")
					if why := model.PermissiveSeccomp(body); why != "" {
						return fmt.Sprintf("the daemon's profile %s: %s", strings.TrimSpace(path), why)
					}
					return ""
				}
				return fmt.Sprintf("docker info's security options have no seccomp entry: %s", orEmpty(strings.TrimSpace(opts)))
			}},
		Check{ID: "docker.apparmor", Reference: "CIS 5.1", Title: "Docker applies AppArmor profiles", Severity: High, Source: "docker-info",
			Hint:  "install apparmor on the host and restart docker",
			Judge: func(o Output, _ Expect) string { return securityOption(o, "name=apparmor") }},
		Check{ID: "docker.swarm", Reference: "CIS 5.1", Title: "Swarm mode is inactive", Severity: Medium, Source: "docker-info",
			Hint: "docker swarm leave --force, unless the host is meant to be a swarm node (swarm = true)",
			Judge: func(o Output, _ Expect) string {
				info, err := dockerInfo(o)
				if err != "" {
					return err
				}
				if info.Swarm.LocalNodeState != "inactive" {
					return "swarm state is " + info.Swarm.LocalNodeState
				}
				return ""
			}},
		Check{ID: "docker.tcp", Reference: "CIS 2.7", Title: "The daemon listens on its unix socket only", Severity: High, Source: "dockerd-args",
			Hint: "remove -H tcp://… from docker.service and \"hosts\" from daemon.json; use docker -H ssh:// instead",
			Judge: func(o Output, _ Expect) string {
				if strings.Contains(o.Text, "tcp://") {
					return "dockerd runs with " + o.Text
				}
				if strings.TrimSpace(o.Text) == "" {
					return "dockerd is not running"
				}
				return ""
			}},
		Check{ID: "docker.data-disk", Reference: "CIS 1.1.1", Title: "/var/lib/docker is on its own disk", Severity: Medium, Source: "data-disk",
			Hint: "give the host a docker data_disk",
			Judge: func(o Output, _ Expect) string {
				if o.Code != 0 || strings.TrimSpace(o.Text) == "" {
					return "/var/lib/docker is not a mount point"
				}
				return ""
			}},
		Check{ID: "docker.group", Reference: "CIS 1.1.2", Title: "The docker group has no members", Severity: High, Source: "docker-group",
			Hint: "gpasswd -d USER docker; admins use sudo",
			Judge: func(o Output, _ Expect) string {
				f := strings.Split(strings.TrimSpace(o.Text), ":")
				if len(f) == 4 && f[3] != "" {
					return "members: " + f[3]
				}
				return ""
			}},
		Check{ID: "docker.audit", Reference: "CIS 1.1.3-1.1.18", Title: "auditd watches Docker's files", Severity: Medium, Source: "audit",
			Hint: "load fjord's rules: augenrules --load",
			Judge: func(o Output, _ Expect) string {
				rules, exists, _ := strings.Cut(o.Text, "@@exists")
				if strings.Contains(rules, "command not found") || strings.TrimSpace(exists) == "" && o.Code != 0 {
					return "auditctl failed: " + orEmpty(rules)
				}
				var missing []string
				for _, p := range strings.Fields(exists) {
					if !strings.Contains(rules, "-w "+p+" -p rwxa") {
						missing = append(missing, p)
					}
				}
				if len(missing) > 0 {
					return "no audit rule for " + strings.Join(missing, ", ")
				}
				return ""
			}},
		Check{ID: "firewall.input", Reference: "fjord segregation", Title: "The host firewall drops all inbound traffic but SSH from admin_sources and the declared ports", Severity: High, Source: "firewall",
			Hint: "re-apply the host (systemctl restart fjord-firewall reloads fjord's rules); rules added by hand belong in the configuration",
			Judge: func(o Output, e Expect) string {
				v4, v6, err := savedTables(o)
				if err != nil {
					return err.Error()
				}
				bad := firewall.JudgeInput(v4, e.Firewall.V4)
				for _, b := range firewall.JudgeInput(v6, e.Firewall.V6) {
					bad = append(bad, "IPv6: "+b)
				}
				return strings.Join(bad, "; ")
			}},
		Check{ID: "firewall.docker-user", Reference: "fjord segregation", Title: "Docker's published ports pass the host firewall (DOCKER-USER) only when declared", Severity: High, Source: "firewall",
			Hint: "re-apply the host (systemctl restart fjord-firewall reloads fjord's rules, then systemctl restart docker puts its jump first)",
			Judge: func(o Output, e Expect) string {
				v4, _, err := savedTables(o)
				if err != nil {
					return err.Error()
				}
				return strings.Join(firewall.JudgeDockerUser(v4, e.Firewall.V4), "; ")
			}},
		Check{ID: "docker.networks", Reference: "fjord segregation", Title: "The declared Docker networks exist, internal where asked", Severity: Medium, Source: "networks",
			Hint: "re-apply the host; fjord creates the networks on first boot",
			Judge: func(o Output, e Expect) string {
				have := keyValues(o.Text, " ")
				var bad []string
				for _, n := range e.Docker.Networks {
					internal, ok := have[n.Name]
					switch {
					case !ok:
						bad = append(bad, n.Name+" is missing")
					case internal != strconv.FormatBool(n.Internal):
						bad = append(bad, fmt.Sprintf("%s has internal=%s", n.Name, internal))
					}
				}
				return strings.Join(bad, "; ")
			}},
	)
	for _, r := range fileRules {
		r := r
		cs = append(cs, Check{ID: "file." + strings.TrimPrefix(strings.ReplaceAll(r.path, "/", "."), "."), Reference: r.cis,
			Title:    fmt.Sprintf("%s is %s, mode %o or stricter", r.path, r.owner, r.maxMode),
			Severity: High, Source: "files", Hint: fmt.Sprintf("chown %s %s; chmod %o %s", r.owner, r.path, r.maxMode, r.path),
			Judge: func(o Output, _ Expect) string {
				for _, line := range strings.Split(o.Text, "\n") {
					f := strings.Fields(line)
					if len(f) != 3 || f[0] != r.path {
						continue
					}
					mode, _ := strconv.ParseInt(f[2], 8, 32)
					if f[1] != r.owner || int(mode)&^r.maxMode != 0 {
						return fmt.Sprintf("%s is %s mode %s", r.path, f[1], f[2])
					}
					return ""
				}
				return "" // absent on this host: nothing to protect
			}})
	}
	for _, r := range sshdRules {
		r := r
		cs = append(cs, Check{ID: "ssh." + r.key, Reference: "dev-sec ssh-baseline", Title: fmt.Sprintf("sshd %s %s %s", r.key, r.op, r.want),
			Severity: High, Source: "sshd", Hint: "fjord's drop-in is /etc/ssh/sshd_config.d/10-fjord.conf; a file sorting earlier overrides it",
			Judge: func(o Output, _ Expect) string {
				got, ok := keyValues(o.Text, " ")[r.key]
				if !ok {
					return "sshd -T does not show " + r.key
				}
				if !compare(got, r.op, r.want) {
					return fmt.Sprintf("%s is %s", r.key, got)
				}
				return ""
			}})
	}
	cs = append(cs, declaredChecks()...)
	cs = append(cs, engineCheck())
	cs = append(cs, authzChecks()...)
	cs = append(cs, runtimeChecks()...)
	cs = append(cs, accessChecks()...)
	return cs
}

// daemonChecks compare daemon.json key by key with what fjord rendered.
func daemonChecks() []Check {
	keys := []struct{ key, cis, title string }{
		{"icc", "CIS 2.2", "inter-container communication is off"},
		{"log-level", "CIS 2.3", "log level is info"},
		{"iptables", "CIS 2.4", "Docker manages iptables"},
		{"insecure-registries", "CIS 2.5", "no insecure registries"},
		{"hosts", "CIS 2.7", "no TCP listener in daemon.json"},
		{"default-ulimits", "CIS 2.8", "default ulimits are set"},
		{"cgroup-parent", "CIS 2.10", "the default cgroup parent is kept"},
		{"log-driver", "CIS 2.13", "logs go to a managed log driver"},
		{"no-new-privileges", "CIS 2.14", "containers cannot gain privileges"},
		{"live-restore", "CIS 2.15", "live restore is on"},
		{"userland-proxy", "CIS 2.16", "the userland proxy is off"},
		{"experimental", "CIS 2.18", "experimental features are off"},
		{"authorization-plugins", "CIS 2.12", "requests are authorized by fjord-authz"},
	}
	var cs []Check
	for _, k := range keys {
		k := k
		cs = append(cs, Check{ID: "docker." + k.key, Reference: k.cis, Title: "daemon.json: " + k.title, Severity: High, Source: "daemon-json",
			Hint: "restore /etc/docker/daemon.json as fjord rendered it and restart docker",
			// Judged against the hardened defaults, not the rendered file:
			// a setting loosened in HCL fails here and shows as a waiver.
			Judge: func(o Output, _ Expect) string {
				got, err := jsonObject(o.Text, o.Code)
				if err != "" {
					return err
				}
				want := hardening.DaemonDefaults()
				if k.key == "log-driver" && got[k.key] != "json-file" && got[k.key] != nil {
					return "" // any managed driver will do; json-file fills the disk
				}
				gv, gok := got[k.key]
				wv, wok := want[k.key]
				switch {
				case gok && !wok:
					return fmt.Sprintf("%q is set to %s", k.key, compact(gv))
				case !gok && wok:
					return fmt.Sprintf("%q is missing (want %s)", k.key, compact(wv))
				case !reflect.DeepEqual(gv, wv):
					return fmt.Sprintf("%q is %s, want %s", k.key, compact(gv), compact(wv))
				}
				return ""
			}})
	}
	cs = append(cs, Check{ID: "docker.daemon-json", Reference: "CIS 2", Title: "daemon.json holds nothing fjord did not render", Severity: Medium, Source: "daemon-json",
		Hint: "remove the extra keys, or express them in HCL",
		Judge: func(o Output, e Expect) string {
			got, err := jsonObject(o.Text, o.Code)
			if err != "" {
				return err
			}
			want, _ := jsonObject(string(e.DaemonJSON), 0)
			var extra []string
			for k, v := range got {
				if w, ok := want[k]; !ok || !reflect.DeepEqual(v, w) {
					extra = append(extra, k)
				}
			}
			for k := range want {
				if _, ok := got[k]; !ok {
					extra = append(extra, k)
				}
			}
			sort.Strings(extra)
			if len(extra) > 0 {
				return "differs in " + strings.Join(extra, ", ")
			}
			return ""
		}})
	return cs
}

func jsonObject(text string, code int) (map[string]any, string) {
	if code != 0 {
		return nil, "cannot read daemon.json: " + orEmpty(text)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Sprintf("daemon.json is not a JSON object: %v", err)
	}
	return m, ""
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

type info struct {
	SecurityOptions []string
	Swarm           struct{ LocalNodeState string }
	DockerRootDir   string
}

func dockerInfo(o Output) (info, string) {
	var i info
	if o.Code != 0 {
		return i, "docker info failed: " + orEmpty(o.Text)
	}
	if err := json.Unmarshal([]byte(o.Text), &i); err != nil {
		return i, fmt.Sprintf("cannot read docker info: %v", err)
	}
	return i, ""
}

func securityOption(o Output, want string) string {
	i, err := dockerInfo(o)
	if err != "" {
		return err
	}
	for _, s := range i.SecurityOptions {
		if s == want || strings.HasPrefix(s, want+",") {
			return ""
		}
	}
	return fmt.Sprintf("SecurityOptions %v lack %s", i.SecurityOptions, want)
}

func hasLine(text, want string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func expectText(o Output, want string) string {
	if got := strings.TrimSpace(o.Text); got != want {
		return fmt.Sprintf("got %q, want %q", got, want)
	}
	return ""
}

func orEmpty(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "(no output)"
	}
	return s
}

// keyValues reads "key<sep>value" lines.
func keyValues(text, sep string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), sep); ok {
			m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return m
}

// compare applies op to two values, numerically when both are numbers.
func compare(got, op, want string) bool {
	g, gerr := strconv.ParseFloat(got, 64)
	w, werr := strconv.ParseFloat(want, 64)
	if gerr != nil || werr != nil {
		return op == "=" && strings.EqualFold(got, want)
	}
	switch op {
	case "=":
		return g == w
	case ">=":
		return g >= w
	case "<=":
		return g <= w
	case ">":
		return g > w
	}
	return false
}

// savedTables splits the firewall source into the IPv4 and IPv6 filter tables.
func savedTables(o Output) (v4, v6 firewall.Saved, err error) {
	if o.Code != 0 {
		return v4, v6, fmt.Errorf("iptables-save failed (exit %d): %s", o.Code, orEmpty(o.Text))
	}
	a, b, _ := strings.Cut(o.Text, "@@ip6")
	if v4, err = firewall.Parse(a); err != nil {
		return v4, v6, err
	}
	if v6, err = firewall.Parse(b); err != nil {
		return v4, v6, fmt.Errorf("IPv6: %w", err)
	}
	return v4, v6, nil
}
