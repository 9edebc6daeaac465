package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

// expectation is one "# ERROR: text" marker in an invalid fixture: a
// diagnostic whose summary or detail holds text must start on that line.
type expectation struct {
	file string
	line int
	text string
}

var marker = regexp.MustCompile(`# ERROR: (.+)$`)

func readMarkers(t *testing.T, dir string) []expectation {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	var out []expectation
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := marker.FindStringSubmatch(line); m != nil {
				out = append(out, expectation{file: filepath.Base(p), line: i + 1, text: strings.TrimSpace(m[1])})
			}
		}
	}
	return out
}

func TestInvalidFixtures(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/invalid-*")
	if len(dirs) == 0 {
		t.Fatal("no invalid fixtures found")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want := readMarkers(t, dir)
			if len(want) == 0 {
				t.Fatalf("fixture %s has no # ERROR: markers", dir)
			}
			// invalid-files* are read as validate and plan read them.
			opts := Options{KnownCheck: knownForTest, Files: strings.HasPrefix(filepath.Base(dir), "invalid-files")}
			res, diags := Load(dir, opts)
			if !diags.HasErrors() {
				t.Fatalf("Load succeeded; want %d errors", len(want))
			}
			if res.Config != nil {
				t.Errorf("Config is set despite errors")
			}
			matched := make([]bool, len(diags))
			for _, w := range want {
				found := false
				for i, d := range diags {
					if matched[i] || d.Subject == nil {
						continue
					}
					if filepath.Base(d.Subject.Filename) == w.file && d.Subject.Start.Line == w.line &&
						strings.Contains(d.Summary+" "+d.Detail, w.text) {
						matched[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("%s:%d: no diagnostic containing %q; got:\n%s", w.file, w.line, w.text, render(res, diags))
				}
			}
			for i, d := range diags {
				if !matched[i] {
					t.Errorf("unexpected diagnostic: %s", d.Error())
				}
			}
		})
	}
}

func render(res *Result, diags Diagnostics) string {
	var b bytes.Buffer
	res.WriteDiagnostics(&b, diags)
	return b.String()
}

func TestDiagnosticsShowSourceLine(t *testing.T) {
	res, diags := Load("testdata/invalid-references", Options{})
	out := render(res, diags)
	for _, want := range []string{"main.hcl line 15", `image   = "bullseye"`, `no image block named "bullseye"`} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered diagnostics lack %q:\n%s", want, out)
		}
	}
}

func TestValidMinimal(t *testing.T) {
	res, diags := Load("testdata/valid-minimal", Options{})
	if diags.HasErrors() {
		t.Fatal(render(res, diags))
	}
	c := res.Config
	if c.Project != "valid-minimal" {
		t.Errorf("project = %q, want the directory name", c.Project)
	}
	if len(c.Hypervisors) != 1 || c.Hypervisors[0].URI != "qemu:///system" || c.Hypervisors[0].VirtType != "kvm" {
		t.Errorf("default hypervisor = %+v", c.Hypervisors)
	}
	if len(c.Hosts) != 1 {
		t.Fatalf("hosts = %d", len(c.Hosts))
	}
	h := c.Hosts[0]
	if h.Name != "web" || h.VCPU != 1 || h.Memory != model.GiB || h.Disk != 10*model.GiB || h.Hypervisor != "default" {
		t.Errorf("host defaults = %+v", h)
	}
	abs, _ := filepath.Abs("testdata/valid-minimal/keys/id_ed25519")
	if h.SSH.PrivateKeyFile != abs {
		t.Errorf("private key path %q is not resolved against the config dir (%q)", h.SSH.PrivateKeyFile, abs)
	}
	if !h.IP.IsValid() || !c.Networks[0].CIDR.Contains(h.IP) || h.IP == c.Networks[0].HypervisorAddress() {
		t.Errorf("host IP %v not a usable address of %v", h.IP, c.Networks[0].CIDR)
	}
}

func TestValidFleetWithVariables(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 ops"
	res, diags := Load("testdata/valid-fleet", Options{Vars: []string{"workers=4"}, Env: map[string]string{"admin_key": key, "unrelated": "x"}})
	if diags.HasErrors() {
		t.Fatal(render(res, diags))
	}
	c := res.Config
	if c.Project != "fleet" {
		t.Errorf("project = %q", c.Project)
	}
	var names []string
	ips := map[string]bool{}
	macs := map[string]bool{}
	for _, h := range c.Hosts {
		names = append(names, h.Name)
		ips[h.IP.String()] = true
		macs[h.MAC] = true
		if h.Memory != 2*model.GiB || h.Disk != 20*model.GiB || h.VCPU != 2 {
			t.Errorf("%s sizes = %v %v %d", h.Name, h.Memory, h.Disk, h.VCPU)
		}
		if len(h.SSH.AuthorizedKeys) != 1 || h.SSH.AuthorizedKeys[0] != key {
			t.Errorf("%s keys = %q", h.Name, h.SSH.AuthorizedKeys)
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "worker-0,worker-1,worker-2,worker-3" {
		t.Errorf("hosts = %v", names)
	}
	if len(ips) != 4 || len(macs) != 4 {
		t.Errorf("addresses not unique: %v %v", ips, macs)
	}
	if c.Images[0].SHA256[:6] != "abcdef" {
		t.Errorf("sha256 not lower-cased: %s", c.Images[0].SHA256)
	}
	if !c.Pools[0].RequireNVMe || c.Hypervisors[0].VirtType != "qemu" {
		t.Errorf("pool/hypervisor = %+v %+v", c.Pools[0], c.Hypervisors[0])
	}
}

func TestAddressesStableWhenHostsAreAdded(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"
	r3, d := Load("testdata/valid-fleet", Options{Env: map[string]string{"admin_key": key}})
	if d.HasErrors() {
		t.Fatal(d)
	}
	r4, d := Load("testdata/valid-fleet", Options{Vars: []string{"workers=4"}, Env: map[string]string{"admin_key": key}})
	if d.HasErrors() {
		t.Fatal(d)
	}
	for i, h := range r3.Config.Hosts {
		if g := r4.Config.Hosts[i]; g.IP != h.IP || g.MAC != h.MAC {
			t.Errorf("%s moved from %v/%s to %v/%s when a host was added", h.Name, h.IP, h.MAC, g.IP, g.MAC)
		}
	}
}

func TestUndeclaredVar(t *testing.T) {
	_, diags := Load("testdata/valid-minimal", Options{Vars: []string{"nope=1"}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `sets "nope", but no variable block declares it`) {
		t.Fatalf("diags = %v", diags)
	}
}

func TestVarFile(t *testing.T) {
	vf := filepath.Join(t.TempDir(), "x.fjordvars")
	os.WriteFile(vf, []byte("admin_key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 f\"\nworkers = 1\n"), 0o600)
	res, diags := Load("testdata/valid-fleet", Options{VarFiles: []string{vf}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(res.Config.Hosts) != 1 || res.Config.Hosts[0].SSH.AuthorizedKeys[0] != "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 f" {
		t.Errorf("hosts = %+v", res.Config.Hosts)
	}
}

func knownForTest(id string) bool {
	return id == "guest.kvm" || id == "sysctl.*"
}

func TestDockerProfiles(t *testing.T) {
	res, diags := Load("testdata/valid-docker", Options{KnownCheck: knownForTest})
	if diags.HasErrors() {
		t.Fatal(render(res, diags))
	}
	hosts := map[string]model.Host{}
	for _, h := range res.Config.Hosts {
		hosts[h.Name] = h
	}
	hard := hosts["hardened"].Docker
	if !hard.UsernsRemap || hard.ICC || hard.LogDriver != "syslog" || hard.DataDisk != 10*model.GiB || len(hard.Networks) != 1 || !hard.Networks[0].Internal {
		t.Errorf("hardened host with defaults = %+v", hard)
	}
	if w := hard.Waivers(); len(w) != 0 {
		t.Errorf("hardened host has waivers %v", w)
	}
	loose := hosts["loose"].Docker
	if !loose.ICC || loose.LiveRestore || !loose.Swarm || loose.DataDisk != 0 || !strings.Contains(loose.SeccompProfile, "SCMP_ACT_ERRNO") {
		t.Errorf("loose = %+v", loose)
	}
	if l := hosts["loose"]; l.Sysctls["vm.max_map_count"] != "262144" || l.SSH.SSHDOptions["MaxSessions"] != "4" || len(l.SSH.SSHDOptions) != 2 {
		t.Errorf("loose sysctls %v, sshd options %v", l.Sysctls, l.SSH.SSHDOptions)
	}
	if h := hosts["hardened"]; h.Sysctls != nil || h.SSH.SSHDOptions != nil {
		t.Errorf("hardened has sysctls %v, sshd options %v it does not declare", h.Sysctls, h.SSH.SSHDOptions)
	}
	if len(loose.Networks) != 2 || loose.LogDriver != "syslog" {
		t.Errorf("loose inherits defaults wrongly: %+v", loose)
	}
	pol := loose.AuthzPolicy("loose")
	if pol.Host != "host.loose" || strings.Join(pol.Relaxed, ",") != "host_network" ||
		strings.Join(pol.SensitivePaths, ",") != "/,/etc,/srv/secrets" || strings.Join(pol.AllowedCapabilities, ",") != "NET_BIND_SERVICE,net_admin" {
		t.Errorf("loose authz policy = %+v", pol)
	}
	if hp := hard.AuthzPolicy("hardened"); len(hp.Relaxed) != 0 || len(hp.SensitivePaths) < 10 {
		t.Errorf("hardened authz policy = %+v", hp)
	}
	var ids []string
	for _, w := range loose.Waivers() {
		ids = append(ids, w.Check)
	}
	want := "authz.host-network,docker.data-disk,docker.icc,docker.live-restore,docker.swarm,guest.kvm,sysctl.*"
	if strings.Join(ids, ",") != want {
		t.Errorf("waivers = %v, want %s", ids, want)
	}
}

// Locals referring to locals resolve every time, whatever order a map
// iteration would give them.
func TestLocalsResolveInDependencyOrder(t *testing.T) {
	for i := 0; i < 20; i++ {
		res, diags := Load("testdata/valid-locals", Options{})
		if diags.HasErrors() {
			t.Fatalf("run %d: %s", i, render(res, diags))
		}
		if h := res.Config.Hosts[0]; h.Memory != 2*model.GiB || h.Disk != 10*model.GiB {
			t.Fatalf("run %d: memory %v disk %v", i, h.Memory, h.Disk)
		}
	}
}

// Inputs that would take the tool down are refused or cut short: a line of
// two million control or invalid characters, brackets nested a million
// deep, a file of five megabytes.
func TestInputsAreBounded(t *testing.T) {
	for name, src := range map[string][]byte{
		"control characters": bytes.Repeat([]byte{0x01}, 2<<20),
		"invalid characters": bytes.Repeat([]byte("§"), 1<<20),
		"deep nesting":       append([]byte("x = "), bytes.Repeat([]byte("["), 1<<20)...),
		"huge file":          bytes.Repeat([]byte("# comment line\n"), 5<<20/15),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
				t.Fatal(err)
			}
			res, diags := Load(dir, Options{})
			if !diags.HasErrors() {
				t.Fatal("accepted")
			}
			if len(diags) > maxFileDiagnostics+1 {
				t.Errorf("%d diagnostics", len(diags))
			}
			if out := render(res, diags); len(out) > 64<<10 {
				t.Errorf("%d bytes of diagnostics", len(out))
			} else {
				t.Logf("%d diagnostics, %d bytes: %.200s", len(diags), len(out), out)
			}
		})
	}
}

func TestValidFiles(t *testing.T) {
	res, diags := Load("testdata/valid-files", Options{Files: true})
	if diags.HasErrors() {
		t.Fatal(render(res, diags))
	}
}

// The parser finds an unclosed heredoc at the end of the file; the report
// points at the line that opened it.
func TestUnclosedHeredocPointsAtItsOpener(t *testing.T) {
	dir := t.TempDir()
	src := "locals {\n  motd = <<EOT\nwelcome\n}\n\npool \"p\" {\n  path = \"/x\"\n}\n"
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644)
	res, diags := Load(dir, Options{})
	if len(diags) != 1 || diags[0].Subject == nil || diags[0].Subject.Start.Line != 2 || !strings.Contains(diags[0].Detail, "<<EOT") {
		t.Fatalf("diagnostics:\n%s", render(res, diags))
	}
}

// Several NICs: declared addresses where given, the rest allocated from the
// bridge's allocate range or the managed network; each NIC its own MAC and
// interface name; the management NIC first.
func TestValidNetworks(t *testing.T) {
	res, diags := Load("testdata/valid-networks", Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	c := res.Config
	macs := map[string]string{}
	alloc := netip.MustParsePrefix("10.20.0.128/28")
	for _, h := range c.Hosts {
		if len(h.NICs) != 2 || h.NICs[0].Name != "fj0" || h.NICs[1].Name != "fj1" || h.MAC != h.NICs[0].MAC || h.IP != h.NICs[0].IP {
			t.Fatalf("%s: NICs %+v", h.Name, h.NICs)
		}
		for _, n := range h.NICs {
			if other, dup := macs[n.MAC]; dup {
				t.Errorf("%s and %s share MAC %s", other, h.Name, n.MAC)
			}
			macs[n.MAC] = h.Name
		}
		switch h.Base {
		case "web":
			if want := fmt.Sprintf("10.20.0.%d", 21+h.Index); h.IP.String() != want {
				t.Errorf("%s on lan = %s, want %s", h.Name, h.IP, want)
			}
			if len(h.Docker.Publish) != 2 || h.Docker.Publish[1].String() != "443/tcp" {
				t.Errorf("publish = %v", h.Docker.Publish)
			}
		case "worker":
			if !alloc.Contains(h.IP) {
				t.Errorf("%s was allocated %s, outside the bridge's allocate range %s", h.Name, h.IP, alloc)
			}
		}
	}
	out, _ := c.Network("out")
	if out.Router().String() != "192.168.60.1" {
		t.Errorf("a nat network's router = %v", out.Router())
	}
}
