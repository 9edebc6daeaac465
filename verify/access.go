package verify

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Sources of the access checks: who can log in, with which keys, who may
// use sudo, what listens on the network, which kernel runs, and whether
// cloud-init is switched off.
var accessSources = map[string]string{
	// Every account with a login shell: NAME STATUS (passwd -S: P usable
	// password, NP none needed, L locked), then its authorized_keys.
	"logins": `awk -F: '$7 !~ /(nologin|false|sync|halt|shutdown)$/ {print $1":"$6}' /etc/passwd | while IFS=: read -r u home; do
  echo "@@account $u $(passwd -S "$u" | awk '{print $2}')"
  [ -f "$home/.ssh/authorized_keys" ] && grep -v '^[[:space:]]*\(#\|$\)' "$home/.ssh/authorized_keys"
done; true`,
	// sudo rules in force (comments, blank lines and Defaults left out),
	// then the sudo group's members.
	"sudoers":   `cat /etc/sudoers /etc/sudoers.d/* 2>/dev/null | sed 's/#.*//' | grep -v '^[[:space:]]*$' | grep -v '^[[:space:]]*Defaults'; echo "@@group $(getent group sudo | cut -d: -f4)"`,
	"listeners": "ss -Hltunp",
	"kernels":   "uname -r; echo @@installed; ls /boot | sed -n 's/^vmlinuz-//p' | sort -V",
	"sealed":    "[ -e /etc/cloud/cloud-init.disabled ] && echo cloud-init-disabled; blkid -L cidata || true",
}

// accessChecks are the checks that the host is what fjord made: its
// accounts, keys, sudo rights, listeners, kernel and seal.
func accessChecks() []Check {
	return []Check{
		{ID: "access.logins", Reference: "fjord identity", Title: "Only the declared admin account can log in", Severity: High, Source: "logins",
			Hint: "lock the account (usermod -L -s /usr/sbin/nologin NAME) or declare it; fjord's hosts have one admin, reached by key",
			Judge: func(o Output, e Expect) string {
				if o.Code != 0 {
					return fmt.Sprintf("listing the accounts failed (exit %d): %s", o.Code, orEmpty(o.Text))
				}
				var bad []string
				admin := false
				for _, a := range parseAccounts(o.Text) {
					switch {
					case a.name == e.User:
						admin = true
						if a.status != "L" {
							bad = append(bad, fmt.Sprintf("%s has a usable password (passwd -S: %s); it logs in by key only", a.name, a.status))
						}
					case a.name == "root":
						if a.status != "L" {
							bad = append(bad, fmt.Sprintf("root's password is not locked (passwd -S: %s)", a.status))
						}
						for _, k := range a.keys {
							if !forcesCommand(k) {
								bad = append(bad, "root accepts an SSH key that runs a shell: "+shortKey(k))
							}
						}
					case a.status != "L" || len(a.keys) > 0:
						bad = append(bad, fmt.Sprintf("%s can log in (password %s, %d keys) and is not declared", a.name, a.status, len(a.keys)))
					}
				}
				if !admin {
					bad = append(bad, fmt.Sprintf("the declared admin %q has no login account", e.User))
				}
				return strings.Join(bad, "; ")
			}},
		{ID: "access.keys", Reference: "fjord identity", Title: "The admin accepts exactly the declared SSH keys", Severity: High, Source: "logins",
			Hint: "fjord writes the declared keys on first boot; remove keys added by hand, or declare them in ssh.authorized_keys",
			Judge: func(o Output, e Expect) string {
				want := map[string]bool{}
				for _, k := range e.AuthorizedKeys {
					want[keyID(k)] = true
				}
				var found bool
				var bad []string
				for _, a := range parseAccounts(o.Text) {
					if a.name != e.User {
						continue
					}
					found = true
					have := map[string]bool{}
					for _, k := range a.keys {
						id := keyID(k)
						have[id] = true
						if !want[id] {
							bad = append(bad, "an undeclared key is accepted: "+shortKey(k))
						}
					}
					for _, k := range e.AuthorizedKeys {
						if !have[keyID(k)] {
							bad = append(bad, "a declared key is missing: "+shortKey(k))
						}
					}
				}
				if !found {
					return fmt.Sprintf("there is no login account %q", e.User)
				}
				return strings.Join(bad, "; ")
			}},
		{ID: "access.sudo", Reference: "fjord identity", Title: "Only root and the declared admin have sudo rights", Severity: High, Source: "sudoers",
			Hint: "remove the rule from /etc/sudoers.d or the member from group sudo",
			Judge: func(o Output, e Expect) string {
				rules, members, _ := strings.Cut(o.Text, "@@group")
				// Debian's own rules, and the one cloud-init writes for the admin.
				allowed := map[string]bool{
					"root ALL=(ALL:ALL) ALL":           true,
					"%sudo ALL=(ALL:ALL) ALL":          true,
					"@includedir /etc/sudoers.d":       true,
					e.User + " ALL=(ALL) NOPASSWD:ALL": true,
				}
				var bad []string
				for _, l := range strings.Split(rules, "\n") {
					l = strings.TrimSpace(l)
					if l != "" && !allowed[strings.Join(strings.Fields(l), " ")] {
						bad = append(bad, fmt.Sprintf("sudo rule %q", l))
					}
				}
				for _, m := range strings.Split(strings.TrimSpace(members), ",") {
					if m = strings.TrimSpace(m); m != "" && m != e.User {
						bad = append(bad, m+" is in group sudo")
					}
				}
				return strings.Join(bad, "; ")
			}},
		{ID: "network.listeners", Reference: "fjord segregation", Title: "Nothing listens on the network but sshd and the declared ports", Severity: Medium, Source: "listeners",
			Hint: "stop and disable the service, or bind it to 127.0.0.1; a port meant to serve belongs in docker.publish",
			Judge: func(o Output, e Expect) string {
				declared := map[string]bool{"tcp 22": true, "udp 68": true}
				for _, p := range e.Docker.Publish {
					declared[p.Proto+" "+strconv.Itoa(int(p.Number))] = true
				}
				if o.Code != 0 {
					return fmt.Sprintf("ss failed (exit %d): %s", o.Code, orEmpty(o.Text))
				}
				var bad []string
				sshd := false
				for _, l := range parseListeners(o.Text) {
					sshd = sshd || l.proto == "tcp" && l.port == "22"
					// dockerd holds each published port open (with or without
					// its userland proxy): those are network.published's.
					if l.loopback() || declared[l.proto+" "+l.port] || l.process == "dockerd" || l.process == "docker-proxy" {
						continue
					}
					bad = append(bad, fmt.Sprintf("%s %s:%s (%s)", l.proto, l.addr, l.port, orEmpty(l.process)))
				}
				if !sshd {
					bad = append(bad, "nothing listens on TCP port 22: ss shows no sshd")
				}
				return strings.Join(bad, "; ")
			},
			Observe: func(o Output) string {
				var seen []string
				for _, l := range parseListeners(o.Text) {
					seen = append(seen, fmt.Sprintf("%s %s:%s", l.proto, l.addr, l.port))
				}
				return "listening: " + orEmpty(strings.Join(seen, ", "))
			}},
		{ID: "kernel.current", Reference: "fjord identity", Title: "The newest installed kernel is the one running", Severity: Medium, Source: "kernels",
			Hint: "reboot the host into the kernel its last upgrade installed (fjord rebuild HOST, or a rolling restart)",
			Judge: func(o Output, _ Expect) string {
				running, newest := kernels(o.Text)
				switch {
				case running == "":
					return "uname -r printed nothing"
				case newest != "" && newest != running:
					return fmt.Sprintf("running %s, but %s is installed: the host needs a reboot", running, newest)
				}
				return ""
			},
			Observe: func(o Output) string {
				running, _ := kernels(o.Text)
				return "kernel " + running
			}},
		{ID: "cloudinit.sealed", Reference: "fjord identity", Title: "cloud-init is switched off and no seed is attached", Severity: High, Source: "sealed", AfterSeal: true,
			Hint: "run fjord apply: it seals a host it finds unsealed (touches /etc/cloud/cloud-init.disabled, detaches and deletes the seed)",
			Judge: func(o Output, _ Expect) string {
				var bad []string
				if !hasLine(o.Text, "cloud-init-disabled") {
					bad = append(bad, "/etc/cloud/cloud-init.disabled is missing: a seed with a new instance-id would re-provision the host")
				}
				for _, l := range strings.Split(o.Text, "\n") {
					if strings.HasPrefix(strings.TrimSpace(l), "/dev/") {
						bad = append(bad, "a cidata seed is attached as "+strings.TrimSpace(l))
					}
				}
				return strings.Join(bad, "; ")
			}},
	}
}

type account struct {
	name, status string
	keys         []string
}

func parseAccounts(text string) []account {
	var out []account
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "@@account" {
			a := account{name: f[1]}
			if len(f) > 2 {
				a.status = f[2]
			}
			out = append(out, a)
			continue
		}
		if l != "" && len(out) > 0 {
			out[len(out)-1].keys = append(out[len(out)-1].keys, l)
		}
	}
	return out
}

// keyID is a public key's type and blob, options and comment left out.
func keyID(line string) string {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "unparsable " + line
	}
	return pk.Type() + " " + ssh.FingerprintSHA256(pk)
}

// forcesCommand says whether an authorized_keys line runs a fixed command
// (cloud-init's root key: "please log in as …", then exit).
func forcesCommand(line string) bool {
	_, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return false
	}
	for _, o := range opts {
		if strings.HasPrefix(o, "command=") {
			return true
		}
	}
	return false
}

func shortKey(line string) string {
	pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return fmt.Sprintf("%.40q", line)
	}
	s := pk.Type() + " " + ssh.FingerprintSHA256(pk)
	if comment != "" {
		s += " (" + comment + ")"
	}
	return s
}

type listener struct {
	proto, addr, port, process string
}

func (l listener) loopback() bool {
	return l.addr == "127.0.0.1" || l.addr == "::1" || strings.HasPrefix(l.addr, "127.") || l.addr == "[::1]"
}

// parseListeners reads ss -Hltunp: NETID STATE RECV-Q SEND-Q LOCAL PEER [PROCESS].
func parseListeners(text string) []listener {
	var out []listener
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		local := f[4]
		i := strings.LastIndex(local, ":")
		if i < 0 {
			continue
		}
		l := listener{proto: f[0], addr: strings.Trim(local[:i], "[]"), port: local[i+1:]}
		if j := strings.Index(l.addr, "%"); j >= 0 {
			l.addr = l.addr[:j] // 0.0.0.0%fj0: bound to one interface
		}
		if len(f) > 6 {
			l.process = procName(f[6])
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].proto+out[i].port < out[j].proto+out[j].port })
	return out
}

// procName takes "sshd" from users:(("sshd",pid=380,fd=3)).
func procName(s string) string {
	if i := strings.Index(s, `(("`); i >= 0 {
		rest := s[i+3:]
		if j := strings.Index(rest, `"`); j >= 0 {
			return rest[:j]
		}
	}
	return s
}

func kernels(text string) (running, newest string) {
	a, b, _ := strings.Cut(text, "@@installed")
	running = strings.TrimSpace(a)
	for _, l := range strings.Split(b, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			newest = l // sorted by version: the last is the newest
		}
	}
	return running, newest
}

func init() {
	for id, src := range accessSources {
		Sources[id] = src
	}
}
