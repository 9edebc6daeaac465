package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

func TestDownloadVerifiesAndCaches(t *testing.T) {
	body := []byte("not really a qcow2 image")
	sum := sha256.Sum256(body)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write(body)
	}))
	defer srv.Close()
	cache := t.TempDir()
	im := model.Image{Name: "deb", URL: srv.URL + "/deb.qcow2", SHA256: hex.EncodeToString(sum[:]), Format: "qcow2"}
	var steps []string
	report := func(p Progress) {
		if p.Step == "download" && p.Total != int64(len(body)) {
			t.Errorf("download progress without the body's length: %+v", p)
		}
		steps = append(steps, fmt.Sprintf("%s %d", p.Step, p.Done))
	}
	for i := 0; i < 2; i++ {
		p, err := download(context.Background(), im, cache, report)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != string(body) {
			t.Fatalf("cached file = %q", b)
		}
	}
	if hits != 1 {
		t.Errorf("downloaded %d times, want once", hits)
	}
	// The download and its checksum report their end; the cached copy is
	// hashed again (reported too) and not fetched.
	if want := fmt.Sprintf("download %[1]d checksum %[1]d checksum %[1]d", len(body)); strings.Join(steps, " ") != want {
		t.Errorf("progress = %v, want %s", steps, want)
	}

	im.SHA256 = strings.Repeat("0", 64)
	_, err := download(context.Background(), im, cache, nil)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("mismatch: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(cache, "*"))
	if len(left) != 1 {
		t.Errorf("a refused download left files: %v", left)
	}
}

// remoteFake is a fake hypervisor on another machine whose copy of an
// uploaded file hashes to sum.
type remoteFake struct {
	*fakeHV
	sum  string
	devs []string // the disks under any path there
}

func (r remoteFake) RemoteSHA256(ctx context.Context, path string) (string, error) { return r.sum, nil }

func (r remoteFake) RemoteBackingDevices(ctx context.Context, path string) ([]string, error) {
	return r.devs, nil
}

// require_nvme on a remote hypervisor's pool is judged by the disks the
// hypervisor reports for the pool's path.
func TestRequireNVMeOnARemotePool(t *testing.T) {
	c := fleet(1, "far")
	c.Hypervisors[0].URI = "qemu+ssh://root@10.0.0.9/system"
	c.Pools[0].RequireNVMe = true
	c.Hosts[0].Hypervisor = "far"
	invs := map[string]*Inventory{"far": {}}
	check := func(devs []string) error {
		return CheckPools(context.Background(), c, invs, map[string]Hypervisor{"far": remoteFake{fakeHV: newFakeHV(), devs: devs}})
	}
	if err := check([]string{"nvme0n1", "nvme1n1"}); err != nil {
		t.Errorf("NVMe-backed remote pool refused: %v", err)
	}
	err := check([]string{"nvme0n1", "sda"})
	if err == nil || !strings.Contains(err.Error(), `pool "pool" on far`) || !strings.Contains(err.Error(), "backed by sda, which is not NVMe") {
		t.Errorf("remote pool on sda: %v", err)
	}
	// A remote hypervisor fjord cannot read disks on is refused, not passed.
	err = CheckPools(context.Background(), c, invs, map[string]Hypervisor{"far": newFakeHV()})
	if err == nil || !strings.Contains(err.Error(), "cannot be checked on far") {
		t.Errorf("unreadable remote: %v", err)
	}
}

// An image streamed to a remote pool is hashed there; a copy that differs
// is removed and the import fails naming both checksums.
func TestImportVerifiesTheUploadOnARemoteHypervisor(t *testing.T) {
	src := filepath.Join(t.TempDir(), "deb.qcow2")
	os.WriteFile(src, []byte("an image"), 0o644)
	sum := sha256.Sum256([]byte("an image"))
	im := model.Image{Name: "deb", Path: src, SHA256: hex.EncodeToString(sum[:]), Format: "qcow2"}

	good := remoteFake{fakeHV: newFakeHV(), sum: im.SHA256}
	if _, err := importImage(context.Background(), good, "proj", "pool", im, "", nil); err != nil {
		t.Fatalf("matching upload refused: %v", err)
	}
	bad := remoteFake{fakeHV: newFakeHV(), sum: strings.Repeat("0", 64)}
	_, err := importImage(context.Background(), bad, "proj", "pool", im, "", nil)
	if err == nil || !strings.Contains(err.Error(), strings.Repeat("0", 64)) || !strings.Contains(err.Error(), im.SHA256) {
		t.Fatalf("corrupted upload: %v", err)
	}
	if len(bad.volumes) != 0 {
		t.Errorf("corrupted upload left %v", bad.volumes)
	}
}
