package verify

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/sshx"
)

// host answers the combined check script with outputs recorded from a
// hardened Debian bookworm guest (testdata/good), as the real script frames
// them, optionally with some sources replaced.
type host struct {
	out      map[string]Output
	lastCmd  string
	failWith error
}

func goodHost(t *testing.T) *host {
	t.Helper()
	h := &host{out: map[string]Output{}}
	for id := range Sources {
		b, err := os.ReadFile(filepath.Join("testdata", "good", id))
		if err != nil {
			t.Fatalf("recorded output for source %s: %v", id, err)
		}
		h.out[id] = Output{Text: string(b)}
	}
	return h
}

func (h *host) Run(_ context.Context, cmd string) (sshx.Result, error) {
	h.lastCmd = cmd
	if h.failWith != nil {
		return sshx.Result{}, h.failWith
	}
	var b strings.Builder
	ids := make([]string, 0, len(h.out))
	for id := range h.out {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := h.out[id]
		fmt.Fprintf(&b, "\n%s %s\n%s\n%s-rc %s %d\n", marker, id, o.Text, marker, id, o.Code)
	}
	return sshx.Result{Stdout: b.String()}, nil
}

func expect() Expect {
	b, _ := os.ReadFile(filepath.Join("testdata", "good", "daemon-json"))
	d := model.HardenedDocker()
	d.Networks = []model.DockerNetwork{{Name: "backend", Internal: true}}
	return Expect{DaemonJSON: b, Docker: d, Firewall: testFirewall(d), User: "admin", Sealed: true,
		Sysctls:        map[string]string{"vm.max_map_count": "262144", "net.ipv4.ip_local_port_range": "32768 60999"},
		SSHDOptions:    map[string]string{"MaxSessions": "4"},
		AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIFVoHCBzjiEhJoSeVmk+4KCqXU2Jk8o6/Ug/U7oMZR3 e2e"}}
}

// testFirewall is the firewall of the host testdata/good/firewall was read
// from: 192.168.150.253 on an isolated 192.168.150.0/24.
func testFirewall(d model.Docker) firewall.Rules {
	cfg := &model.Config{Networks: []model.Network{{Name: "lab", CIDR: netip.MustParsePrefix("192.168.150.0/24")}}}
	return firewall.For(cfg, model.Host{Networks: []string{"lab"}, IP: netip.MustParseAddr("192.168.150.253"), Docker: d})
}

func run(t *testing.T, h *host, e Expect) map[string]Outcome {
	t.Helper()
	outs, err := Run(context.Background(), h, All(), e)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Outcome{}
	for _, o := range outs {
		m[o.ID] = o
	}
	return m
}

func failing(m map[string]Outcome) []string {
	var ids []string
	for id, o := range m {
		if o.Status == Fail {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestHardenedHostPassesEveryCheck(t *testing.T) {
	h := goodHost(t)
	m := run(t, h, expect())
	if f := failing(m); len(f) != 0 {
		for _, id := range f {
			t.Errorf("%s failed on the hardened host: %s", id, m[id].Detail)
		}
	}
	if len(m) != len(All()) {
		t.Errorf("%d outcomes for %d checks", len(m), len(All()))
	}
	if d := m["docker.engine"].Detail; d != "Docker 20.10.24+dfsg1 (API 1.41), package docker.io 20.10.24+dfsg1-1+deb12u1+b6" {
		t.Errorf("docker.engine reports %q", d)
	}
	if !strings.HasPrefix(h.lastCmd, "sudo -n sh -c ") || strings.Count(h.lastCmd, marker+"-rc") != len(Sources) {
		t.Errorf("the checks did not run as one root script with every source: %.200s", h.lastCmd)
	}
}

// Each mutation is a setting gone wrong, the recorded output that shows it,
// and exactly the checks that must fail because of it.
func TestEachMutationFailsExactlyItsChecks(t *testing.T) {
	containers, err := os.ReadFile("testdata/containers/evil")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(text, old, new string) string { return strings.Replace(text, old, new, 1) }
	tests := []struct {
		name   string
		source string
		mutate func(o Output) Output
		want   []string
	}{
		{"software emulation", "virt", func(Output) Output { return Output{Text: "qemu"} }, []string{"guest.kvm"}},
		{"firewall accepting by default (iptables -P INPUT ACCEPT)", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, ":INPUT DROP [0:0]", ":INPUT ACCEPT [0:0]")}
		}, []string{"firewall.input"}},
		{"firewall opened for one more port (iptables -A INPUT -p tcp --dport 8080 -j ACCEPT)", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, "-A FORWARD -j DOCKER-USER", "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT\n-A FORWARD -j DOCKER-USER")}
		}, []string{"firewall.input"}},
		{"firewall flushed on IPv6 only (ip6tables -F INPUT)", "firewall", func(o Output) Output {
			before, after, _ := strings.Cut(o.Text, "@@ip6")
			return Output{Text: before + "@@ip6" + strings.ReplaceAll(after, "-A INPUT -p ipv6-icmp -j ACCEPT\n", "")}
		}, []string{"firewall.input"}},
		{"DOCKER-USER let everything through (iptables -I DOCKER-USER -j RETURN)", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, "-A DOCKER-USER -m conntrack", "-A DOCKER-USER -j RETURN\n-A DOCKER-USER -m conntrack")}
		}, []string{"firewall.docker-user"}},
		{"docker restarted: its isolation chain before the jump to DOCKER-USER (as Docker 20.10 does)", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, "-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A FORWARD -j DOCKER-USER\n")}
		}, []string{}},
		{"an ACCEPT before the jump to DOCKER-USER", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, "-A FORWARD -j DOCKER-USER\n", "-A FORWARD -o docker0 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n")}
		}, []string{"firewall.docker-user"}},
		{"DOCKER-USER skipped (iptables -D FORWARD -j DOCKER-USER)", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, "-A FORWARD -j DOCKER-USER\n", "")}
		}, []string{"firewall.docker-user"}},
		{"DOCKER-USER's final drop removed", "firewall", func(o Output) Output {
			return Output{Text: replace(o.Text, "-A DOCKER-USER -j DROP\n", "")}
		}, []string{"firewall.docker-user"}},
		{"firewall never loaded (no fjord rules, policies ACCEPT)", "firewall", func(Output) Output {
			return Output{Text: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n@@ip6\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"}
		}, []string{"firewall.input", "firewall.docker-user"}},
		{"a second account with a password (useradd -m -s /bin/bash ops; passwd ops)", "logins", func(o Output) Output {
			return Output{Text: o.Text + "\n@@account ops P"}
		}, []string{"access.logins"}},
		{"root given a password", "logins", func(o Output) Output {
			return Output{Text: replace(o.Text, "@@account root L", "@@account root P")}
		}, []string{"access.logins"}},
		{"root accepting a key that runs a shell", "logins", func(o Output) Output {
			return Output{Text: replace(o.Text, "@@account root L", "@@account root L\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 intruder")}
		}, []string{"access.logins"}},
		{"a key added to the admin's authorized_keys", "logins", func(o Output) Output {
			return Output{Text: o.Text + "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 intruder"}
		}, []string{"access.keys"}},
		{"the declared key removed", "logins", func(o Output) Output {
			return Output{Text: replace(o.Text, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIFVoHCBzjiEhJoSeVmk+4KCqXU2Jk8o6/Ug/U7oMZR3 e2e", "")}
		}, []string{"access.keys"}},
		{"a sudo rule for another user", "sudoers", func(o Output) Output {
			return Output{Text: replace(o.Text, "@@group", "ops ALL=(ALL) NOPASSWD: /usr/bin/docker\n@@group")}
		}, []string{"access.sudo"}},
		{"a member added to group sudo", "sudoers", func(o Output) Output {
			return Output{Text: replace(o.Text, "@@group ", "@@group ops")}
		}, []string{"access.sudo"}},
		{"a service listening on all addresses", "listeners", func(o Output) Output {
			return Output{Text: o.Text + "tcp LISTEN 0      5               0.0.0.0:8000  0.0.0.0:* users:((\"python3\",pid=901,fd=3))\n"}
		}, []string{"network.listeners"}},
		{"a published port, which dockerd holds open (network.published judges it)", "listeners", func(o Output) Output {
			return Output{Text: o.Text + "tcp LISTEN 0      4096            0.0.0.0:9090  0.0.0.0:* users:((\"dockerd\",pid=602,fd=31))\n"}
		}, []string{}},
		{"a newer kernel installed, the old one running", "kernels", func(o Output) Output {
			return Output{Text: o.Text + "6.1.0-51-cloud-amd64\n"}
		}, []string{"kernel.current"}},
		{"cloud-init switched on again", "sealed", func(Output) Output { return Output{Text: ""} }, []string{"cloudinit.sealed"}},
		{"a seed attached", "sealed", func(o Output) Output { return Output{Text: o.Text + "/dev/sr0\n"} }, []string{"cloudinit.sealed"}},
		{"containers run unconfined by default (seccomp-profile: unconfined)", "seccomp", func(o Output) Output {
			return Output{Text: replace(o.Text, "profile=default", "profile=unconfined")}
		}, []string{"docker.seccomp"}},
		{"a daemon profile swapped for one that allows by default", "seccomp", func(o Output) Output {
			return Output{Text: replace(o.Text, "profile=default", "profile=custom") + "@@profile /etc/docker/seccomp/fjord.json\n{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": []}\n"}
		}, []string{"docker.seccomp"}},
		{"container publishing an undeclared port", "containers", func(Output) Output {
			b, _ := os.ReadFile("testdata/containers/published")
			return Output{Text: string(b)}
		}, []string{"network.published"}},
		{"userns-remap removed", "docker-info", func(o Output) Output {
			return Output{Text: replace(o.Text, `"name=userns",`, "")}
		}, []string{"docker.userns"}},
		{"userns-remap removed from daemon.json", "daemon-json", func(o Output) Output {
			return Output{Text: replace(o.Text, `"userns-remap": "default",`, "")}
		}, []string{"docker.daemon-json"}},
		{"icc enabled", "daemon-json", func(o Output) Output {
			return Output{Text: replace(o.Text, `"icc": false`, `"icc": true`)}
		}, []string{"docker.daemon-json", "docker.icc"}},
		{"tcp listener", "daemon-json", func(o Output) Output {
			return Output{Text: replace(o.Text, `"icc": false`, `"icc": false, "hosts": ["tcp://0.0.0.0:2375"]`)}
		}, []string{"docker.daemon-json", "docker.hosts"}},
		{"password login", "sshd", func(o Output) Output {
			return Output{Text: replace(o.Text, "passwordauthentication no", "passwordauthentication yes")}
		}, []string{"ssh.passwordauthentication"}},
		{"too many auth tries", "sshd", func(o Output) Output {
			return Output{Text: replace(o.Text, "maxauthtries 3", "maxauthtries 6")}
		}, []string{"ssh.maxauthtries"}},
		{"docker socket world-writable", "files", func(o Output) Output {
			return Output{Text: replace(o.Text, "/run/docker.sock root:docker 660", "/run/docker.sock root:docker 666")}
		}, []string{"file.run.docker.sock"}},
		{"dmesg readable", "sysctl", func(o Output) Output {
			return Output{Text: replace(o.Text, "kernel.dmesg_restrict = 1", "kernel.dmesg_restrict = 0")}
		}, []string{"sysctl.kernel.dmesg_restrict"}},
		{"a declared sysctl changed at run time (sysctl -w vm.max_map_count=65530)", "sysctl-declared", func(o Output) Output {
			return Output{Text: replace(o.Text, "vm.max_map_count = 262144", "vm.max_map_count = 65530")}
		}, []string{"sysctl.declared"}},
		{"a declared sysctl taken out of 90-fjord.conf", "sysctl-declared", func(o Output) Output {
			return Output{Text: replace(o.Text, "vm.max_map_count = 262144\n", "")}
		}, []string{"sysctl.declared"}},
		{"an sshd drop-in sorting before fjord's sets a declared option first (MaxSessions 10)", "sshd", func(o Output) Output {
			return Output{Text: replace(o.Text, "maxsessions 4", "maxsessions 10")}
		}, []string{"ssh.declared"}},
		{"no data disk", "data-disk", func(Output) Output { return Output{Code: 1} }, []string{"docker.data-disk"}},
		{"admin in the docker group", "docker-group", func(Output) Output { return Output{Text: "docker:x:998:admin"} }, []string{"docker.group"}},
		{"audit rules gone", "audit", func(o Output) Output {
			return Output{Text: "No rules\n@@exists\n/var/lib/docker\n/etc/docker"}
		}, []string{"docker.audit"}},
		{"swarm initialised", "docker-info", func(o Output) Output {
			return Output{Text: replace(o.Text, `"inactive"`, `"active"`)}
		}, []string{"docker.swarm"}},
		{"internal network made routable", "networks", func(o Output) Output {
			return Output{Text: replace(o.Text, "backend true", "backend false")}
		}, []string{"docker.networks"}},
		{"privileged container with / mounted", "containers", func(Output) Output { return Output{Text: string(containers)} },
			[]string{"runtime.cap-add", "runtime.host-mounts", "runtime.host-namespaces", "runtime.pids-limit", "runtime.privileged", "runtime.root-writable", "runtime.unconfined"}},
		{"docker down", "dockerd-args", func(Output) Output { return Output{Code: 1} }, []string{"docker.tcp"}},
		{"fjord-authz stopped", "authz-service", func(Output) Output { return Output{Text: "inactive\nenabled"} }, []string{"authz.service"}},
		{"fjord-authz taken out of daemon.json", "daemon-json", func(o Output) Output {
			return Output{Text: replace(o.Text, `,
  "authorization-plugins": [
    "fjord-authz"
  ]`, "")}
		}, []string{"docker.authorization-plugins", "docker.daemon-json"}},
		// What the daemon answers without the plugin: the request goes on and
		// fails only because the image does not exist.
		{"fjord-authz not enforcing", "authz", everyRule("404 No such image: fjord.invalid/authz-check:none"), authzIDs()},
		{"fjord-authz down while docker runs", "authz",
			everyRule("500 plugin fjord-authz failed with error: AuthZPlugin.AuthZReq: dial unix /run/docker/plugins/fjord-authz.sock: connect: connection refused"),
			authzIDs()},
		{"engine without the CVE-2024-41110 fix", "engine", func(Output) Output {
			return Output{Text: "20.10.24+dfsg1 1.41\n20.10.24+dfsg1-1 unfixed"}
		}, []string{"docker.engine"}},
		{"an engine newer than fjord-authz judges for", "engine", func(Output) Output {
			return Output{Text: "26.1.5 1.45\nnone unfixed"}
		}, []string{"docker.engine"}},
		{"fjord-authz in a mount namespace of its own (PrivateTmp)", "authz-mountns", func(Output) Output {
			return Output{Text: "mnt:[4026532201]\nmnt:[4026531841]"}
		}, []string{"authz.namespace"}},
		{"a request too large to forward let through", "authz", func(o Output) Output {
			return Output{Text: replace(o.Text, "unreadable 403 authorization denied by plugin fjord-authz: container create refused", "unreadable 404 No such image: x")}
		}, []string{"authz.unreadable"}},
		{"only --privileged let through", "authz", func(o Output) Output {
			return Output{Text: replace(o.Text, "privileged 403 authorization denied by plugin fjord-authz: --privileged is refused", "privileged 404 No such image: x")}
		}, []string{"authz.privileged"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := goodHost(t)
			h.out[tc.source] = tc.mutate(h.out[tc.source])
			m := run(t, h, expect())
			got := failing(m)
			sort.Strings(tc.want)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("failed checks = %v, want %v", got, tc.want)
			}
			for _, id := range got {
				if m[id].Detail == "" || m[id].Hint == "" {
					t.Errorf("%s failed without detail or hint: %+v", id, m[id])
				}
			}
		})
	}
}

// everyRule answers every authz probe of a recorded output the same way.
func everyRule(answer string) func(Output) Output {
	return func(o Output) Output {
		var b strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(o.Text), "\n") {
			rule, _, _ := strings.Cut(line, " ")
			b.WriteString(rule + " " + answer + "\n")
		}
		return Output{Text: b.String()}
	}
}

// authzIDs are the per-rule fjord-authz checks.
func authzIDs() []string {
	var ids []string
	for _, c := range authzChecks() {
		if c.Source == "authz" {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func TestAuthzRelaxationIsAWaiver(t *testing.T) {
	h := goodHost(t)
	h.out["authz"] = Output{Text: strings.Replace(h.out["authz"].Text,
		"host_network 403 authorization denied by plugin fjord-authz: --network=host is refused", "host_network 404 No such image: x", 1)}
	e := expect()
	e.Docker.Authz.Relax = map[string]string{"host_network": "the proxy binds host ports"}
	m := run(t, h, e)
	if o := m["authz.host-network"]; o.Status != Waived || !strings.Contains(o.Waiver, "the proxy binds host ports") {
		t.Errorf("authz.host-network = %+v", o)
	}
	if f := failing(m); len(f) != 0 {
		t.Errorf("failing: %v", f)
	}
}

func TestRuntimeFindingsNameTheContainer(t *testing.T) {
	b, _ := os.ReadFile("testdata/containers/evil")
	h := goodHost(t)
	h.out["containers"] = Output{Text: string(b)}
	m := run(t, h, expect())
	d := m["runtime.privileged"].Detail
	if !strings.Contains(d, "container evil (3f2a9c1d7e5b)") || strings.Contains(d, "tidy") {
		t.Errorf("privileged finding = %q", d)
	}
	if !strings.Contains(m["runtime.host-namespaces"].Detail, "host pid, userns namespace") {
		t.Errorf("namespaces finding = %q", m["runtime.host-namespaces"].Detail)
	}
}

func TestWaivers(t *testing.T) {
	h := goodHost(t)
	h.out["virt"] = Output{Text: "qemu"}
	h.out["data-disk"] = Output{Code: 1}
	e := expect()
	e.Docker.DataDisk = 0
	e.Docker.Waive = map[string]string{"guest.kvm": "test host under TCG"}
	m := run(t, h, e)
	if o := m["guest.kvm"]; o.Status != Waived || o.Waiver != "test host under TCG" {
		t.Errorf("guest.kvm = %+v", o)
	}
	if o := m["docker.data-disk"]; o.Status != Waived || !strings.Contains(o.Waiver, "data_disk") {
		t.Errorf("docker.data-disk = %+v", o)
	}
	if f := Failed(mapValues(m)); len(f) != 0 {
		t.Errorf("waived failures counted as failures: %+v", f)
	}
	// A waiver is never a pass: the same host with the setting right passes.
	if m := run(t, goodHost(t), e); m["guest.kvm"].Status != Pass {
		t.Errorf("guest.kvm on a KVM host = %+v", m["guest.kvm"])
	}
}

func TestLoosenedSettingIsAWaiverNotAPass(t *testing.T) {
	h := goodHost(t)
	h.out["daemon-json"] = Output{Text: strings.Replace(h.out["daemon-json"].Text, `"icc": false`, `"icc": true`, 1)}
	e := expect()
	e.Docker.ICC = true
	e.DaemonJSON = []byte(h.out["daemon-json"].Text) // what fjord rendered for icc = true
	m := run(t, h, e)
	if o := m["docker.icc"]; o.Status != Waived || !strings.Contains(o.Waiver, "icc = true") {
		t.Errorf("docker.icc = %+v", o)
	}
	if o := m["docker.daemon-json"]; o.Status != Pass {
		t.Errorf("the file is as rendered, yet docker.daemon-json = %+v", o)
	}
}

func mapValues(m map[string]Outcome) []Outcome {
	var out []Outcome
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

func TestTransportErrorAndMissingSudo(t *testing.T) {
	h := goodHost(t)
	h.failWith = fmt.Errorf("connection reset")
	if _, err := Run(context.Background(), h, All(), expect()); err == nil {
		t.Error("a dropped connection was not reported")
	}
	r := runnerFunc(func(string) sshx.Result { return sshx.Result{ExitCode: 1, Stderr: "sudo: a password is required"} })
	_, err := Run(context.Background(), r, All(), expect())
	if err == nil || !strings.Contains(err.Error(), "a password is required") {
		t.Errorf("err = %v", err)
	}
}

type runnerFunc func(string) sshx.Result

func (f runnerFunc) Run(_ context.Context, cmd string) (sshx.Result, error) { return f(cmd), nil }

func TestCheckIDsAreUniqueAndKnown(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range All() {
		if seen[c.ID] {
			t.Errorf("duplicate check ID %s", c.ID)
		}
		seen[c.ID] = true
		if _, ok := Sources[c.Source]; !ok {
			t.Errorf("%s reads unknown source %q", c.ID, c.Source)
		}
		if c.Reference == "" || c.Title == "" || c.Hint == "" || c.Severity == "" {
			t.Errorf("%s lacks reference, title, hint or severity", c.ID)
		}
	}
	for _, id := range []string{"guest.kvm", "sysctl.*", "runtime.privileged"} {
		if !Known(id) {
			t.Errorf("Known(%q) = false", id)
		}
	}
	if Known("nope") || Known("nope.*") {
		t.Error("unknown IDs accepted")
	}
}

func TestHostKVM(t *testing.T) {
	e := expect()
	if o := HostKVM(true, true, nil, e); o.Status != Pass {
		t.Errorf("KVM in use: %+v", o)
	}
	if o := HostKVM(false, true, nil, e); o.Status != Fail || !strings.Contains(o.Detail, "enabled=false") {
		t.Errorf("TCG: %+v", o)
	}
	if o := HostKVM(false, false, fmt.Errorf("QMP unavailable"), e); o.Status != Fail || o.Detail != "QMP unavailable" {
		t.Errorf("no answer: %+v", o)
	}
	e.Docker.Waive = map[string]string{"host.kvm": "test host"}
	if o := HostKVM(false, true, nil, e); o.Status != Waived || o.Waiver != "test host" {
		t.Errorf("waived TCG: %+v", o)
	}
}

// TestEveryCheckCanFail breaks each check's source in turn (the command
// failed, or printed nothing useful) and requires that check to fail: no
// judge passes whatever it is given.
func TestEveryCheckCanFail(t *testing.T) {
	broken := []Output{{Code: 1, Text: "sh: 1: command not found"}, {Text: ""}, {Text: "garbage"}}
	for _, c := range All() {
		failed := false
		for _, b := range broken {
			if c.Judge(b, expect()) != "" {
				failed = true
			}
		}
		if c.Source == "containers" || c.Source == "files" || c.Source == "docker-group" {
			// These judge what is present: no container, file or member is a
			// pass; their failing outputs are in the mutation tests.
			continue
		}
		if !failed {
			t.Errorf("%s passes even when its source %q is broken", c.ID, c.Source)
		}
	}
}

// TestDockerProbe runs the script's Docker probe against stand-in docker
// commands: a daemon that answers, and one that refuses every request.
func TestDockerProbe(t *testing.T) {
	for _, tc := range []struct {
		docker, want string
	}{
		{`echo '{"ServerVersion":"20.10.24"}'; echo name=seccomp,profile=default`, "[]"},
		{`echo "Error response from daemon: plugin fjord-authz failed" >&2; exit 1`, "[Error response from daemon: plugin fjord-authz failed]"},
		{"exit 1", "[docker info failed]"},
		// An answer without the JSON line is no answer.
		{"echo 'Client: Docker Engine'", "[Client: Docker Engine]"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+tc.docker+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", dockerProbe+`; printf '[%s]' "$docker_down"`)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Errorf("docker %q: %q, %v; want %q", tc.docker, out, err, tc.want)
		}
	}
	// The whole script parses, with the guard on each Docker source.
	s, _ := script(All())
	inner, err := exec.Command("sh", "-c", "printf %s "+strings.TrimPrefix(s, "sudo -n sh -c ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", "-c", string(inner)).CombinedOutput(); err != nil {
		t.Fatalf("the check script does not parse: %v\n%s", err, out)
	}
	if n := strings.Count(string(inner), `if [ -n "$docker_down" ]`); n != len(dockerSources) {
		t.Errorf("%d Docker sources guarded, want %d", n, len(dockerSources))
	}
}

// The docker-info and seccomp sources read the probe's one answer: its
// JSON line, and the security options after it.
func TestDockerInfoSourcesShareTheProbe(t *testing.T) {
	dir := t.TempDir()
	// A stand-in docker that answers as dockerd 20.10 did, once.
	stub := "#!/bin/sh\n[ -e " + dir + "/asked ] && { echo asked twice >&2; exit 1; }\ntouch " + dir + "/asked\n" +
		"echo '{\"ServerVersion\":\"20.10.24+dfsg1\",\"SecurityOptions\":[\"name=apparmor\",\"name=seccomp,profile=default\",\"name=userns\"]}'\n" +
		"printf 'name=apparmor\\nname=seccomp,profile=default\\nname=userns\\n\\n'\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"docker-info": `{"ServerVersion":"20.10.24+dfsg1","SecurityOptions":["name=apparmor","name=seccomp,profile=default","name=userns"]}`,
		"seccomp":     "name=apparmor\nname=seccomp,profile=default\nname=userns",
	} {
		os.Remove(filepath.Join(dir, "asked"))
		cmd := exec.Command("sh", "-c", dockerProbe+"\n"+Sources[id])
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: %q, %v; want %q", id, out, err, want)
		}
	}
}

// A custom profile that denies by default passes docker.seccomp.
func TestSeccompProfileDenyingByDefaultPasses(t *testing.T) {
	h := goodHost(t)
	h.out["seccomp"] = Output{Text: "name=apparmor\nname=seccomp,profile=custom\n@@profile /etc/docker/seccomp/fjord.json\n{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"}]}\n"}
	if o := run(t, h, expect())["docker.seccomp"]; o.Status != Pass {
		t.Errorf("deny-by-default profile: %+v", o)
	}
	h.out["seccomp"] = Output{Text: "name=apparmor\nname=seccomp,profile=custom\n@@profile /etc/docker/seccomp/fjord.json\n{\"defaultaction\": \"SCMP_ACT_LOG\"}\n"}
	if o := run(t, h, expect())["docker.seccomp"]; o.Status != Fail || !strings.Contains(o.Detail, "/etc/docker/seccomp/fjord.json") || !strings.Contains(o.Detail, "SCMP_ACT_LOG") {
		t.Errorf("a lower-case key, as dockerd decodes it: %+v", o)
	}
}

// sshd prints a time in seconds and a keyword's values one line each;
// the declared form must be judged the same.
func TestDeclaredSSHDValues(t *testing.T) {
	for _, tc := range []struct {
		got, declared string
		same          bool
	}{
		{"120", "2m", true},
		{"5400", "1h30m", true},
		{"600", "10M", true},
		{"120", "3m", false},
		{"yes", "Yes", true},
		{"admin ops", "admin  ops", true},
		{"admin", "admin ops", false},
		{"4", "4x", false},
	} {
		if got := sameSSHDValue(tc.got, tc.declared); got != tc.same {
			t.Errorf("sshd %q vs declared %q: same = %v, want %v", tc.got, tc.declared, got, tc.same)
		}
	}
	v := sshdValues("allowusers admin\nallowusers ops\nmaxsessions 4\n")
	if v["allowusers"] != "admin ops" || v["maxsessions"] != "4" {
		t.Errorf("sshd -T read as %v", v)
	}
}

// The declared-sysctls source, run here against a file of fjord's shape:
// hardening keys before the marker are not read, a key the kernel lacks
// prints nothing, and the others print the kernel's value.
func TestDeclaredSysctlsSource(t *testing.T) {
	if _, err := exec.LookPath("sysctl"); err != nil {
		t.Skip("no sysctl on this machine")
	}
	f := filepath.Join(t.TempDir(), "90-fjord.conf")
	os.WriteFile(f, []byte("kernel.dmesg_restrict = 1\n# Declared for this host in HCL (sysctls).\nfs.no_such_key = 3\nvm.max_map_count = 262144\n"), 0o644)
	out, err := exec.Command("sh", "-c", strings.ReplaceAll(Sources["sysctl-declared"], "/etc/sysctl.d/90-fjord.conf", f)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	live, _ := exec.Command("sysctl", "-n", "vm.max_map_count").Output()
	if want := "vm.max_map_count = " + strings.TrimSpace(string(live)) + "\n"; string(out) != want {
		t.Errorf("source printed %q, want %q", out, want)
	}
}
