package cloudinit

import (
	"bytes"
	"fmt"

	"github.com/kdomanski/iso9660"
)

// VolumeLabel is the label cloud-init's NoCloud datasource looks for.
const VolumeLabel = "cidata"

// ISO writes the seed as an ISO9660 image labelled cidata.
//
// The library stages files in a private (0700) temporary directory that it
// removes before ISO returns, on success and on failure alike.
func (s *Seed) ISO() ([]byte, error) {
	w, err := iso9660.NewWriter()
	if err != nil {
		return nil, fmt.Errorf("seed image: %w", err)
	}
	defer w.Cleanup()
	for _, f := range []struct {
		name string
		data []byte
	}{{"meta-data", s.MetaData}, {"user-data", s.UserData}, {"network-config", s.NetworkConfig}} {
		if err := w.AddFile(bytes.NewReader(f.data), f.name); err != nil {
			return nil, fmt.Errorf("seed image: add %s: %w", f.name, err)
		}
	}
	if len(s.AuthzPlugin) > 0 {
		if err := w.AddFile(bytes.NewReader(s.AuthzPlugin), AuthzPluginFile); err != nil {
			return nil, fmt.Errorf("seed image: add %s: %w", AuthzPluginFile, err)
		}
	}
	// The image is the files, each padded to a 2 KiB sector, after 32 KiB
	// of system area and a few sectors of descriptors and directory
	// records: one allocation of about that size instead of a buffer
	// doubling its way up from nothing (each step zeroed and copied: most
	// of fjord's own CPU time per host did that).
	size := 64 << 10
	for _, n := range []int{len(s.MetaData), len(s.UserData), len(s.NetworkConfig), len(s.AuthzPlugin)} {
		size += n + 2048
	}
	var out bytes.Buffer
	out.Grow(size)
	if err := w.WriteTo(&out, VolumeLabel); err != nil {
		return nil, fmt.Errorf("seed image: %w", err)
	}
	return out.Bytes(), nil
}
