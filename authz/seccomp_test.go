package authz

import "testing"

// The policy compares custom profiles with Docker's default one, which
// moby's package holds only under the seccomp build tag (make unit and
// make build set it, as Debian builds dockerd with it).
func TestDefaultSeccompProfileBuiltIn(t *testing.T) {
	if defaultRules() == nil {
		t.Fatal("built without -tags seccomp: Docker's default seccomp profile is missing, and every custom profile would be refused")
	}
	// read is allowed outright; mount only to a container holding CAP_SYS_ADMIN.
	if r := defaultRules()["read"]; len(r) != 1 || len(r[0].Includes.Caps) != 0 {
		t.Errorf("default profile rules for read: %+v", r)
	}
	if r := defaultRules()["mount"]; len(r) != 1 || len(r[0].Includes.Caps) != 1 || r[0].Includes.Caps[0] != "CAP_SYS_ADMIN" {
		t.Errorf("default profile rules for mount: %+v", r)
	}
	for opt, weak := range map[string]bool{
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW"}]}`:                                       true,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}`: false,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_LOG"}]}`:                                          false,
		`{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_ALLOW"}]}`:                           true,
	} {
		if got := seccompWeak(opt) != ""; got != weak {
			t.Errorf("seccompWeak(%s) = %q, want weak %v", opt, seccompWeak(opt), weak)
		}
	}
}
