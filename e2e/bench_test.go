//go:build e2e

package e2e

// Benchmarks run by `make bench`:
//
//	go test -tags e2e -run '^$' -bench . -benchtime 1x -timeout 80m ./e2e
//
// Each benchmark runs its own rounds once (-benchtime 1x) and prints its
// figures with the command that produced them. Nothing here asserts a
// timing; a benchmark fails only when the thing it measures did not work.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/hcl"
	"github.com/fjord-dev/fjord/provision"
	lv "github.com/fjord-dev/fjord/provision/libvirt"
	"github.com/fjord-dev/fjord/verify"
)

// benchRounds is how many times the single-host comparison alternates.
const benchRounds = 3

// out prints one line of the benchmark report.
func out(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// measured is one run of the fjord binary.
type measured struct {
	wall   time.Duration
	cpu    time.Duration // user + system time of the process
	maxRSS int64         // KiB
	// done holds, per "object/phase", when its "done" event reached us
	// (since the process started) and the duration the event reports.
	done  map[string]time.Duration
	took  map[string]time.Duration
	order []string
	code  int
	out   string
	err   string
}

// ready is when the last host's phase finished, since the process started.
func (m measured) ready(phase string) time.Duration {
	var last time.Duration
	for k, t := range m.done {
		if strings.HasPrefix(k, "host.") && strings.HasSuffix(k, "/"+phase) && t > last {
			last = t
		}
	}
	return last
}

// measure runs the fjord binary (inside the namespace when netns is true),
// timestamping each JSON event line as it arrives.
func measure(ctx context.Context, inNetns bool, env []string, args ...string) measured {
	argv := append([]string{h.bin}, args...)
	if inNetns {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = append(os.Environ(), env...)
	c.Dir = h.work
	var errb strings.Builder
	c.Stderr = &errb
	stdout, _ := c.StdoutPipe()
	m := measured{done: map[string]time.Duration{}, took: map[string]time.Duration{}}
	t0 := time.Now()
	if err := c.Start(); err != nil {
		m.code, m.err = -1, err.Error()
		return m
	}
	var all strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		at := time.Since(t0)
		all.WriteString(sc.Text() + "\n")
		var line struct {
			Event *provision.Event `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Event != nil && line.Event.Status == "done" {
			k := line.Event.Object + "/" + line.Event.Phase
			m.done[k], m.took[k] = at, line.Event.Duration
			m.order = append(m.order, k)
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	err := c.Wait()
	m.wall = time.Since(t0)
	m.out, m.err = all.String(), errb.String()
	if err != nil {
		m.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			m.code = ee.ExitCode()
		}
	}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		m.maxRSS = ru.Maxrss
	}
	return m
}

func mustSucceed(b *testing.B, what string, m measured) {
	b.Helper()
	if m.code != 0 {
		b.Fatalf("%s exited %d\nstdout:\n%s\nstderr:\n%s", what, m.code, tail(m.out, 30), m.err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------------------
// Planning at scale: 1,000 owned hosts on four hypervisors.

const (
	scaleHypervisors = 4
	scaleHostsEach   = 250
)

// BenchmarkPlan1000Hosts plans a project whose 1,000 hosts all exist
// already, on four libvirt test-driver hypervisors loaded from node files
// that fjord's own domain and metadata code wrote, so the plan must come
// out with no changes. The hypervisors are reached through libvirtd
// (test+unix://), as real ones are: every call is a round trip, and the
// test driver's own state lives in the daemon, not in fjord's memory.
func BenchmarkPlan1000Hosts(b *testing.B) {
	dir := b.TempDir()
	if err := writeScaleConfig(dir); err != nil {
		b.Fatal(err)
	}

	out("")
	out("## Planning 1,000 existing hosts on 4 hypervisors (libvirt's test driver, served by libvirtd)")
	out("command: fjord plan -detailed-exitcode %s   (hypervisors test+unix://%s/hv{0..3}.xml, 250 hosts each)", dir, dir)
	var walls []time.Duration
	var cpu time.Duration
	var rss int64
	const runs = 5
	for i := 0; i < runs; i++ {
		m := measure(context.Background(), false, nil, "plan", "-detailed-exitcode", dir)
		if m.code != 0 {
			b.Fatalf("plan of the existing fleet is not empty (exit %d; 2 means changes):\n%s\n%s", m.code, tail(m.out, 20), m.err)
		}
		walls = append(walls, m.wall)
		cpu += m.cpu
		rss = max(rss, m.maxRSS)
	}
	out("wall: median %.0f ms over %d runs (min %.0f ms, max %.0f ms); CPU %.0f ms per run; peak RSS %.1f MiB",
		ms(median(walls)), runs, ms(slicesMin(walls)), ms(slicesMax(walls)), ms(cpu/runs), float64(rss)/1024)

	// What opening the connections costs by itself: with the test driver
	// that is the daemon parsing each 250-domain node file.
	var opens []time.Duration
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		errs := make(chan error, scaleHypervisors)
		for j := 0; j < scaleHypervisors; j++ {
			go func() {
				c, err := lv.Open(fmt.Sprintf("test+unix://%s/hv%d.xml", dir, j))
				if err == nil {
					c.Close()
				}
				errs <- err
			}()
		}
		for j := 0; j < scaleHypervisors; j++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		opens = append(opens, time.Since(t0))
	}
	out("of which opening the 4 connections alone (the daemon's test driver loading 250 domains each): median %.0f ms", ms(median(opens)))

	// One more run with libvirt's public-API debug log on, to count calls.
	logf := filepath.Join(dir, "libvirt.log")
	m := measure(context.Background(), false, []string{"LIBVIRT_LOG_FILTERS=1:libvirt 4:*", "LIBVIRT_LOG_OUTPUTS=1:file:" + logf}, "plan", "-detailed-exitcode", dir)
	mustSucceed(b, "plan with libvirt's log", m)
	counts, err := apiCalls(logf)
	if err != nil {
		b.Fatal(err)
	}
	out("libvirt API calls (LIBVIRT_LOG_FILTERS='1:libvirt 4:*'; local = answered from the object, no round trip to the daemon):")
	var names []string
	total, remote := 0, 0
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return counts[names[i]] > counts[names[j]] || counts[names[i]] == counts[names[j]] && names[i] < names[j]
	})
	for _, n := range names {
		where := ""
		if localAPI(n) {
			where = "  (local)"
		} else {
			remote += counts[n]
		}
		total += counts[n]
		out("  %6d  %s%s", counts[n], n, where)
	}
	hosts := scaleHypervisors * scaleHostsEach
	out("total %d calls, %d that reach a driver: %.2f per host", total, remote, float64(remote)/float64(hosts))
	b.ReportMetric(ms(median(walls)), "ms/plan")
	b.ReportMetric(float64(rss)/1024, "MiB-peak-RSS")
	b.ReportMetric(float64(remote)/float64(hosts), "driver-calls/host")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func slicesMin(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func slicesMax(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// localAPI names libvirt calls answered from the object in hand: the
// remote driver never sends them to the daemon.
func localAPI(name string) bool {
	for _, s := range []string{"Free", "Ref", "GetName", "GetUUID", "GetUUIDString", "GetKey", "GetConnect"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

var apiEntry = regexp.MustCompile(` : (vir[A-Za-z]+):\d+ : `)

// apiCalls counts public API entries in a libvirt debug log, leaving out
// the library's start-up (driver registration, URI parsing).
func apiCalls(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		m := apiEntry.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		switch n := m[1]; {
		case n == "virGlobalInit", strings.HasPrefix(n, "virRegister"), n == "virConnectOpenInternal", strings.HasPrefix(n, "virNet"):
		default:
			counts[n]++
		}
	}
	return counts, sc.Err()
}

// writeScaleConfig writes the fleet's configuration and its hypervisors'
// node files into dir.
func writeScaleConfig(dir string) error {
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("unused: plan reads no key\n"), 0o600); err != nil {
		return err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "fjord {\n  project = \"fleet\"\n}\n\nimage \"deb\" {\n  path   = \"/nonexistent/deb.qcow2\"\n  sha256 = %q\n}\n", strings.Repeat("ab", 32))
	for i := 0; i < scaleHypervisors; i++ {
		fmt.Fprintf(&cfg, `
hypervisor "hv%[1]d" {
  uri       = "test+unix://%[2]s/hv%[1]d.xml"
  virt_type = "qemu"
}
pool "p%[1]d" {
  hypervisor = "hv%[1]d"
  path       = "/fleet/p%[1]d"
}
network "n%[1]d" {
  hypervisor = "hv%[1]d"
  cidr       = "10.%[1]d.0.0/16"
}
host "h%[1]d" {
  count      = %[3]d
  hypervisor = "hv%[1]d"
  image      = "deb"
  pool       = "p%[1]d"
  network    = "n%[1]d"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = %[4]q
  }
}
`, i, dir, scaleHostsEach, key)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(cfg.String()), 0o644); err != nil {
		return err
	}
	return writeScaleNodes(dir)

}

// writeScaleNodes writes one libvirt test-driver node file per hypervisor
// holding what an apply of dir's configuration would have left: the pool
// with its marker, image and host volumes, the network, and a running
// domain per host with fjord's metadata, all made by fjord's own code.
func writeScaleNodes(dir string) error {
	res, diags := hcl.Load(dir, hcl.Options{KnownCheck: verify.Known})
	if diags.HasErrors() {
		return fmt.Errorf("bench configuration: %v", diags)
	}
	cfg := res.Config
	d, err := provision.Prepare(cfg, "bench")
	if err != nil {
		return err
	}
	for _, hv := range cfg.Hypervisors {
		var doc strings.Builder
		doc.WriteString("<node>\n")
		for _, n := range cfg.Networks {
			if n.Hypervisor != hv.Name {
				continue
			}
			nx := libvirtxml.Network{Name: n.Name, Bridge: &libvirtxml.NetworkBridge{Name: provision.NetworkBridge(cfg.Project, n.Name)},
				IPs: []libvirtxml.NetworkIP{{Address: n.Gateway().String(), Prefix: uint(n.CIDR.Bits())}}}
			x, err := nx.Marshal()
			if err != nil {
				return err
			}
			doc.WriteString(x + "\n")
		}
		for _, p := range cfg.Pools {
			if p.Hypervisor != hv.Name {
				continue
			}
			px := libvirtxml.StoragePool{Type: "dir", Name: p.Name, Target: &libvirtxml.StoragePoolTarget{Path: p.Path}}
			x, err := px.Marshal()
			if err != nil {
				return err
			}
			vols := []string{provision.PoolMarkerVolume(cfg.Project)}
			im := cfg.Images[0]
			vols = append(vols, provision.ImageVolume(cfg.Project, im.Name, im.SHA256, im.Format))
			for _, dh := range d.Hosts {
				if dh.Spec.Pool == p.Name {
					vols = append(vols, provision.OverlayVolume(cfg.Project, dh.Spec.Name), provision.DataVolume(cfg.Project, dh.Spec.Name))
				}
			}
			var vx strings.Builder
			for _, v := range vols {
				vol := libvirtxml.StorageVolume{Type: "file", Name: v, Capacity: &libvirtxml.StorageVolumeSize{Value: 1 << 20},
					Target: &libvirtxml.StorageVolumeTarget{Path: p.Path + "/" + v}}
				s, err := vol.Marshal()
				if err != nil {
					return err
				}
				vx.WriteString(s + "\n")
			}
			doc.WriteString(strings.Replace(x, "</pool>", vx.String()+"</pool>", 1) + "\n")
		}
		for _, dh := range d.Hosts {
			if dh.Spec.Hypervisor != hv.Name {
				continue
			}
			meta := dh.Meta
			meta.HostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8"
			x, err := lv.DomainXML(provision.DomainSpec{
				Name: provision.DomainName(cfg.Project, dh.Spec.Name), VirtType: "test", VCPU: dh.Spec.VCPU, MemoryKiB: uint64(dh.Spec.Memory) / 1024,
				DiskPath: "/fleet/" + provision.OverlayVolume(cfg.Project, dh.Spec.Name),
				DataPath: "/fleet/" + provision.DataVolume(cfg.Project, dh.Spec.Name),
				SeedPath: "/fleet/" + provision.SeedVolume(cfg.Project, dh.Spec.Name), // detached by now on a real host; a disk path is all the test driver reads
				Network:  dh.Spec.Network, MAC: dh.Spec.MAC, Meta: meta,
			})
			if err != nil {
				return err
			}
			doc.WriteString(x + "\n")
		}
		doc.WriteString("</node>\n")
		if err := os.WriteFile(filepath.Join(dir, hv.Name+".xml"), []byte(doc.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
