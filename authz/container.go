package authz

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/oci/caps"
	"github.com/docker/docker/runconfig"
)

// decodeHostConfig is the host config the daemon takes from a create body
// or an old start body: moby's own ContainerConfigWrapper, so the
// deprecated top-level fields count when HostConfig is absent or null,
// the nested ones win where both are given, and strslice fields take a
// string or a list.
func decodeHostConfig(body []byte) (*container.HostConfig, error) {
	return runconfig.ContainerDecoder{}.DecodeHostConfig(bytes.NewReader(body))
}

func (p Policy) containerCreate(r route, req Request) Decision {
	if len(req.RequestBody) == 0 {
		return p.unreadable("container create", errNoBody)
	}
	hc, err := decodeHostConfig(req.RequestBody)
	if err != nil {
		return p.unreadable("container create", "body: "+err.Error())
	}
	if hc != nil && r.below("1.41") && hc.CgroupnsMode.IsEmpty() && !p.cgroup2() {
		// The daemon makes host the default for older clients on cgroup v1.
		hc.CgroupnsMode = "host"
	}
	return p.hostConfig(hc)
}

// containerStart judges the host config that API versions before 1.24
// accept at start. The daemon reads a body there when its length is over
// 7 bytes or unknown (chunked); what it reads, the plugin must have seen.
func (p Policy) containerStart(r route, req Request) Decision {
	if !r.below("1.24") {
		return allow // the daemon refuses a body on start
	}
	what := "container start on API " + r.effectiveVersion()
	if len(req.RequestBody) == 0 {
		if n := contentLength(req); n >= 0 && n <= 7 {
			return allow // the daemon reads no host config
		}
		return p.unreadable(what, errNoBody)
	}
	hc, err := decodeHostConfig(req.RequestBody)
	if err != nil {
		return p.unreadable(what, "body: "+err.Error())
	}
	return p.hostConfig(hc)
}

func (p Policy) containerUpdate(req Request) Decision {
	var u container.UpdateConfig
	if err := readBody(req, &u); err != nil {
		return p.unreadable("container update", err.Error())
	}
	return p.devices(&u.Resources)
}

func (p Policy) exec(req Request) Decision {
	var e types.ExecConfig
	if err := readBody(req, &e); err != nil {
		return p.unreadable("exec", err.Error())
	}
	if e.Privileged {
		return p.deny(RulePrivilegedExec, "docker exec --privileged")
	}
	return allow
}

// hostConfig applies every container rule to a host config, in a fixed
// order; the first refusal wins.
func (p Policy) hostConfig(hc *container.HostConfig) Decision {
	if hc == nil {
		return allow // the daemon uses an empty host config
	}
	if hc.Privileged {
		if d := p.deny(RulePrivileged, "--privileged"); !d.Allow {
			return d
		}
	}
	for _, ns := range []struct{ mode, rule, flag string }{
		{string(hc.UsernsMode), RuleUsernsHost, "--userns=host"},
		{string(hc.PidMode), RuleHostPID, "--pid=host"},
		{string(hc.IpcMode), RuleHostIPC, "--ipc=host"},
		{string(hc.UTSMode), RuleHostUTS, "--uts=host"},
		{string(hc.NetworkMode), RuleHostNetwork, "--network=host"},
		{string(hc.CgroupnsMode), RuleHostCgroupns, "--cgroupns=host"},
	} {
		// The daemon compares with "host" exactly; any spelling of it is refused.
		if strings.EqualFold(strings.TrimSpace(ns.mode), "host") {
			if d := p.deny(ns.rule, ns.flag); !d.Allow {
				return d
			}
		}
	}
	for _, check := range []func(*container.HostConfig) Decision{p.mounts, p.capabilities, p.securityOpts, p.logDriver} {
		if d := check(hc); !d.Allow {
			return d
		}
	}
	return p.devices(&hc.Resources)
}

// capabilities refuses added capabilities outside the allow-list, named
// as the daemon normalizes them.
func (p Policy) capabilities(hc *container.HostConfig) Decision {
	if len(hc.CapAdd) == 0 {
		return allow
	}
	added, err := caps.NormalizeLegacyCapabilities(hc.CapAdd)
	if err != nil {
		return p.unreadable("--cap-add "+strings.Join(hc.CapAdd, ","), err.Error())
	}
	allowed := map[string]bool{}
	for _, c := range p.AllowedCapabilities {
		if n, err := caps.NormalizeLegacyCapabilities([]string{c}); err == nil {
			allowed[n[0]] = true // CAP_NAME, or ALL
		}
	}
	for _, c := range added {
		if !allowed[c] {
			return p.deny(RuleCapAdd, "--cap-add "+strings.TrimPrefix(c, "CAP_"))
		}
	}
	return allow
}

// securityOpts reads the security options as the daemon does (the last
// of each kind wins; key=value, or the old key:value) and judges what the
// container will run with.
func (p Policy) securityOpts(hc *container.HostConfig) Decision {
	if d := p.systemPaths(hc); !d.Allow {
		return d
	}
	var (
		apparmor, seccomp string
		nnp               *bool
	)
	for _, opt := range hc.SecurityOpt {
		if opt == "no-new-privileges" {
			t := true
			nnp = &t
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
		}
		if !ok {
			continue // the daemon refuses it
		}
		switch k {
		case "apparmor":
			apparmor = v
		case "seccomp":
			seccomp = v
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				continue // the daemon refuses it
			}
			nnp = &b
		case "systempaths":
			// Only the CLI knows this option: it sends empty masked and
			// read-only path lists, judged above. The daemon refuses it.
		}
	}
	if nnp != nil && !*nnp {
		if d := p.deny(RuleNewPrivileges, "--security-opt no-new-privileges=false"); !d.Allow {
			return d
		}
	}
	if apparmor != "" && apparmor != "docker-default" {
		if d := p.deny(RuleAppArmorUnconfined, "--security-opt apparmor="+strconv.Quote(shorten(apparmor))+" (only docker-default confines a container)"); !d.Allow {
			return d
		}
	}
	if seccomp != "" {
		if why := seccompWeak(seccomp); why != "" {
			return p.deny(RuleSeccompUnconfined, "--security-opt seccomp="+shorten(seccomp)+" ("+why+")")
		}
	}
	return allow
}

// defaultMasked and defaultReadonly are the /proc and /sys paths the
// daemon hides from a container unless its host config replaces them
// (moby's oci.DefaultLinuxSpec at v20.10.24, copied: that package needs a
// runc older than the one the rest of moby's packages here build with).
var (
	defaultMasked = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}
	defaultReadonly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// systemPaths refuses host configs whose masked or read-only paths leave
// out one of the daemon's defaults: a list given replaces them. (The CLI
// turns --security-opt systempaths=unconfined into two empty lists.)
func (p Policy) systemPaths(hc *container.HostConfig) Decision {
	for _, l := range []struct {
		given, want []string
		kind        string
	}{{hc.MaskedPaths, defaultMasked, "masked"}, {hc.ReadonlyPaths, defaultReadonly, "read-only"}} {
		if l.given == nil {
			continue
		}
		have := map[string]bool{}
		for _, g := range l.given {
			have[g] = true
		}
		for _, w := range l.want {
			if !have[w] {
				return p.deny(RuleSystemPaths, fmt.Sprintf("--security-opt systempaths=unconfined (%s no longer %s)", w, l.kind))
			}
		}
	}
	return allow
}

// localLogDrivers keep a container's output on the host (the journal, or
// files under /var/lib/docker). Every other driver has the daemon, as
// root, connect to an address or socket the request names: syslog to
// unix:///run/containerd/containerd.sock, gelf or fluentd to a service on
// the host's loopback.
var localLogDrivers = map[string]bool{"": true, "journald": true, "json-file": true, "local": true, "none": true}

func (p Policy) logDriver(hc *container.HostConfig) Decision {
	if localLogDrivers[hc.LogConfig.Type] {
		return allow
	}
	return p.deny(RuleLogDrivers, "--log-driver "+strconv.Quote(shorten(hc.LogConfig.Type)))
}

func (p Policy) devices(r *container.Resources) Decision {
	switch {
	case len(r.Devices) > 0:
		return p.deny(RuleDevices, "--device "+r.Devices[0].PathOnHost)
	case len(r.DeviceCgroupRules) > 0:
		return p.deny(RuleDevices, "--device-cgroup-rule "+strconv.Quote(r.DeviceCgroupRules[0]))
	case len(r.DeviceRequests) > 0:
		return p.deny(RuleDevices, "--gpus (device requests)")
	}
	return allow
}
