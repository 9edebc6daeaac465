package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/fjord-dev/fjord/model"
)

// importImage makes sure the base image is in the pool and returns the
// volume's path. The local file (or the download) is checked against the
// configured sha256 before anything is uploaded; an existing volume of the
// image's name (which embeds the checksum) is used as it is.
func importImage(ctx context.Context, hv interface {
	InventoryReader
	Storage
}, project, pool string, im model.Image, cacheDir string, report func(Progress)) (string, error) {
	name := ImageVolume(project, im.Name, im.SHA256, im.Format)
	inv, err := hv.Inventory(ctx, project)
	if err != nil {
		return "", err
	}
	if v, ok := findVolume(inv, pool, name); ok {
		return v.Path, nil
	}
	src := im.Path
	if im.URL != "" {
		if src, err = download(ctx, im, cacheDir, report); err != nil {
			return "", err
		}
	}
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", im.Name, err)
	}
	if err := checkSHA256(src, im.SHA256, report); err != nil {
		return "", fmt.Errorf("image %q: %w", im.Name, err)
	}
	path, err := hv.CreateVolume(ctx, VolumeSpec{Pool: pool, Name: name, Format: im.Format, Capacity: uint64(fi.Size()), Source: src, Progress: report})
	if err != nil {
		return "", err
	}
	// Streamed to another machine: checked there too, so a truncated or
	// corrupted upload never becomes the base of a host.
	if rf, ok := hv.(RemoteFiles); ok {
		sum, err := rf.RemoteSHA256(ctx, path)
		if err == nil && sum != "" && sum != im.SHA256 {
			err = fmt.Errorf("sha256 of the uploaded volume %s is %s, the configuration says %s", path, sum, im.SHA256)
		}
		if err != nil {
			_ = hv.DeleteVolume(ctx, pool, name)
			return "", fmt.Errorf("image %q: verifying the upload on the hypervisor: %w (the volume was removed)", im.Name, err)
		}
	}
	return path, nil
}

// CheckSHA256 compares a file's digest with want (lower-case hex).
func CheckSHA256(path, want string) error { return checkSHA256(path, want, nil) }

// checkSHA256 is CheckSHA256 telling report how far the hashing has got.
func checkSHA256(path, want string, report func(Progress)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	h := sha256.New()
	if _, err := io.Copy(h, metered(f, "checksum", size, report)); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("checksum mismatch for %s: sha256 is %s, the configuration says %s; refusing to import it", path, got, want)
	}
	return nil
}

// cachedDownload is where download keeps image im.
func cachedDownload(cacheDir string, im model.Image) string {
	return filepath.Join(cacheDir, im.SHA256+"."+im.Format)
}

// download fetches an image URL into the cache once, verified.
func download(ctx context.Context, im model.Image, cacheDir string, report func(Progress)) (string, error) {
	dst := cachedDownload(cacheDir, im)
	if checkSHA256(dst, im.SHA256, report) == nil {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, im.URL, nil)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", im.Name, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("image %q: download %s: %w", im.Name, im.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("image %q: download %s: %s", im.Name, im.URL, resp.Status)
	}
	tmp, err := os.CreateTemp(cacheDir, ".download-*")
	if err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, metered(resp.Body, "download", resp.ContentLength, report)); err != nil {
		tmp.Close()
		return "", fmt.Errorf("image %q: download %s: %w", im.Name, im.URL, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := checkSHA256(tmp.Name(), im.SHA256, report); err != nil {
		return "", fmt.Errorf("image %q from %s: %w", im.Name, im.URL, err)
	}
	return dst, os.Rename(tmp.Name(), dst)
}
