// Package canary carries fjord's canary image: the static fjord-probe
// program (cmd/fjord-probe) as the only file of a tar that `docker import`
// turns into an image on the guest, so no registry is needed.
//
// The probe is embedded when fjord is built with the "helpers" tag after
// building the probe into canary/probe.bin, as `make build` does.
package canary

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// ErrNoProbe means this fjord binary was built without its probe.
var ErrNoProbe = errors.New("this fjord was built without its canary probe (build it with make build)")

// ProbePath is where the probe sits inside the image.
const ProbePath = "/probe"

// Image returns the canary image as a tar stream for docker import, and a
// tag derived from its content.
func Image() (tarball []byte, tag string, err error) {
	if len(probe) == 0 {
		return nil, "", ErrNoProbe
	}
	return imageOf(probe)
}

func imageOf(bin []byte) ([]byte, string, error) {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	hdr := &tar.Header{Name: ProbePath[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := w.WriteHeader(hdr); err != nil {
		return nil, "", err
	}
	if _, err := w.Write(bin); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(bin)
	return b.Bytes(), "fjord/canary:" + hex.EncodeToString(sum[:6]), nil
}
