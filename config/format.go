package config

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// FormatResult is one file's canonical form.
type FormatResult struct {
	Path      string
	Formatted []byte
	Changed   bool // Formatted differs from the file
}

// FormatFiles reads the configuration files of dir (*.hcl and the
// variables files *.fjordvars) and returns each in the canonical HCL
// layout (hclwrite.Format: Terraform's fmt). A file that does not parse
// is not formatted: its problems are in the diagnostics, with the Result
// to print them.
func FormatFiles(dir string) ([]FormatResult, *Result, Diagnostics) {
	res := &Result{Dir: dir, parser: hclparse.NewParser()}
	var paths []string
	for _, pattern := range []string{"*.hcl", "*.fjordvars"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	var out []FormatResult
	var diags Diagnostics
	for _, p := range paths {
		f, d := parseBounded(res.parser, p)
		diags = append(diags, d...)
		if d.HasErrors() || f == nil {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			continue // parseBounded read it a moment ago; a vanished file has nothing to format
		}
		formatted := hclwrite.Format(src)
		out = append(out, FormatResult{Path: p, Formatted: formatted, Changed: !bytes.Equal(src, formatted)})
	}
	return out, res, diags
}
