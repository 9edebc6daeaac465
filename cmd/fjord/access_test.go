package main

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/verify"
)

// The JUnit report has a suite per host and a case per check: failures
// with their reference and fix, waivers as skipped cases, a host that could
// not be checked as one error.
func TestJUnitReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.xml")
	reports := []provision.HostResult{
		{Host: "web-0", Seconds: 12.5, Checks: []verify.Outcome{
			{ID: "docker.icc", Title: "icc off", Reference: "CIS 2.2", Status: verify.Pass},
			{ID: "docker.userns", Title: "userns", Reference: "CIS 2.9", Status: verify.Fail, Detail: "no userns", Hint: "set userns-remap"},
			{ID: "guest.kvm", Title: "kvm", Status: verify.Waived, Waiver: "CI runner"},
		}},
		{Host: "web-1", Error: "ssh: connection refused"},
	}
	if err := writeJUnit(path, reports); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b)
	}
	if len(got.Suites) != 2 {
		t.Fatalf("suites: %+v", got.Suites)
	}
	s := got.Suites[0]
	if s.Name != "fjord.verify.web-0" || s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Errors != 0 || s.Time != "12.500" {
		t.Errorf("suite web-0: %+v", s)
	}
	f := s.Cases[1].Failure
	if f == nil || f.Message != "no userns" || !strings.Contains(f.Text, "CIS 2.9") || !strings.Contains(f.Text, "fix: set userns-remap") {
		t.Errorf("failure case: %+v", s.Cases[1])
	}
	if sk := s.Cases[2].Skipped; sk == nil || sk.Message != "waived: CI runner" {
		t.Errorf("waived case: %+v", s.Cases[2])
	}
	if e := got.Suites[1]; e.Errors != 1 || e.Tests != 1 || e.Cases[0].Error == nil || e.Cases[0].Error.Message != "ssh: connection refused" {
		t.Errorf("unreachable host: %+v", e)
	}
}

// The ssh config trusts only the pinned key, per host alias.
func TestSSHConfigText(t *testing.T) {
	hosts := []pinnedHost{{alias: "demo-web", address: "192.168.150.7",
		host: model.Host{SSH: model.SSH{User: "admin", PrivateKeyFile: "/home/u/.ssh/id_ed25519"}}}}
	got := sshConfigText("demo", "/home/u/.ssh/fjord/demo.known_hosts", hosts)
	for _, want := range []string{"Host demo-web\n", "HostName 192.168.150.7", "User admin", "IdentityFile /home/u/.ssh/id_ed25519",
		"IdentitiesOnly yes", "UserKnownHostsFile /home/u/.ssh/fjord/demo.known_hosts", "StrictHostKeyChecking yes", "HostKeyAlias demo-web"} {
		if !strings.Contains(got, want) {
			t.Errorf("ssh config lacks %q:\n%s", want, got)
		}
	}
}

// ~/.ssh/config gets fjord's Include once, at the top, keeping what was there.
func TestEnsureIncludeOnceAtTheTop(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte("Host old\n  User me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := ensureInclude(dir); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config"))
	if strings.Count(string(b), sshInclude) != 1 || !strings.HasSuffix(string(b), "Host old\n  User me\n") ||
		strings.Index(string(b), sshInclude) > strings.Index(string(b), "Host old") {
		t.Errorf("config:\n%s", b)
	}
	fresh := filepath.Join(t.TempDir(), "ssh")
	if err := ensureInclude(fresh); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(fresh, "config")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new config: %v %v", st, err)
	}
}

// verify takes -dir like ssh and rebuild; the old DIR argument still
// works, saying it is deprecated, and a host name is not taken for a
// directory.
func TestVerifyGrammar(t *testing.T) {
	a, _, errb := testApp("")
	a.run(context.Background(), []string{"verify", "testdata/testdriver"})
	if !strings.Contains(errb.String(), "fjord verify DIR is deprecated: use fjord verify -dir testdata/testdriver") {
		t.Errorf("old form: %s", errb)
	}
	a, _, errb = testApp("")
	a.run(context.Background(), []string{"verify", "-dir", "testdata/testdriver", "web-7"})
	if strings.Contains(errb.String(), "deprecated") || !strings.Contains(errb.String(), `no host "web-7" in the configuration (hosts: web-0, web-1)`) {
		t.Errorf("new form with an unknown host: %s", errb)
	}
}

func TestSSHAddress(t *testing.T) {
	for in, want := range map[string]string{
		"qemu+ssh://root@hv2/system": "hv2:22", "qemu+ssh://root@10.77.0.2:2222/system": "10.77.0.2:2222",
		"hv2": "hv2:22", "hv2:2200": "hv2:2200",
	} {
		if got, err := sshAddress(in); err != nil || got != want {
			t.Errorf("sshAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := sshAddress("qemu:///system"); err == nil {
		t.Error("a local URI gave an address")
	}
}

// A host on a remote hypervisor is reached through it, its key pinned too.
func TestSSHConfigJumpsThroughARemoteHypervisor(t *testing.T) {
	hv := model.Hypervisor{Name: "rack1", URI: "qemu+ssh://ops@10.77.0.2:2222/system", HostKey: "ssh-ed25519 AAAAhv", SSHKeyFile: "/home/u/.ssh/fleet"}
	hosts := []pinnedHost{{alias: "demo-ci-0", address: "192.168.151.9", hostKey: "ssh-ed25519 AAAAguest", jump: &hv,
		host: model.Host{SSH: model.SSH{User: "admin", PrivateKeyFile: "/home/u/.ssh/id"}}}}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	got := sshConfigText("demo", kh, hosts)
	want := "ProxyCommand ssh -i /home/u/.ssh/fleet -o IdentitiesOnly=yes -o UserKnownHostsFile=" + kh +
		" -o StrictHostKeyChecking=yes -o HostKeyAlias=fjord-hypervisor-rack1 -p 2222 -W %h:%p ops@10.77.0.2"
	if !strings.Contains(got, want) {
		t.Errorf("ssh config lacks\n%s\n%s", want, got)
	}
	if err := writeKnownHosts(kh, hosts); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(kh)
	if !strings.Contains(string(b), "demo-ci-0,192.168.151.9 ssh-ed25519 AAAAguest\n") || !strings.Contains(string(b), "fjord-hypervisor-rack1 ssh-ed25519 AAAAhv\n") {
		t.Errorf("known_hosts:\n%s", b)
	}
}
