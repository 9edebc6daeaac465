package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: whatever a configuration file holds, Load returns (no panic,
// no stack overflow) with a bounded report, and a configuration it
// accepts is complete. The seed corpus is every fixture.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.hcl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		res, diags := Load(dir, Options{})
		var out bytes.Buffer
		res.WriteDiagnostics(&out, diags)
		if limit := 64*len(src) + 256<<10; out.Len() > limit {
			t.Fatalf("%d bytes of diagnostics for %d bytes of input", out.Len(), len(src))
		}
		if !diags.HasErrors() && res.Config == nil {
			t.Fatal("accepted without a configuration")
		}
		if diags.HasErrors() && res.Config != nil {
			t.Fatal("a configuration despite errors")
		}
	})
}
