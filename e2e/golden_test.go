//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveEnv makes the test binary an HTTP file server (see serveHelper):
// run in fjord's namespace, it serves the local mirror to the guests.
const serveEnv = "FJORD_E2E_SERVE"

// The mirror is served on every address of fjord's namespace, so on the
// golden network's host address once fjord has made the network.
const (
	mirrorPort = "8765"
	mirrorURL  = "http://192.168.163.1:" + mirrorPort + "/debian"
	imagesPort = "8766"
)

// serveHelper runs instead of the tests when serveEnv is "ADDR DIR": it
// serves DIR on ADDR and prints each request's path, one per line.
func serveHelper() bool {
	spec := os.Getenv(serveEnv)
	if spec == "" {
		return false
	}
	addr, dir, _ := strings.Cut(spec, " ")
	files := http.FileServer(http.Dir(dir))
	var mu sync.Mutex
	err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fmt.Println(r.Method, r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	fmt.Fprintln(os.Stderr, err)
	return true
}

// serveMirror serves dir in fjord's namespace (on every address, so on
// the host address of networks made later) until the test ends; requests
// returns the requests so far, "GET /path" each.
func serveMirror(tb testing.TB, dir string) (requests func() []string) {
	return serveDir(tb, "0.0.0.0:"+mirrorPort, dir)
}

// serveDir serves dir on addr in fjord's namespace until the test ends.
func serveDir(tb testing.TB, addr, dir string) (requests func() []string) {
	self, _ := os.Executable()
	srv := exec.Command("ip", "netns", "exec", netns, self)
	srv.Env = append(os.Environ(), serveEnv+"="+addr+" "+dir)
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			seen = append(seen, sc.Text())
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// artifact is one output of build-image.sh (stock, mirror).
func artifact(tb testing.TB, what string) string {
	tb.Helper()
	out, err := exec.Command("bash", filepath.Join(h.root, "e2e", "scripts", "build-image.sh"), what).Output()
	if err != nil {
		tb.Fatalf("build-image.sh %s: %v", what, err)
	}
	return strings.TrimSpace(string(out))
}

// TestGoldenImage builds a golden image from a stock image with Docker
// from a local mirror, proves a second build is a no-op and a changed
// recipe a new image, and verifies a host on it beside a host on the stock
// image that installs Docker from the same mirror at first boot.
func TestGoldenImage(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	stock, mirror := artifact(t, "stock"), artifact(t, "mirror")
	sum, err := exec.Command("sha256sum", stock).Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stock image and mirror ready in %.1fs", time.Since(t0).Seconds())

	requests := serveMirror(t, mirror)
	// The stock image is given by url: fjord downloads it (on loopback in
	// its namespace) into its cache once, checked against its sha256.
	images := serveDir(t, "127.0.0.1:"+imagesPort, filepath.Dir(stock))
	imageGets := func() int {
		n := 0
		for _, f := range images() {
			if f == "GET /"+filepath.Base(stock) {
				n++
			}
		}
		return n
	}
	debsFetched := func() int {
		n := 0
		for _, f := range requests() {
			if strings.HasPrefix(f, "GET /debian/pool/main/docker.io_") {
				n++
			}
		}
		return n
	}

	dir := filepath.Join(h.root, "e2e", "testdata", "golden")
	vf := filepath.Join(h.work, "golden.fjordvars")
	os.WriteFile(vf, []byte(fmt.Sprintf("stock_url = %q\nstock_sha256 = %q\nmirror = %q\n", "http://127.0.0.1:"+imagesPort+"/"+filepath.Base(stock), strings.Fields(string(sum))[0], mirrorURL)), 0o600)
	cfg := []string{"-var-file", h.varFile, "-var-file", vf, dir}
	destroy := func() {
		if r := fjord(ctx, append([]string{"destroy", "-auto-approve", "-shutdown-timeout", "1s"}, cfg...)...); r.code != 0 {
			t.Errorf("destroy: exit %d\n%s%s", r.code, r.out, r.err)
		}
	}
	destroy()
	t.Cleanup(destroy)

	r := fjord(ctx, append([]string{"plan"}, cfg...)...)
	for _, want := range []string{"image.stock", "import into pool golden", "image.docker", "build from image stock into pool golden"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s%s", want, r.out, r.err)
		}
	}

	t1 := time.Now()
	r = fjord(ctx, "image", "build", "-auto-approve", "-dir", dir, "-var-file", h.varFile, "-var-file", vf)
	build := time.Since(t1)
	if r.code != 0 {
		t.Fatalf("fjord image build: exit %d\n%s%s", r.code, r.out, r.err)
	}
	t.Logf("golden image built in %.1fs (%d docker.io download(s) from the mirror)\n%s", build.Seconds(), debsFetched(), tail(r.out, 8))
	if n := imageGets(); n != 1 {
		t.Errorf("the stock image was downloaded %d times, want once", n)
	}
	if !strings.Contains(r.out, "download") {
		t.Errorf("the build did not show the download:\n%s", r.out)
	}
	if debsFetched() != 1 {
		t.Errorf("the builder fetched docker.io %d times from the mirror, want once", debsFetched())
	}
	r = fjord(ctx, "image", "list", "-json", "-var-file", h.varFile, "-var-file", vf, dir)
	var list struct {
		Images []struct {
			Image, Volume string
			Built         bool
			Manifest      *struct {
				Kernel, Docker, Recipe string
				CloudInit              string `json:"cloud_init"`
				Packages               map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(r.out), &list); err != nil {
		t.Fatalf("image list -json: %v\n%s%s", err, r.out, r.err)
	}
	var built bool
	for _, im := range list.Images {
		if im.Image == "docker" {
			m := im.Manifest
			if !im.Built || m == nil || m.Docker == "" || !strings.HasPrefix(m.Kernel, "6.") || m.Packages["docker.io"] != m.Docker || m.Packages["cloud-init"] == "" {
				t.Errorf("the golden image's manifest: %+v", m)
			} else {
				built = true
				t.Logf("golden image %s: kernel %s, docker %s, cloud-init %s, %d packages", im.Volume, m.Kernel, m.Docker, m.CloudInit, len(m.Packages))
				// Built on a disk its base's size, whatever its hosts' disks.
				info, _ := exec.Command("qemu-img", "info", "--output=json", stock).Output()
				var base struct {
					Virtual int64 `json:"virtual-size"`
				}
				json.Unmarshal(info, &base)
				if got := virsh(t, "vol-info", "--pool", "golden", "--bytes", im.Volume); base.Virtual == 0 || !strings.Contains(got, fmt.Sprintf("%d bytes", base.Virtual)) {
					t.Errorf("the golden volume is not the stock image's size (%d bytes):\n%s", base.Virtual, got)
				}
			}
		}
	}
	if !built {
		t.Fatalf("image list has no built docker image:\n%s", r.out)
	}
	if out := fjord(ctx, "image", "list", "-var-file", h.varFile, "-var-file", vf, dir).out; !strings.Contains(out, "built") || !strings.Contains(out, "imported") {
		t.Errorf("image list:\n%s", out)
	}

	// The same recipe again: nothing to build.
	t2 := time.Now()
	r = fjord(ctx, "image", "build", "-auto-approve", "-dir", dir, "-var-file", h.varFile, "-var-file", vf)
	t.Logf("second build of the same recipe: %.1fs", time.Since(t2).Seconds())
	if r.code != 0 || !strings.Contains(r.out, "No changes") {
		t.Errorf("second image build: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// A host on the golden image and one on the stock image, which
	// installs Docker from the mirror at first boot; both verified.
	t3 := time.Now()
	r = fjord(ctx, append([]string{"apply", "-auto-approve", "-json"}, cfg...)...)
	ao := parseApply(t, r.out)
	if r.code != 0 {
		for _, hr := range ao.hosts {
			for _, c := range hr.Checks {
				if c.Status == "fail" {
					t.Errorf("%s: %s failed: %s", hr.Host, c.ID, c.Detail)
				}
			}
		}
		t.Fatalf("apply: exit %d %s\n%s", r.code, ao.errMsg, r.err)
	}
	t.Logf("both hosts verified in %.1fs; golden host: boot→address %.1fs, cloud-init %.1fs, verify %.1fs; stock host: boot→address %.1fs, cloud-init %.1fs, verify %.1fs",
		time.Since(t3).Seconds(), ao.phases["host.ci address"], ao.phases["host.ci cloud-init"], ao.phases["host.ci verify"],
		ao.phases["host.plain address"], ao.phases["host.plain cloud-init"], ao.phases["host.plain verify"])
	if n := debsFetched(); n != 2 {
		t.Errorf("docker.io fetched %d times from the mirror, want twice (the build, the stock host)", n)
	}
	for _, hr := range ao.hosts {
		g := &guest{addr: hr.Address, hostKey: hr.HostKey, user: "admin"}
		if out := g.run(t, "dpkg-query -W -f '${Version}' docker.io"); !strings.HasPrefix(out, "20.10") {
			t.Errorf("%s: docker.io %q", hr.Host, out)
		}
		// Where the first boot went, and whether AppArmor found its
		// profiles compiled (the golden image's builder booted with them).
		t.Logf("%s: first boot's slowest units, AppArmor's cache, the setup's steps:\n%s", hr.Host,
			g.run(t, "systemd-analyze blame --no-pager 2>/dev/null | head -8; echo \"apparmor cache: $(sudo find /var/cache/apparmor -type f 2>/dev/null | wc -l) files\"; "+
				"sudo journalctl -b -o cat -u cloud-final --no-pager 2>/dev/null | grep -E '^fjord-(setup|install)' || true"))
	}

	// A changed recipe is a new image; the host on the old one is to be
	// replaced for it, the stock host is not touched.
	vf2 := filepath.Join(h.work, "golden-jq.fjordvars")
	os.WriteFile(vf2, []byte("packages = [\"jq\"]\n"), 0o600)
	r = fjord(ctx, append([]string{"plan", "-var-file", vf2}, cfg...)...)
	for _, want := range []string{"build from image stock into pool golden", "-/+ host.ci", "replace  image sha256 changed", "Plan: 1 to create, 0 to update, 1 to replace"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan after the recipe changed lacks %q:\n%s%s", want, r.out, r.err)
		}
	}
	if !strings.Contains(r.out, "host.plain") || strings.Contains(r.out, "-/+ host.plain") {
		t.Errorf("the recipe change touches the stock host:\n%s", r.out)
	}

	// A first boot that fails: a sysctl key the kernel does not have
	// stops the setup script. The apply fails with cloud-init's error and
	// the setup's own words from the guest's log, and removes the host.
	vf3 := filepath.Join(h.work, "golden-typo.fjordvars")
	os.WriteFile(vf3, []byte("typos = 1\n"), 0o600)
	t4 := time.Now()
	r = fjord(ctx, append([]string{"apply", "-auto-approve", "-var-file", vf3}, cfg...)...)
	t.Logf("apply with a sysctl typo: exit %d after %.1fs\n%s", r.code, time.Since(t4).Seconds(), tail(r.out+r.err, 14))
	for _, want := range []string{"cloud-init finished with errors", "last lines of /var/log/cloud-init-output.log", "vm/max_map_cont", "were removed"} {
		if !strings.Contains(r.out+r.err, want) {
			t.Errorf("the failed first boot's error lacks %q", want)
		}
	}
	if r.code == 0 {
		t.Errorf("apply with a sysctl the kernel lacks succeeded")
	}
	if doms := virsh(t, "list", "--all", "--name"); strings.Contains(doms, "typo") {
		t.Errorf("the failed host is left behind:\n%s", doms)
	}
}
