package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdomanski/iso9660"
	"gopkg.in/yaml.v3"

	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/hardening"
	"github.com/fjord-dev/fjord/model"
)

var update = flag.Bool("update", false, "rewrite golden files")

// A fixed, test-only key so the golden files are stable.
const testHostKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBA9cF+9ybqPwRe7W8bkq0rA8y1nKIyoHqGC4gYyk2H1gAAAIgAAAAAAAAA
AAAAAAtzc2gtZWQyNTUxOQAAACBA9cF+9ybqPwRe7W8bkq0rA8y1nKIyoHqGC4gYyk2H1g
AAAEDx2v5bq4m5kq0y8kqj9qH0HnA0kqgk0lcm3b2mGmL7bUD1wX72Juo/BF7tbxuSrSsD
zLWcojKgeoYLiBjKTYfWAAAAAAECAwQF
-----END OPENSSH PRIVATE KEY-----
`

func testInput() Input {
	return Input{
		Project:        "demo",
		Host:           "web-0",
		MAC:            "52:54:00:aa:bb:cc",
		AdminUser:      "admin",
		AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 admin@example"},
		Docker:         testDocker(),
		HostKey:        HostKey{PrivatePEM: testHostKey, Public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIED1wX72Juo/BF7tbxuSrSsDzLWcojKgeoYLiBjKTYfW"},
		NICs: []NIC{
			{Name: "fj0", MAC: "52:54:00:aa:bb:cc", Address: netip.MustParsePrefix("10.20.0.21/24"), Gateway: netip.MustParseAddr("10.20.0.1"),
				DNS: []netip.Addr{netip.MustParseAddr("10.20.0.2")}, MTU: 1400},
			{Name: "fj1", MAC: "52:54:00:dd:ee:ff", DHCP: true},
		},
		Firewall: testFirewall(),
	}
}

// testFirewall is the firewall of a host on a LAN publishing 443 to it.
func testFirewall() firewall.Rules {
	cfg := &model.Config{Networks: []model.Network{{Name: "lan", Mode: model.NetBridge, CIDR: netip.MustParsePrefix("10.20.0.0/24")}}}
	h := model.Host{Networks: []string{"lan"}, IP: netip.MustParseAddr("10.20.0.21"), Docker: testDocker()}
	h.Docker.Publish = []model.Port{{Number: 443, Proto: "tcp"}}
	return firewall.For(cfg, h)
}

func testDocker() model.Docker {
	d := model.HardenedDocker()
	d.Networks = []model.DockerNetwork{{Name: "backend", Internal: true}, {Name: "frontend"}}
	return d
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cloudinit -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test ./cloudinit -update refreshes it):\n%s", name, path, got)
	}
}

func TestRenderGolden(t *testing.T) {
	s, err := Render(testInput())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "user-data", s.UserData)
	golden(t, "meta-data", s.MetaData)
	golden(t, "network-config", s.NetworkConfig)
	golden(t, "daemon.json", s.DaemonJSON)
	if !bytes.HasPrefix(s.UserData, []byte("#cloud-config\n")) {
		t.Error("user-data must start with #cloud-config")
	}
	var cc map[string]any
	if err := yaml.Unmarshal(s.UserData, &cc); err != nil {
		t.Fatalf("user-data is not YAML: %v", err)
	}
}

// A seed for a golden image has its final stage write the runcmd (the
// image masks the config stage); any other seed keeps cloud-init's order.
func TestGoldenSeedRunsTheSetupFromTheFinalStage(t *testing.T) {
	stages := func(in Input) (config, final []string, runcmd [][]string) {
		s, err := Render(in)
		if err != nil {
			t.Fatal(err)
		}
		var cc cloudConfig
		if err := yaml.Unmarshal(s.UserData, &cc); err != nil {
			t.Fatal(err)
		}
		return cc.ConfigModules, cc.FinalModules, cc.RunCmd
	}
	config, final, _ := stages(testInput())
	if strings.Join(config, " ") != "runcmd" || strings.Join(final, " ") != "scripts-user final-message" {
		t.Errorf("stock seed: config %v, final %v", config, final)
	}
	in := testInput()
	in.Golden = true
	config, final, runcmd := stages(in)
	if len(config) != 0 || strings.Join(final, " ") != "runcmd scripts-user final-message" {
		t.Errorf("golden seed: config %v, final %v", config, final)
	}
	if len(runcmd) != 1 || runcmd[0][0] != setupScriptPath {
		t.Errorf("golden seed's runcmd: %v", runcmd)
	}
	a, _ := Render(testInput())
	b, _ := Render(in)
	if a.Hash == b.Hash {
		t.Error("the golden layout does not change the seed hash: a host could keep a seed its image cannot run")
	}
}

func TestHashIgnoresHostKeyButNotConfig(t *testing.T) {
	a, _ := Render(testInput())
	in := testInput()
	in.HostKey = HostKey{PrivatePEM: "other", Public: "ssh-ed25519 other"}
	b, _ := Render(in)
	if a.Hash != b.Hash {
		t.Error("seed hash changed with the host key; plans would replace hosts on every run")
	}
	in = testInput()
	in.AuthorizedKeys = append(in.AuthorizedKeys, "ssh-ed25519 AAAA second")
	c, _ := Render(in)
	if c.Hash == a.Hash {
		t.Error("seed hash did not change with the authorized keys")
	}
	// daemon.json changes in place: the seed hash stays, its part's hash moves.
	in = testInput()
	in.Docker.ICC = true
	d, _ := Render(in)
	if d.Hash != a.Hash {
		t.Error("seed hash changed with daemon.json, which changes in place")
	}
	before, _ := Parts(testInput())
	after, _ := Parts(in)
	changed := map[string]bool{}
	for i := range before {
		if before[i].Hash() != after[i].Hash() {
			changed[before[i].Name] = true
		}
	}
	if len(changed) != 1 || !changed["daemon-json"] {
		t.Errorf("parts changed by icc = true: %v, want daemon-json only", changed)
	}
	// So do the Docker networks.
	in = testInput()
	in.Docker.Networks = append(in.Docker.Networks, model.DockerNetwork{Name: "extra"})
	if e, _ := Render(in); e.Hash != a.Hash {
		t.Error("seed hash changed with the Docker networks, which change in place")
	}
	after, _ = Parts(in)
	for i := range before {
		if changed := before[i].Hash() != after[i].Hash(); changed != (before[i].Name == "docker-networks") {
			t.Errorf("part %s changed = %v with a Docker network added", before[i].Name, changed)
		}
	}
	in = testInput()
	in.AdminUser = "ops"
	if e, _ := Render(in); e.Hash == a.Hash {
		t.Error("seed hash did not change with the admin user")
	}
	// A newer fjord-authz (a newer fjord) is installed in place too: the
	// seed hash stays, the plugin's part changes, hashed from the sum the
	// caller gives, not the program.
	in = testInput()
	in.AuthzPlugin = []byte("another fjord-authz build")
	if e, _ := Render(in); e.Hash != a.Hash {
		t.Error("seed hash changed with the authz plugin, which is installed in place")
	}
	changedParts := func(in Input) []string {
		before, _ := Parts(testInput())
		after, _ := Parts(in)
		was := map[string]string{}
		for _, p := range before {
			was[p.Name] = p.Hash()
		}
		var names []string
		for _, p := range after {
			if was[p.Name] != p.Hash() {
				names = append(names, p.Name)
			}
		}
		return names
	}
	if got := changedParts(in); strings.Join(got, ",") != "authz-plugin" {
		t.Errorf("parts changed by another plugin: %v", got)
	}
	sum := sha256.Sum256([]byte("another fjord-authz build"))
	summed := testInput()
	summed.AuthzPlugin, summed.AuthzPluginSum = []byte("the program, not hashed again"), &sum
	if got := changedParts(summed); strings.Join(got, ",") != "authz-plugin" {
		t.Errorf("parts changed by a plugin with its sum given: %v", got)
	}
	pluginHash := func(in Input) string {
		ps, _ := Parts(in)
		for _, p := range ps {
			if p.Name == "authz-plugin" {
				return p.Hash()
			}
		}
		return ""
	}
	if pluginHash(summed) == "" || pluginHash(summed) != pluginHash(in) {
		t.Error("the plugin's part hash is not made from the sum given")
	}
	// A first-boot file (how Docker is installed) is not compared.
	mirrored := testInput()
	mirrored.AptMirror = "http://10.0.0.1/debian"
	other := mirrored
	other.AptMirror = "http://10.0.0.2/debian"
	if m, _ := Render(mirrored); func() bool { o, _ := Render(other); return o.Hash != m.Hash }() {
		t.Error("seed hash changed with the mirror Docker was installed from at first boot")
	}
	// Plans use Hash, which skips rendering: it must agree with Render.
	for _, in := range []Input{testInput(), in} {
		in.HostKey = HostKey{}
		r, _ := Render(in)
		h, err := Hash(in)
		if err != nil || h != r.Hash {
			t.Errorf("Hash = %q, %v; Render's hash %q", h, err, r.Hash)
		}
	}
}

func TestISOReadsBack(t *testing.T) {
	in := testInput()
	in.AuthzPlugin = []byte("\x7fELF the plugin")
	s, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := s.ISO()
	if err != nil {
		t.Fatal(err)
	}
	img, err := iso9660.OpenImage(bytes.NewReader(iso))
	if err != nil {
		t.Fatal(err)
	}
	label, err := img.Label()
	if err != nil || label != "cidata" {
		t.Fatalf("label = %q, %v", label, err)
	}
	root, err := img.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	kids, err := root.GetChildren()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, k := range kids {
		b, _ := io.ReadAll(k.Reader())
		got[k.Name()] = b
	}
	for name, want := range map[string][]byte{"user-data": s.UserData, "meta-data": s.MetaData, "network-config": s.NetworkConfig, AuthzPluginFile: in.AuthzPlugin} {
		if !bytes.Equal(got[name], want) {
			t.Errorf("ISO file %s = %q, want the rendered content", name, got[name])
		}
	}
}

// TestUserDataPassesCloudInitSchema runs cloud-init's own validator when the
// cloud-init package is installed (CI installs it).
func TestUserDataPassesCloudInitSchema(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Skip("cloud-init not installed; .ci/run installs it")
	}
	s, _ := Render(testInput())
	f := filepath.Join(t.TempDir(), "user-data")
	os.WriteFile(f, s.UserData, 0o600)
	out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid") {
		t.Fatalf("cloud-init schema: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("#cloud-config\nssh_pwauth: maybe-later\nusers: 7\n"), 0o600)
	if out, err := exec.Command(ci, "schema", "-c", bad).CombinedOutput(); err == nil {
		t.Fatalf("cloud-init schema accepted invalid user-data; the check cannot fail:\n%s", out)
	}
}

func TestDaemonConfigFollowsTheProfile(t *testing.T) {
	d := model.HardenedDocker()
	m := DaemonConfig(d)
	if m["userns-remap"] != "default" || m["icc"] != false || m["log-driver"] != "journald" {
		t.Errorf("hardened daemon.json = %v", m)
	}
	if _, ok := m["seccomp-profile"]; ok {
		t.Error("seccomp-profile set without a custom profile")
	}
	d.UsernsRemap, d.LogDriver, d.SeccompProfile = false, "json-file", `{"defaultAction":"SCMP_ACT_ERRNO"}`
	m = DaemonConfig(d)
	if _, ok := m["userns-remap"]; ok {
		t.Error("userns-remap kept after userns_remap = false")
	}
	if opts, ok := m["log-opts"].(map[string]any); !ok || opts["max-size"] == nil {
		t.Errorf("json-file without rotation: %v", m["log-opts"])
	}
	if m["seccomp-profile"] != SeccompProfilePath {
		t.Errorf("seccomp-profile = %v", m["seccomp-profile"])
	}
	s, _ := Render(Input{Project: "p", Host: "h", AdminUser: "a", Docker: d})
	if !bytes.Contains(s.UserData, []byte("path: "+SeccompProfilePath)) {
		t.Error("the custom seccomp profile is not written to the host")
	}
}

// A host's own sshd options and sysctls follow fjord's hardening in the
// same files, change only their parts, and never the seed.
func TestOwnSettingsAreParts(t *testing.T) {
	base, _ := Parts(testInput())
	a, _ := Render(testInput())
	in := testInput()
	in.SSHDOptions = map[string]string{"MaxSessions": "4", "Banner": "/etc/issue.net"}
	in.Sysctls = map[string]string{"vm.max_map_count": "262144"}
	b, _ := Render(in)
	if a.Hash != b.Hash {
		t.Error("seed hash changed with sshd options and sysctls, which change in place")
	}
	parts, _ := Parts(in)
	changed := map[string]string{}
	for i := range parts {
		if parts[i].Hash() != base[i].Hash() {
			changed[parts[i].Name] = parts[i].Content
		}
	}
	if len(changed) != 2 {
		t.Fatalf("parts changed: %v, want sshd and sysctl", changed)
	}
	sshd, sysctl := changed["sshd"], changed["sysctl"]
	if !strings.HasPrefix(sshd, string(hardening.Must("sshd.conf"))) || !strings.HasSuffix(sshd, "Banner /etc/issue.net\nMaxSessions 4\n") {
		t.Errorf("sshd drop-in:\n%s", sshd)
	}
	if !strings.HasPrefix(sysctl, string(hardening.Must("sysctl.conf"))) || !strings.HasSuffix(sysctl, "vm.max_map_count = 262144\n") {
		t.Errorf("sysctl file:\n%s", sysctl)
	}
}

// An image with a mirror gets Docker from it before the setup script, and
// a boot command that tolerates Docker's absence; the builder's seed
// makes no user and passes cloud-init's schema.
func TestMirrorAndBuilderSeeds(t *testing.T) {
	in := testInput()
	in.AptMirror, in.AptUnsigned = "http://10.0.0.1:8000/debian", true
	s, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	ud := string(s.UserData)
	for _, want := range []string{"path: " + AptMirrorPath, "http://10.0.0.1:8000/debian unsigned", "- - " + installDockerPath + "\n  - - " + setupScriptPath, "! systemctl cat docker.service"} {
		if !strings.Contains(ud, want) {
			t.Errorf("user-data lacks %q:\n%s", want, ud)
		}
	}
	plain, _ := Render(testInput())
	if strings.Contains(string(plain.UserData), "fjord-install-docker") || !strings.Contains(string(plain.UserData), stopDocker) {
		t.Errorf("a seed without a mirror changed:\n%s", plain.UserData)
	}
	b, err := RenderBuild(BuildInput{Image: "golden", Recipe: strings.Repeat("ab", 32), MAC: "52:54:00:01:02:03", AptMirror: "http://10.0.0.1/debian", Packages: []string{"jq", "curl"}})
	if err != nil {
		t.Fatal(err)
	}
	bud := string(b.UserData)
	if strings.Contains(bud, "users") {
		t.Errorf("the builder's user-data makes users:\n%s", bud)
	}
	for _, want := range []string{"cloud_init_modules:\n  - write-files\n  - growpart\n  - resizefs\n  - set_hostname\n", "APT_MIRROR='http://10.0.0.1/debian'", "PACKAGES='jq curl'", "RECIPE='" + strings.Repeat("ab", 32) + "'", "/usr/local/sbin/fjord-build"} {
		if !strings.Contains(bud, want) {
			t.Errorf("builder user-data lacks %q:\n%s", want, bud)
		}
	}
	if !strings.Contains(string(b.MetaData), "instance-id: fjord-build-abababababab") || !strings.Contains(string(b.NetworkConfig), "52:54:00:01:02:03") {
		t.Errorf("builder meta-data %s network-config %s", b.MetaData, b.NetworkConfig)
	}
	if ci, err := exec.LookPath("cloud-init"); err == nil {
		f := filepath.Join(t.TempDir(), "user-data")
		os.WriteFile(f, b.UserData, 0o600)
		if out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid") {
			t.Errorf("cloud-init schema of the builder's user-data: %v\n%s", err, out)
		}
	}
	// What the builder prints is read back; another recipe's marker is not.
	rep := ParseBuildConsole("noise\n@@fjord-manifest-begin R\nkernel 6.1\ndocker 20.10\ncloud-init 22.4\n@@fjord-package jq 1.6\n@@fjord-manifest-end R\n@@fjord-build-done OTHER\n", "R")
	if rep.Done || rep.Kernel != "6.1" || rep.Packages["jq"] != "1.6" {
		t.Errorf("console report %+v", rep)
	}
	if rep := ParseBuildConsole("@@fjord-build-failed R apt-install\n", "R"); rep.Done || rep.Failed != "apt-install" {
		t.Errorf("failed build report %+v", rep)
	}
}

// BenchmarkSeedISO writes a seed image carrying a fjord-authz-sized
// program (the bulk of every seed).
func BenchmarkSeedISO(b *testing.B) {
	s := &Seed{MetaData: []byte("instance-id: fjord-x\n"), UserData: bytes.Repeat([]byte("#cloud-config\n"), 2000), NetworkConfig: []byte("version: 2\n"),
		AuthzPlugin: bytes.Repeat([]byte{0x7f}, 10<<20)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := s.ISO(); err != nil {
			b.Fatal(err)
		}
	}
}
