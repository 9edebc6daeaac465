package firewall

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

func lanHost() (*model.Config, model.Host) {
	cfg := &model.Config{Networks: []model.Network{
		{Name: "lan", Mode: model.NetBridge, Bridge: "br0", CIDR: netip.MustParsePrefix("10.20.0.0/24")},
		{Name: "backend", CIDR: netip.MustParsePrefix("192.168.50.0/24")},
	}}
	h := model.Host{Networks: []string{"lan", "backend"}, IP: netip.MustParseAddr("10.20.0.21"), Docker: model.HardenedDocker()}
	h.Docker.Publish = []model.Port{{Number: 443, Proto: "tcp"}, {Number: 53, Proto: "udp"}}
	h.Docker.AdminSources = []netip.Prefix{netip.MustParsePrefix("10.20.0.1/32"), netip.MustParsePrefix("fd00::/64")}
	return cfg, h
}

func TestRulesFollowTheConfiguration(t *testing.T) {
	cfg, h := lanHost()
	r := For(cfg, h)
	v4 := strings.Join(r.V4.Input, "\n")
	for _, want := range []string{
		"-A INPUT -s 10.20.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT",
		"-A INPUT -d 10.20.0.21/32 -p tcp -m tcp --dport 443 -j ACCEPT",
		"-A INPUT -d 10.20.0.21/32 -p udp -m udp --dport 53 -j ACCEPT",
	} {
		if !strings.Contains(v4, want) {
			t.Errorf("IPv4 INPUT lacks %q:\n%s", want, v4)
		}
	}
	if strings.Contains(v4, "fd00::") || !strings.Contains(strings.Join(r.V6.Input, "\n"), "-A INPUT -s fd00::/64 -p tcp -m tcp --dport 22 -j ACCEPT") {
		t.Errorf("the IPv6 admin source is not in the IPv6 table only")
	}
	du := r.V4.DockerUser
	if du[len(du)-1] != "-A DOCKER-USER -j DROP" || !strings.Contains(strings.Join(du, "\n"), "--ctorigdst 10.20.0.21 --ctorigdstport 443 -j RETURN") {
		t.Errorf("DOCKER-USER = %v", du)
	}
	h.Docker.AdminSources = nil
	if r := For(cfg, h); !strings.Contains(strings.Join(r.V4.Input, "\n"), "-s 10.20.0.0/24 -p tcp -m tcp --dport 22") {
		t.Errorf("without admin_sources SSH is not open to the management network: %v", r.V4.Input)
	}
}

// The rules go into a real kernel (a network namespace of the test's own)
// with iptables-restore, are read back with iptables-save exactly as the
// verifier reads them on a host, and judged; then each mutation an admin
// or attacker could make is applied there and must be found.
func TestLiveRulesRoundTripAndMutationsAreFound(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("iptables-restore"); err != nil {
		t.Skip("iptables is not installed")
	}
	cfg, h := lanHost()
	r := For(cfg, h)
	dir := t.TempDir()
	os.WriteFile(dir+"/v4", []byte(r.V4.Restore()), 0o600)
	os.WriteFile(dir+"/v6", []byte(r.V6.Restore()), 0o600)
	// What Docker does at start: its jump first in FORWARD, a RETURN at
	// the end of DOCKER-USER.
	docker := "iptables -I FORWARD -j DOCKER-USER && iptables -A DOCKER-USER -j RETURN"
	load := "iptables-restore --noflush " + dir + "/v4 && ip6tables-restore --noflush " + dir + "/v6 && " + docker
	save := "iptables-save -t filter && echo @@ip6 && ip6tables-save -t filter"
	judge := func(script string) []string {
		t.Helper()
		out, err := exec.Command("unshare", "-n", "sh", "-ec", script).CombinedOutput()
		if err != nil {
			t.Skipf("cannot run iptables in a network namespace here: %v: %s", err, out)
		}
		a, b, _ := strings.Cut(string(out), "@@ip6")
		v4, err := Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		v6, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		bad := append(JudgeInput(v4, r.V4), JudgeDockerUser(v4, r.V4)...)
		return append(bad, JudgeInput(v6, r.V6)...)
	}
	if bad := judge(load + " && " + save); len(bad) != 0 {
		t.Fatalf("fjord's own rules, read back, are judged wrong: %v", bad)
	}
	// After a restart Docker 20.10 puts its isolation chain (drops and
	// returns only) before the jump: still judged sound.
	isolationFirst := "iptables -N DOCKER-ISOLATION-STAGE-1 && iptables -A DOCKER-ISOLATION-STAGE-1 -j RETURN && iptables -I FORWARD -j DOCKER-ISOLATION-STAGE-1"
	if bad := judge(load + " && " + isolationFirst + " && " + save); len(bad) != 0 {
		t.Fatalf("Docker's isolation chain before the jump: %v", bad)
	}
	// Loading twice (a restart of the unit) changes nothing.
	if bad := judge(load + " && iptables-restore --noflush " + dir + "/v4 && " + save); len(bad) != 0 {
		t.Fatalf("reloaded: %v", bad)
	}
	for _, m := range []struct{ name, cmd, want string }{
		{"policy accept", "iptables -P INPUT ACCEPT", "INPUT's policy is ACCEPT"},
		{"port opened", "iptables -A INPUT -p tcp --dport 8080 -j ACCEPT", `INPUT has a rule fjord did not write: "-p tcp -m tcp --dport 8080 -j ACCEPT"`},
		{"ssh opened to all", "iptables -D INPUT -s 10.20.0.1/32 -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -p tcp --dport 22 -j ACCEPT", `INPUT lacks fjord's rule "-s 10.20.0.1/32`},
		{"docker-user bypassed", "iptables -I DOCKER-USER -j RETURN", "DOCKER-USER"},
		{"docker-user unhooked", "iptables -D FORWARD -j DOCKER-USER", "FORWARD does not jump to DOCKER-USER"},
		{"docker-user hooked late", "iptables -D FORWARD -j DOCKER-USER && iptables -A FORWARD -o docker0 -j ACCEPT && iptables -A FORWARD -j DOCKER-USER", `FORWARD's rule "-o docker0 -j ACCEPT" comes before its jump to DOCKER-USER`},
		{"ipv6 open", "ip6tables -P INPUT ACCEPT", "INPUT's policy is ACCEPT"},
	} {
		bad := judge(load + " && " + m.cmd + " && " + save)
		if !strings.Contains(strings.Join(bad, "\n"), m.want) {
			t.Errorf("%s (%s): found %v, want %q", m.name, m.cmd, bad, m.want)
		}
	}
}
