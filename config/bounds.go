package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Bounds on the work any input can cause: a configuration file is small,
// shallow and has few problems; anything else is refused or cut short
// before it can exhaust memory, the stack or the terminal.
const (
	// maxFileSize is the largest *.hcl file read.
	maxFileSize = 4 << 20
	// maxNesting is the deepest bracket nesting parsed: the parser
	// recurses per level, and a few hundred thousand levels overflow the
	// stack and kill the process.
	maxNesting = 256
	// maxFileDiagnostics are shown per file; the rest are counted.
	maxFileDiagnostics = 20
	// maxEchoedLine is the longest source line echoed under a diagnostic.
	maxEchoedLine = 512
)

// parseBounded parses one file within the bounds above.
func parseBounded(p *hclparse.Parser, path string) (*hcl.File, Diagnostics) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration file", Detail: fmt.Sprintf("%s: %v.", path, err)}}
	}
	if fi.Size() > maxFileSize {
		return nil, Diagnostics{{Severity: hcl.DiagError, Summary: "Configuration file too large",
			Detail:  fmt.Sprintf("%s is %d bytes; fjord reads configuration files of up to %d MiB. Split it, or move data into files read with file().", path, fi.Size(), maxFileSize>>20),
			Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}}}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration file", Detail: fmt.Sprintf("%s: %v.", path, err)}}
	}
	if pos, what, ok := notText(src); ok {
		return nil, Diagnostics{{Severity: hcl.DiagError, Summary: "Not a text file",
			Detail:  fmt.Sprintf("%s holds %s here; a configuration is UTF-8 text.", path, what),
			Subject: &hcl.Range{Filename: path, Start: pos, End: pos}}}
	}
	if pos, ok := tooDeep(src); ok {
		return nil, Diagnostics{{Severity: hcl.DiagError, Summary: "Too deeply nested",
			Detail:  fmt.Sprintf("Brackets nest more than %d levels deep here; no fjord configuration needs that.", maxNesting),
			Subject: &hcl.Range{Filename: path, Start: pos, End: pos}}}
	}
	f, diags := p.ParseHCL(src, path)
	for _, d := range diags {
		// The parser reports an unclosed heredoc at the end of the file;
		// the mistake is where it was opened.
		if d.Summary == "Unterminated template string" {
			if r, marker, ok := unclosedHeredoc(src, path); ok {
				d.Subject, d.Context = &r, nil
				d.Detail = fmt.Sprintf("The heredoc opened here with <<%s has no line holding only %s to close it.", marker, marker)
			}
		}
	}
	return f, capDiagnostics(diags, path)
}

var heredocOpen = regexp.MustCompile(`<<-?([A-Za-z_][A-Za-z0-9_-]*)\s*$`)

// unclosedHeredoc finds the first heredoc opener (<<EOT) with no closing
// line after it.
func unclosedHeredoc(src []byte, path string) (hcl.Range, string, bool) {
	lines := strings.Split(string(src), "\n")
	offset := 0
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := heredocOpen.FindStringSubmatchIndex(line); m != nil {
			marker := line[m[2]:m[3]]
			closed := false
			for j := i + 1; j < len(lines); j++ {
				if strings.TrimSpace(lines[j]) == marker {
					closed = true
					// Skip the heredoc's body.
					for k := i + 1; k <= j; k++ {
						offset += len(lines[k]) + 1
					}
					offset += len(line) + 1
					i = j
					break
				}
			}
			if !closed {
				start := hcl.Pos{Line: i + 1, Column: m[0] + 1, Byte: offset + m[0]}
				end := hcl.Pos{Line: i + 1, Column: m[1] + 1, Byte: offset + m[1]}
				return hcl.Range{Filename: path, Start: start, End: end}, marker, true
			}
			continue
		}
		offset += len(line) + 1
	}
	return hcl.Range{}, "", false
}

// notText finds the first byte that no configuration holds: a control
// character other than tab, newline and carriage return, or bytes that are
// not UTF-8. The parser would report each one, echoing its line.
func notText(src []byte) (hcl.Pos, string, bool) {
	pos := hcl.Pos{Line: 1, Column: 1}
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			pos.Byte = i
			return pos, fmt.Sprintf("a byte that is not UTF-8 (0x%02x)", src[i]), true
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f:
			pos.Byte = i
			return pos, fmt.Sprintf("the control character 0x%02x", r), true
		case r == '\n':
			pos.Line++
			pos.Column = 0
		}
		pos.Column++
		i += size
	}
	return hcl.Pos{}, "", false
}

// tooDeep finds where brackets first nest deeper than maxNesting, counting
// every bracket (in strings too: a string cannot hold an interpolation
// deeper than its text).
func tooDeep(src []byte) (hcl.Pos, bool) {
	depth := 0
	pos := hcl.Pos{Line: 1, Column: 1}
	for i, c := range src {
		switch c {
		case '[', '{', '(':
			if depth++; depth > maxNesting {
				pos.Byte = i
				return pos, true
			}
		case ']', '}', ')':
			if depth > 0 {
				depth--
			}
		case '\n':
			pos.Line++
			pos.Column = 0
		}
		pos.Column++
	}
	return hcl.Pos{}, false
}

// capDiagnostics keeps the first maxFileDiagnostics of a file's
// diagnostics and says how many more there were.
func capDiagnostics(diags Diagnostics, path string) Diagnostics {
	if len(diags) <= maxFileDiagnostics {
		return diags
	}
	kept := append(Diagnostics{}, diags[:maxFileDiagnostics]...)
	return append(kept, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Too many problems",
		Detail: fmt.Sprintf("%s has %d more problems not shown; fix those above first.", path, len(diags)-maxFileDiagnostics)})
}

func longestLine(b []byte) int {
	longest := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		longest = max(longest, i)
		b = b[min(i+1, len(b)):]
	}
	return longest
}
