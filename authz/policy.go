// Package authz is fjord's Docker authorization policy: it decides, for
// each request the Docker daemon forwards to the fjord-authz plugin,
// whether the request may go on.
//
// It judges what the daemon will do, not what the request looks like:
// bodies are decoded with the daemon's own types and compatibility rules
// (moby's runconfig, strslice, mount parser and capability normalization,
// at the version of the engine fjord hosts run), host paths are resolved
// as the kernel will resolve them when the daemon mounts them, and a
// request whose body the daemon reads but did not forward is refused.
// Those are moby's packages rather than hand-written structs because a
// hand-written decoder is exactly where the daemon and the plugin came to
// disagree; the plugin still builds as one static binary.
//
// The policy refuses what gives a container the host: --privileged,
// --userns=host, host namespaces, bind mounts of sensitive host paths or
// of paths another user could swap for a symlink, local volumes that mount
// devices or filesystems, added capabilities outside an allow-list,
// seccomp or AppArmor weaker than Docker's defaults, devices, privileged
// exec, plugin installation, builds in the host's network, BuildKit,
// swarm, networks on the host's interfaces, and log drivers that send a
// container's output to an address of the request's choosing. A request it cannot read
// is refused too (fail closed). Each rule can be relaxed per host.
package authz

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/docker/docker/oci/caps"
	"golang.org/x/sys/unix"
)

// The rules, by the names HCL relaxes them with.
const (
	RulePrivileged         = "privileged"
	RuleUsernsHost         = "userns_host"
	RuleHostPID            = "host_pid"
	RuleHostIPC            = "host_ipc"
	RuleHostUTS            = "host_uts"
	RuleHostNetwork        = "host_network"
	RuleHostCgroupns       = "host_cgroupns"
	RuleSensitiveMounts    = "sensitive_mounts"
	RuleCapAdd             = "cap_add"
	RuleSeccompUnconfined  = "seccomp_unconfined"
	RuleAppArmorUnconfined = "apparmor_unconfined"
	RuleSystemPaths        = "systempaths_unconfined"
	RuleNewPrivileges      = "new_privileges"
	RuleDevices            = "devices"
	RulePrivilegedExec     = "privileged_exec"
	RulePlugins            = "plugins"
	RuleSwappablePaths     = "swappable_paths"
	RuleVolumeMounts       = "volume_mounts"
	RuleBuildHostNetwork   = "build_host_network"
	RuleBuildKit           = "buildkit"
	RuleSwarm              = "swarm"
	RuleHostInterfaces     = "host_interfaces"
	RuleLogDrivers         = "log_drivers"

	// RuleUnreadable refuses what the plugin cannot read. It cannot be relaxed.
	RuleUnreadable = "unreadable"
)

// Rules describes each relaxable rule, for documentation and validation.
var Rules = map[string]string{
	RulePrivileged:         "containers run with --privileged",
	RuleUsernsHost:         "containers that leave the user namespace remap (--userns=host)",
	RuleHostPID:            "containers in the host's PID namespace (--pid=host)",
	RuleHostIPC:            "containers in the host's IPC namespace (--ipc=host)",
	RuleHostUTS:            "containers in the host's UTS namespace (--uts=host)",
	RuleHostNetwork:        "containers in the host's network namespace (--network=host)",
	RuleHostCgroupns:       "containers in the host's cgroup namespace (--cgroupns=host)",
	RuleSensitiveMounts:    "bind mounts of sensitive host paths (/, the Docker socket, /etc, …)",
	RuleCapAdd:             "capabilities added beyond allowed_capabilities (--cap-add)",
	RuleSeccompUnconfined:  "containers without a seccomp filter, or with a profile that allows by default",
	RuleAppArmorUnconfined: "containers without AppArmor confinement (--security-opt apparmor=unconfined)",
	RuleSystemPaths:        "containers with /proc and /sys paths unmasked (--security-opt systempaths=unconfined)",
	RuleNewPrivileges:      "containers that may gain privileges (--security-opt no-new-privileges=false)",
	RuleDevices:            "host devices in containers (--device, --device-cgroup-rule, --gpus)",
	RulePrivilegedExec:     "privileged processes in running containers (docker exec --privileged)",
	RulePlugins:            "installing, upgrading or reconfiguring Docker plugins",
	RuleSwappablePaths:     "bind mounts of paths below a directory a user other than root can write (a symlink swapped in before the mount)",
	RuleVolumeMounts:       "local volumes that mount a device or a filesystem (type=ext4 device=/dev/vda1, overlay, proc, nfs, …)",
	RuleBuildHostNetwork:   "builds whose RUN steps use the host's network (docker build --network=host)",
	RuleBuildKit:           "BuildKit builds (docker buildx, DOCKER_BUILDKIT=1), whose steps the plugin cannot see",
	RuleSwarm:              "swarm mode and swarm services, whose containers the daemon creates without asking the plugin",
	RuleHostInterfaces:     "networks on the host's own interfaces (macvlan, ipvlan)",
	RuleLogDrivers:         "log drivers that make the daemon, as root, connect where the request says (syslog, gelf, fluentd, splunk, …)",
}

// RuleNames lists the relaxable rules, sorted.
func RuleNames() []string {
	n := make([]string, 0, len(Rules))
	for r := range Rules {
		n = append(n, r)
	}
	sort.Strings(n)
	return n
}

// DefaultSensitivePaths are host paths no container may bind: each path,
// anything under it, and any directory above it (binding /var exposes
// /var/lib/docker). "/" protects only itself and is covered that way.
var DefaultSensitivePaths = []string{
	"/", "/boot", "/dev", "/etc", "/home", "/proc", "/root", "/run", "/sys", "/usr",
	"/var/lib/containerd", "/var/lib/docker", "/var/log", "/var/run", "/var/spool/cron",
}

// DefaultAllowedCapabilities are Docker's own default capabilities: adding
// one back after --cap-drop=ALL gives nothing a default container lacks.
var DefaultAllowedCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// Policy is what the plugin enforces on one host. It is written to the
// host as JSON by the seed.
type Policy struct {
	// Host is the HCL host block (host.NAME), named in denial messages.
	Host string `json:"host"`
	// Relaxed are the rules this host does not enforce.
	Relaxed             []string `json:"relaxed"`
	SensitivePaths      []string `json:"sensitive_paths"`
	AllowedCapabilities []string `json:"allowed_capabilities"`

	// cgroupV1 overrides what the host is found to run (tests only).
	cgroupV1 *bool
}

// cgroup2 reports whether the host runs the unified cgroup hierarchy.
func (p Policy) cgroup2() bool {
	if p.cgroupV1 != nil {
		return !*p.cgroupV1
	}
	return hostCgroup2()
}

var hostCgroup2 = sync.OnceValue(func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
})

// DefaultPolicy enforces every rule with the default lists.
func DefaultPolicy(host string) Policy {
	return Policy{
		Host:                host,
		Relaxed:             []string{},
		SensitivePaths:      append([]string(nil), DefaultSensitivePaths...),
		AllowedCapabilities: append([]string(nil), DefaultAllowedCapabilities...),
	}
}

// Validate reports unknown rule names and malformed paths or capabilities.
func (p Policy) Validate() []string {
	var probs []string
	for _, r := range p.Relaxed {
		if _, ok := Rules[r]; !ok {
			probs = append(probs, fmt.Sprintf("unknown authz rule %q; the rules are %s", r, strings.Join(RuleNames(), ", ")))
		}
	}
	for _, s := range p.SensitivePaths {
		if !strings.HasPrefix(s, "/") {
			probs = append(probs, fmt.Sprintf("sensitive path %q is not absolute", s))
		}
	}
	for _, c := range p.AllowedCapabilities {
		if normCap(c) == "" {
			probs = append(probs, fmt.Sprintf("capability %q is not a capability name", c))
		} else if _, err := caps.NormalizeLegacyCapabilities([]string{c}); err != nil {
			probs = append(probs, fmt.Sprintf("capability %q is not a Linux capability (%v)", c, err))
		}
	}
	return probs
}

func (p Policy) relaxed(rule string) bool {
	for _, r := range p.Relaxed {
		if r == rule {
			return true
		}
	}
	return false
}

// normCap turns "cap_sys_admin" or "SYS_ADMIN" into "SYS_ADMIN"; "" if it
// is not a capability name.
func normCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	c = strings.TrimPrefix(c, "CAP_")
	if c == "" {
		return ""
	}
	for _, r := range c {
		if (r < 'A' || r > 'Z') && r != '_' && (r < '0' || r > '9') {
			return ""
		}
	}
	return c
}
