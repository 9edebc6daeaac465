package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const unformatted = `host "web" {
image="deb"
  pool = "p"
    network    =   "lab"
}
`

const canonical = `host "web" {
  image   = "deb"
  pool    = "p"
  network = "lab"
}
`

func TestFmtRewritesAndChecks(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.hcl")
	vars := filepath.Join(dir, "ci.fjordvars")
	os.WriteFile(main, []byte(unformatted), 0o640)
	os.WriteFile(vars, []byte("memory=\"2GiB\"\n"), 0o600)

	a, out, errb := testApp("")
	if code := a.run(context.Background(), []string{"fmt", "-check", dir}); code != exitUnformatted {
		t.Fatalf("fmt -check on unformatted files: exit %d\n%s%s", code, out, errb)
	}
	if got := out.String(); !strings.Contains(got, main) || !strings.Contains(got, vars) {
		t.Errorf("fmt -check lists %q, want both files", got)
	}
	if b, _ := os.ReadFile(main); string(b) != unformatted {
		t.Errorf("fmt -check changed the file:\n%s", b)
	}

	a, out, errb = testApp("")
	if code := a.run(context.Background(), []string{"fmt", dir}); code != exitOK {
		t.Fatalf("fmt: exit %d\n%s%s", code, out, errb)
	}
	if b, _ := os.ReadFile(main); string(b) != canonical {
		t.Errorf("fmt wrote:\n%s\nwant:\n%s", b, canonical)
	}
	if b, _ := os.ReadFile(vars); string(b) != "memory = \"2GiB\"\n" {
		t.Errorf("fmt wrote the variables file as %q", b)
	}
	if fi, _ := os.Stat(main); fi.Mode().Perm() != 0o640 {
		t.Errorf("fmt changed the mode to %v", fi.Mode().Perm())
	}
	a, out, _ = testApp("")
	if code := a.run(context.Background(), []string{"fmt", "-check", dir}); code != exitOK || out.Len() != 0 {
		t.Errorf("fmt -check after fmt: exit %d, %q", code, out)
	}
}

// A file that does not parse stops fmt before anything is rewritten.
func TestFmtRewritesNothingWhenAFileDoesNotParse(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(unformatted), 0o644)
	os.WriteFile(filepath.Join(dir, "b.hcl"), []byte("host \"x\" {\n  image = \n"), 0o644)
	a, out, errb := testApp("")
	if code := a.run(context.Background(), []string{"fmt", dir}); code != exitError {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	if !strings.Contains(errb.String(), "b.hcl") {
		t.Errorf("diagnostics do not name b.hcl:\n%s", errb)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.hcl")); string(b) != unformatted {
		t.Errorf("a.hcl was rewritten although b.hcl does not parse")
	}
}
