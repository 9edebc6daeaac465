// Package firewall renders a host's firewall and judges the live one.
//
// The firewall is iptables rules (the iptables every Docker host has, which
// on Debian 12 drives nf_tables), written in exactly the form iptables-save
// prints them, so that the verifier compares the kernel's ruleset as
// iptables-save reads it back with what fjord wrote, line for line:
//
//   - INPUT drops by default: loopback, replies, ICMP, DHCP replies, SSH
//     from the admin sources and the declared published ports on the
//     management address are all that is accepted.
//   - DOCKER-USER, which Docker jumps to first from FORWARD and never
//     changes, lets through what containers send, replies, and new
//     connections that Docker's DNAT turned from a declared port on the
//     management address into a container's; it drops everything else.
//     Docker's published ports never reach INPUT (DNAT happens before the
//     routing decision), so without this chain `docker run -p` would open
//     a port the host firewall knows nothing of.
package firewall

import (
	"fmt"
	"strings"

	"github.com/fjord-dev/fjord/model"
)

// Chains fjord writes rules into.
const (
	Input      = "INPUT"
	DockerUser = "DOCKER-USER"
)

// Table is the rules of one address family: each chain's rules in order,
// as iptables-save prints them ("-A INPUT -i lo -j ACCEPT").
type Table struct {
	Input      []string
	DockerUser []string // none for IPv6: Docker forwards no IPv6 here
}

// Rules are a host's firewall for both address families.
type Rules struct {
	V4, V6 Table
}

// For is host h's firewall in configuration cfg.
func For(cfg *model.Config, h model.Host) Rules {
	var r Rules
	base := func(icmp string) []string {
		return []string{
			"-A INPUT -i lo -j ACCEPT",
			"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
			"-A INPUT -m conntrack --ctstate INVALID -j DROP",
			"-A INPUT -p " + icmp + " -j ACCEPT",
		}
	}
	r.V4.Input = append(base("icmp"), "-A INPUT -p udp -m udp --sport 67 --dport 68 -j ACCEPT")
	r.V6.Input = base("ipv6-icmp")
	for _, s := range h.AdminSources(cfg) {
		rule := fmt.Sprintf("-A INPUT -s %s -p tcp -m tcp --dport 22 -j ACCEPT", s.Masked())
		if s.Addr().Is4() {
			r.V4.Input = append(r.V4.Input, rule)
		} else {
			r.V6.Input = append(r.V6.Input, rule)
		}
	}
	r.V4.DockerUser = []string{
		"-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
		"-A DOCKER-USER -i docker0 -j RETURN",
		"-A DOCKER-USER -i br-+ -j RETURN",
	}
	if h.IP.IsValid() {
		for _, p := range h.Docker.Publish {
			r.V4.Input = append(r.V4.Input, fmt.Sprintf("-A INPUT -d %s/32 -p %s -m %s --dport %d -j ACCEPT", h.IP, p.Proto, p.Proto, p.Number))
			r.V4.DockerUser = append(r.V4.DockerUser, fmt.Sprintf("-A DOCKER-USER -p %s -m conntrack --ctstate DNAT --ctorigdst %s --ctorigdstport %d -j RETURN", p.Proto, h.IP, p.Number))
		}
	}
	r.V4.DockerUser = append(r.V4.DockerUser, "-A DOCKER-USER -j DROP")
	return r
}

// Restore is t as an iptables-restore file. It replaces fjord's rules and
// leaves every other chain alone (load it with --noflush): Docker's own
// chains survive a reload.
func (t Table) Restore() string {
	var b strings.Builder
	b.WriteString("# Written by fjord: the host firewall (iptables-restore --noflush).\n*filter\n:INPUT DROP [0:0]\n")
	if t.DockerUser != nil {
		b.WriteString(":DOCKER-USER - [0:0]\n")
	}
	b.WriteString("-F INPUT\n")
	if t.DockerUser != nil {
		b.WriteString("-F DOCKER-USER\n")
	}
	for _, l := range append(append([]string{}, t.Input...), t.DockerUser...) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// Saved is what iptables-save printed of the filter table: each chain's
// policy ("-" for a user chain) and rules.
type Saved struct {
	Policy map[string]string
	Rules  map[string][]string
}

// Parse reads iptables-save output of the filter table.
func Parse(text string) (Saved, error) {
	s := Saved{Policy: map[string]string{}, Rules: map[string][]string{}}
	in := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "*filter":
			in = true
		case line == "COMMIT" || strings.HasPrefix(line, "*"):
			in = false
		case !in || line == "" || line[0] == '#':
		case line[0] == ':':
			f := strings.Fields(line[1:])
			if len(f) >= 2 {
				s.Policy[f[0]] = f[1]
			}
		case strings.HasPrefix(line, "-A "):
			chain := strings.Fields(line)[1]
			s.Rules[chain] = append(s.Rules[chain], line)
		}
	}
	if len(s.Policy) == 0 {
		return s, fmt.Errorf("no filter table in the output of iptables-save")
	}
	return s, nil
}

// JudgeInput says what is wrong with the live INPUT chain of s against
// want's: it must drop by default and hold exactly fjord's rules. None
// when the kernel's rules are fjord's.
func JudgeInput(s Saved, want Table) []string {
	var bad []string
	if p := s.Policy[Input]; p != "DROP" {
		bad = append(bad, fmt.Sprintf("INPUT's policy is %s, not DROP", orNone(p)))
	}
	return append(bad, diff(Input, s.Rules[Input], want.Input)...)
}

// JudgeDockerUser says what is wrong with the live DOCKER-USER chain: it
// must hold fjord's rules, followed by nothing but the RETURN Docker
// appends, and FORWARD must jump to it before any rule that accepts.
func JudgeDockerUser(s Saved, want Table) []string {
	if want.DockerUser == nil {
		return nil
	}
	if _, ok := s.Policy[DockerUser]; !ok {
		return []string{"there is no DOCKER-USER chain"}
	}
	// Docker appends a RETURN when it makes the chain; anything else
	// after fjord's final DROP is never reached.
	got := s.Rules[DockerUser]
	for len(got) > len(want.DockerUser) && got[len(got)-1] == "-A DOCKER-USER -j RETURN" {
		got = got[:len(got)-1]
	}
	bad := diff(DockerUser, got, want.DockerUser)
	// Docker puts its jump to DOCKER-USER first, and after a restart
	// second, behind DOCKER-ISOLATION-STAGE-1 (which only drops or
	// returns). What matters is that no FORWARD rule can accept a packet
	// before DOCKER-USER has seen it.
	jumped := false
	for _, r := range s.Rules["FORWARD"] {
		if r == "-A FORWARD -j DOCKER-USER" {
			jumped = true
			break
		}
		if !strings.HasSuffix(r, " -j DROP") && !strings.HasSuffix(r, " -j REJECT") && r != "-A FORWARD -j DOCKER-ISOLATION-STAGE-1" {
			bad = append(bad, fmt.Sprintf("FORWARD's rule %q comes before its jump to DOCKER-USER, so what it lets through skips fjord's rules", strings.TrimPrefix(r, "-A FORWARD ")))
			break
		}
	}
	if !jumped && len(bad) == 0 {
		bad = append(bad, "FORWARD does not jump to DOCKER-USER, so Docker's published ports skip fjord's rules")
	}
	return bad
}

// diff names the rules of chain that are missing, extra or out of order.
func diff(chain string, got, want []string) []string {
	var bad []string
	have := map[string]int{}
	for _, l := range got {
		have[l]++
	}
	wanted := map[string]bool{}
	for _, l := range want {
		wanted[l] = true
		if have[l] == 0 {
			bad = append(bad, fmt.Sprintf("%s lacks fjord's rule %q", chain, strings.TrimPrefix(l, "-A "+chain+" ")))
		}
	}
	for _, l := range got {
		if !wanted[l] {
			bad = append(bad, fmt.Sprintf("%s has a rule fjord did not write: %q", chain, strings.TrimPrefix(l, "-A "+chain+" ")))
		}
	}
	if len(bad) == 0 && strings.Join(got, "\n") != strings.Join(want, "\n") {
		bad = append(bad, fmt.Sprintf("%s holds fjord's rules in another order or repeated", chain))
	}
	return bad
}

func orNone(s string) string {
	if s == "" {
		return "not set"
	}
	return s
}

// Probed are ports that fjord probes from outside a host, besides SSH and
// the declared ones: the Docker API's, and services commonly left open.
var Probed = []uint16{21, 23, 25, 53, 80, 111, 443, 2375, 2376, 2377, 3000, 3306, 5000, 5432, 6379, 6443, 7946, 8000, 8080, 8443, 9000, 9090, 9100, 9323, 10250, 27017}
