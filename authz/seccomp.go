package authz

import (
	"encoding/json"
	"reflect"
	"sync"

	"github.com/docker/docker/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// denying are the seccomp actions that stop a system call. Any other
// action (ALLOW, LOG, TRACE, which a tracer in the container can turn
// into ALLOW, NOTIFY, or a name runc does not know) lets it run.
var denying = map[specs.LinuxSeccompAction]bool{
	specs.ActKill: true, specs.ActKillProcess: true, specs.ActKillThread: true,
	specs.ActTrap: true, specs.ActErrno: true,
}

// seccompWeak says why a container's seccomp option leaves it less
// confined than Docker's default profile, or "" when it does not. The
// profile is decoded as the daemon decodes it: "unconfined" installs no
// filter; so do a profile of {} or null (no default action and no rules,
// which the daemon takes as no profile at all) and one that allows every
// unlisted call. A profile that denies by default must not allow a call,
// or a call with wider arguments or conditions, that the default profile
// refuses a container.
func seccompWeak(profile string) string {
	if profile == "unconfined" {
		return "no filter"
	}
	var prof seccomp.Seccomp
	if err := json.Unmarshal([]byte(profile), &prof); err != nil {
		return "the daemon cannot read it: " + err.Error()
	}
	if prof.DefaultAction == "" && len(prof.Syscalls) == 0 {
		return "an empty profile installs no filter"
	}
	if !denying[prof.DefaultAction] {
		return "default action " + string(prof.DefaultAction) + " lets every unlisted call run"
	}
	if defaultRules() == nil {
		return "this fjord-authz was built without the seccomp tag and cannot compare a profile with Docker's default"
	}
	for _, s := range prof.Syscalls {
		if s == nil || denying[s.Action] {
			continue
		}
		names := s.Names
		if s.Name != "" {
			names = append([]string{s.Name}, names...)
		}
		for _, n := range names {
			if !defaultAllows(n, s) {
				return "it allows " + n + ", which Docker's default profile refuses a container"
			}
		}
	}
	return ""
}

// defaultRules are the default profile's allowing rules by call name; nil
// when moby's profile package was built without its seccomp tag (as
// dockerd is built with it), which leaves it without the default profile.
var defaultRules = sync.OnceValue(func() map[string][]*seccomp.Syscall {
	def := seccomp.DefaultProfile()
	if def == nil {
		return nil
	}
	m := map[string][]*seccomp.Syscall{}
	for _, s := range def.Syscalls {
		if denying[s.Action] {
			continue
		}
		names := s.Names
		if s.Name != "" {
			names = append([]string{s.Name}, names...)
		}
		for _, n := range names {
			m[n] = append(m[n], s)
		}
	}
	return m
})

// defaultAllows reports whether one of the default profile's rules allows
// call name at least as widely as rule c: no argument filter there or the
// same one, and every condition it sets also set by c.
func defaultAllows(name string, c *seccomp.Syscall) bool {
	for _, d := range defaultRules()[name] {
		if len(d.Args) > 0 && !reflect.DeepEqual(d.Args, c.Args) {
			continue
		}
		if !subset(d.Includes.Caps, c.Includes.Caps) || !subset(d.Excludes.Caps, c.Excludes.Caps) ||
			!subset(d.Excludes.Arches, c.Excludes.Arches) {
			continue
		}
		if len(d.Includes.Arches) > 0 && (len(c.Includes.Arches) == 0 || !subset(c.Includes.Arches, d.Includes.Arches)) {
			continue
		}
		if d.Excludes.MinKernel != nil && !reflect.DeepEqual(d.Excludes.MinKernel, c.Excludes.MinKernel) {
			continue
		}
		return true
	}
	return false
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
