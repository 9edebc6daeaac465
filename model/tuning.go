package model

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/fjord-dev/fjord/hardening"
)

// A host's own sshd options and kernel settings, beside fjord's hardening:
// written into the same files (the sshd drop-in, the sysctl file), changed
// in place, and validated on the host by the program that reads them
// (sshd -t, sysctl) before they take effect. What fjord's hardening sets,
// or what would change who may log in and how, is not theirs to set.

var (
	sshdKeyword = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{1,63}$`)
	sysctlKey   = regexp.MustCompile(`^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$`)
)

// sshdReserved are the keywords only fjord sets: its hardening's, and
// those that decide who logs in, with what, and where sshd listens (which
// the firewall and the verifier assume).
var sshdReserved = func() map[string]string {
	m := map[string]string{}
	for _, k := range keysOf(hardening.Must("sshd.conf"), " ") {
		m[strings.ToLower(k)] = "fjord's sshd hardening sets it"
	}
	for _, k := range []string{"Match", "Include"} {
		m[strings.ToLower(k)] = "it would change how the rest of the file is read"
	}
	for _, k := range []string{"AuthorizedKeysFile", "AuthorizedKeysCommand", "AuthorizedKeysCommandUser",
		"AuthorizedPrincipalsFile", "AuthorizedPrincipalsCommand", "AuthorizedPrincipalsCommandUser",
		"TrustedUserCAKeys", "RevokedKeys", "AllowUsers", "AllowGroups", "DenyUsers", "DenyGroups",
		"ForceCommand", "ChrootDirectory", "PermitUserEnvironment", "PermitUserRC", "HostKey", "HostCertificate",
		"HostbasedAuthentication", "GSSAPIAuthentication", "KerberosAuthentication", "ChallengeResponseAuthentication",
		"AuthenticationMethods", "UsePAM", "StrictModes", "Port", "ListenAddress", "AddressFamily",
		"StreamLocalBindUnlink", "AllowStreamLocalForwarding", "GatewayPorts", "PermitOpen", "PermitListen",
		"DisableForwarding", "Subsystem"} {
		m[strings.ToLower(k)] = "fjord decides who logs in, how and where sshd listens; the verifier proves it"
	}
	return m
}()

// sysctlReserved are the kernel settings fjord's hardening sets.
var sysctlReserved = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range keysOf(hardening.Must("sysctl.conf"), "=") {
		m[k] = true
	}
	return m
}()

// keysOf are the keys of a "key SEP value" file, comments skipped.
func keysOf(b []byte, sep string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, sep)
		out = append(out, strings.TrimSpace(k))
	}
	return out
}

// SSHDOptionProblem says why key = value cannot be one of a host's sshd
// options, or "" when it can. The value itself is judged by sshd -t on
// the host, before it takes effect.
func SSHDOptionProblem(key, value string) string {
	if !sshdKeyword.MatchString(key) {
		return fmt.Sprintf("%q is not an sshd_config keyword", key)
	}
	if why, ok := sshdReserved[strings.ToLower(key)]; ok {
		return fmt.Sprintf("%s is not settable here: %s", key, why)
	}
	return valueProblem(value)
}

// SysctlProblem says why key = value cannot be one of a host's sysctls,
// or "" when it can. Whether the kernel has the key and takes the value is
// judged on the host (sysctl -p) before the file is kept.
func SysctlProblem(key, value string) string {
	if !sysctlKey.MatchString(key) {
		return fmt.Sprintf("%q is not a sysctl name such as vm.max_map_count", key)
	}
	if sysctlReserved[key] {
		return fmt.Sprintf("%s is set by fjord's kernel hardening; to run without it, waive its check (sysctl.%s)", key, key)
	}
	return valueProblem(value)
}

func valueProblem(v string) string {
	if strings.TrimSpace(v) == "" {
		return "the value is empty"
	}
	for _, r := range v {
		if r < ' ' && r != '\t' || r == 0x7f {
			return fmt.Sprintf("the value %q holds a control character (a line break would add another setting)", v)
		}
	}
	return ""
}

// SortedLines renders settings as "key<sep>value" lines, sorted by key.
func SortedLines(m map[string]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s%s\n", k, sep, strings.TrimSpace(m[k]))
	}
	return b.String()
}
