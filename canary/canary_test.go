package canary

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func TestImageHoldsTheProbeOnly(t *testing.T) {
	bin := []byte("\x7fELF fake probe")
	tb, tag, err := imageOf(bin)
	if err != nil {
		t.Fatal(err)
	}
	r := tar.NewReader(bytes.NewReader(tb))
	h, err := r.Next()
	if err != nil || h.Name != "probe" || h.Mode != 0o755 {
		t.Fatalf("entry = %+v, %v", h, err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, bin) {
		t.Error("probe content differs")
	}
	if _, err := r.Next(); err != io.EOF {
		t.Error("the image holds more than the probe")
	}
	if _, tag2, _ := imageOf([]byte("other")); tag2 == tag {
		t.Error("the tag does not follow the content")
	}
}
