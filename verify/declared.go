package verify

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// declaredSysctls prints "key = value" for each kernel setting the host
// declares in HCL (the lines after the marker fjord writes in its sysctl
// file), read back from the kernel. A key the kernel does not have prints
// nothing, and so does one taken out of the file: both then fail.
const declaredSysctls = `sed -n '/^# Declared for this host/,$ s/^\([a-z0-9_][a-zA-Z0-9_.-]*\) = .*/\1/p' /etc/sysctl.d/90-fjord.conf 2>/dev/null |
while read -r k; do v=$(sysctl -n "$k" 2>/dev/null) && printf '%s = %s\n' "$k" "$v"; done; true`

func init() {
	Sources["sysctl-declared"] = declaredSysctls
}

// declaredChecks prove the settings a host declares of its own (sysctls,
// ssh.sshd_options) are in force, as the kernel and sshd report them: a
// value changed at run time, or an sshd file sorting before fjord's that
// sets the option first, fails them.
func declaredChecks() []Check {
	return []Check{
		{ID: "sysctl.declared", Reference: "fjord configuration", Title: "The kernel settings the host declares (sysctls) are in force", Severity: Medium, Source: "sysctl-declared",
			Hint: "fjord writes them to /etc/sysctl.d/90-fjord.conf; run sysctl -p /etc/sysctl.d/90-fjord.conf, or apply again",
			Judge: func(o Output, e Expect) string {
				got := keyValues(o.Text, " = ")
				var wrong []string
				for _, k := range sortedKeys(e.Sysctls) {
					v, ok := got[strings.ToLower(k)]
					switch {
					case !ok:
						wrong = append(wrong, fmt.Sprintf("%s is not set (not in /etc/sysctl.d/90-fjord.conf, or unknown to this kernel)", k))
					case !sameWords(v, e.Sysctls[k]):
						wrong = append(wrong, fmt.Sprintf("%s is %s, declared %s", k, v, e.Sysctls[k]))
					}
				}
				return strings.Join(wrong, "; ")
			}},
		{ID: "ssh.declared", Reference: "fjord configuration", Title: "The sshd options the host declares (ssh.sshd_options) are in force", Severity: Medium, Source: "sshd",
			Hint: "fjord writes them to /etc/ssh/sshd_config.d/10-fjord.conf; sshd takes the first value it reads, so a file sorting earlier overrides them",
			Judge: func(o Output, e Expect) string {
				effective := sshdValues(o.Text)
				var wrong []string
				for _, k := range sortedKeys(e.SSHDOptions) {
					want := e.SSHDOptions[k]
					got, ok := effective[strings.ToLower(k)]
					switch {
					case !ok:
						wrong = append(wrong, fmt.Sprintf("sshd -T does not show %s", k))
					case !sameSSHDValue(got, want):
						wrong = append(wrong, fmt.Sprintf("%s is %s, declared %s", k, got, want))
					}
				}
				return strings.Join(wrong, "; ")
			}},
	}
}

// sshdValues reads sshd -T: keyword → value, the values of a keyword
// printed on several lines (AllowUsers, say) joined by a space.
func sshdValues(text string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		if prev, seen := m[k]; seen {
			v = prev + " " + v
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// sameWords compares two values word by word (sysctl -n separates the
// fields of a value such as ip_local_port_range with a tab).
func sameWords(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// sameSSHDValue compares a value as sshd prints it with the one declared:
// case-insensitively, word by word, and a time ("2m", "1h30m") as the
// seconds sshd prints for it.
func sameSSHDValue(got, declared string) bool {
	if strings.EqualFold(strings.Join(strings.Fields(got), " "), strings.Join(strings.Fields(declared), " ")) {
		return true
	}
	g, gok := sshdSeconds(got)
	d, dok := sshdSeconds(declared)
	return gok && dok && g == d
}

var sshdTime = regexp.MustCompile(`^([0-9]+)([sSmMhHdDwW]?)`)

// sshdSeconds parses sshd_config's time format (sshd_config(5), TIME
// FORMATS): a sequence of numbers each with an optional unit.
func sshdSeconds(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	unit := map[string]int{"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
	total := 0
	for s != "" {
		m := sshdTime.FindStringSubmatch(s)
		if m == nil {
			return 0, false
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, false
		}
		total += n * unit[strings.ToLower(m[2])]
		s = s[len(m[0]):]
	}
	return total, true
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
