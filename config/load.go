// Package config loads a directory of fjord *.hcl files into the typed model of
// package model. It is the only package that imports hashicorp/hcl and go-cty.
// Every problem is reported as a Diagnostic with a source range, and all of
// them are reported in one run.
package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/fjord-dev/fjord/model"
)

// Diagnostics re-exports hashicorp's type so callers need not import it.
type Diagnostics = hcl.Diagnostics

// Options are the inputs of Load beyond the directory.
type Options struct {
	// Vars are -var NAME=VALUE settings, in order; later ones win.
	Vars []string
	// VarFiles are -var-file paths, read before Vars.
	VarFiles []string
	// Env holds FJORD_VAR_name values (the caller reads the environment).
	Env map[string]string
	// KnownCheck reports whether a docker waive key names a verification
	// check; nil accepts any.
	KnownCheck func(id string) bool
	// Files makes Load read what apply will read: every image's header and
	// every host's private key (validate, plan and apply set it; destroy
	// does not need them).
	Files bool
}

// Result is a loaded configuration together with the sources it came from,
// so diagnostics can be printed with the offending lines.
type Result struct {
	Config *model.Config // nil when Load found errors
	// Partial is the configuration as far as it decoded, errors and all
	// (nil when a file did not parse): for commands that read one block
	// of a configuration that cannot be valid yet, such as a hypervisor
	// without its pinned key. Nothing may be provisioned from it.
	Partial *model.Config
	Dir     string
	parser  *hclparse.Parser
}

// WriteDiagnostics prints diags with file:line:col and the source lines
// they point at; a file with a line too long to echo is shown without its
// source.
func (r *Result) WriteDiagnostics(w io.Writer, diags Diagnostics) {
	files := map[string]*hcl.File{}
	if r != nil && r.parser != nil {
		for name, f := range r.parser.Files() {
			if longestLine(f.Bytes) <= maxEchoedLine {
				files[name] = f
			}
		}
	}
	wr := hcl.NewDiagnosticTextWriter(w, files, 100, false)
	_ = wr.WriteDiagnostics(diags)
}

// Load reads every *.hcl file in dir (in name order) and returns the
// validated configuration. When diags has errors, Result.Config is nil but
// Result can still print the diagnostics with source context.
func Load(dir string, opts Options) (*Result, Diagnostics) {
	res := &Result{Dir: dir, parser: hclparse.NewParser()}
	paths, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(paths) == 0 {
		return res, Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The directory %q holds no *.hcl files. Run fjord in a directory with a configuration or name one: fjord plan DIR.", dir),
		}}
	}
	sort.Strings(paths)
	var diags Diagnostics
	var bodies []hcl.Body
	for _, p := range paths {
		f, d := parseBounded(res.parser, p)
		diags = append(diags, d...)
		if f != nil {
			bodies = append(bodies, f.Body)
		}
	}
	if diags.HasErrors() {
		return res, diags
	}
	l := &loader{dir: dir, parser: res.parser, opts: opts, ranges: map[string]hcl.Range{}, knownCheck: opts.KnownCheck}
	if l.knownCheck == nil {
		l.knownCheck = func(string) bool { return true }
	}
	cfg, d := l.load(bodies)
	diags = append(diags, d...)
	res.Partial = cfg
	if diags.HasErrors() {
		return res, diags
	}
	cfg.Where = func(kind, name, field string) string {
		r := l.rangeOf(kind, name, field)
		if r.Filename == "" {
			return ""
		}
		return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
	}
	res.Config = cfg
	return res, diags
}

// loader carries the state of one Load.
type loader struct {
	dir    string
	parser *hclparse.Parser
	opts   Options
	// dockerDefaults is the hardened profile with docker_defaults applied.
	dockerDefaults model.Docker
	// knownCheck tells whether a waive key names a verification check.
	knownCheck func(string) bool
	// ranges maps "kind/name/field" (and "kind/name/" for the block) to the
	// source range of what the user wrote, so semantic problems from
	// model.Validate point at the right line.
	ranges map[string]hcl.Range
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "fjord"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "hypervisor", LabelNames: []string{"name"}},
		{Type: "pool", LabelNames: []string{"name"}},
		{Type: "network", LabelNames: []string{"name"}},
		{Type: "image", LabelNames: []string{"name"}},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "docker_defaults"},
	},
}

func (l *loader) load(bodies []hcl.Body) (*model.Config, Diagnostics) {
	var diags Diagnostics
	var blocks hcl.Blocks
	for _, b := range bodies {
		content, d := b.Content(rootSchema)
		diags = append(diags, d...)
		if content != nil {
			blocks = append(blocks, content.Blocks...)
		}
	}
	byType := map[string]hcl.Blocks{}
	for _, b := range blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}
	diags = append(diags, checkDuplicates(blocks)...)

	// Without every variable and local, expressions would fail in ways
	// that only repeat the first problem: stop here if they are broken.
	vars, vd := l.variables(byType["variable"])
	locals, ld := l.locals(byType["locals"], vars)
	diags = append(diags, vd...)
	diags = append(diags, ld...)
	if vd.HasErrors() || ld.HasErrors() {
		return nil, diags
	}
	ctx := evalContext(l.dir, vars, locals)

	cfg := &model.Config{Project: filepath.Base(mustAbs(l.dir))}
	if fb := byType["fjord"]; len(fb) > 0 {
		if len(fb) > 1 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate fjord block",
				Detail: "Only one fjord block may set the project settings.", Subject: fb[1].DefRange.Ptr()})
		}
		d := l.decodeFjord(fb[0], ctx, cfg)
		diags = append(diags, d...)
	}
	l.dockerDefaults = model.HardenedDocker()
	if db := byType["docker_defaults"]; len(db) > 0 {
		if len(db) > 1 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate docker_defaults block",
				Detail: "Only one docker_defaults block may set the shared Docker profile.", Subject: db[1].DefRange.Ptr()})
		}
		d, dd := l.decodeDocker(db[0], "docker_defaults", "", ctx, l.dockerDefaults)
		diags = append(diags, dd...)
		l.dockerDefaults = d
	}
	for _, b := range byType["hypervisor"] {
		h, d := l.decodeHypervisor(b, ctx)
		diags = append(diags, d...)
		cfg.Hypervisors = append(cfg.Hypervisors, h)
	}
	defaultHV := ""
	switch len(cfg.Hypervisors) {
	case 0:
		cfg.Hypervisors = []model.Hypervisor{{Name: "default", URI: model.DefaultURI, VirtType: model.VirtKVM}}
		defaultHV = "default"
	case 1:
		defaultHV = cfg.Hypervisors[0].Name
	}
	for _, b := range byType["pool"] {
		p, d := l.decodePool(b, ctx, defaultHV)
		diags = append(diags, d...)
		cfg.Pools = append(cfg.Pools, p)
	}
	for _, b := range byType["network"] {
		n, d := l.decodeNetwork(b, ctx, defaultHV)
		diags = append(diags, d...)
		cfg.Networks = append(cfg.Networks, n)
	}
	for _, b := range byType["image"] {
		im, d := l.decodeImage(b, ctx)
		diags = append(diags, d...)
		cfg.Images = append(cfg.Images, im)
	}
	for _, b := range byType["host"] {
		hs, d := l.decodeHost(b, ctx, defaultHV)
		diags = append(diags, d...)
		cfg.Hosts = append(cfg.Hosts, hs...)
	}
	// Semantic checks run even when decoding found problems, so one run
	// reports everything; a problem on a line that already has a diagnostic
	// is a consequence of that one and is left out.
	reported := map[hcl.Pos]bool{}
	for _, d := range diags {
		if d.Subject != nil {
			reported[d.Subject.Start] = true
		}
	}
	for _, p := range cfg.Validate() {
		r := l.rangeOf(p.Kind, p.Name, p.Field)
		if reported[r.Start] {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  problemSummary(p),
			Detail:   p.Detail + ".",
			Subject:  r.Ptr(),
		})
	}
	if l.opts.Files {
		for _, d := range l.checkFiles(cfg) {
			if !reported[d.Subject.Start] {
				diags = append(diags, d)
			}
		}
	}
	if diags.HasErrors() {
		return cfg, diags // for Result.Partial only
	}
	cfg.Resolve()
	return cfg, diags
}

func problemSummary(p model.Problem) string {
	if p.Field == "" {
		return fmt.Sprintf("Invalid %s %q", p.Kind, p.Name)
	}
	return fmt.Sprintf("Invalid %s in %s %q", p.Field, p.Kind, p.Name)
}

func (l *loader) note(kind, name, field string, r hcl.Range) {
	l.ranges[kind+"/"+name+"/"+field] = r
}

// rangeOf finds where the user wrote kind.name.field, falling back to the
// enclosing block ("docker.log_driver" → the docker block) and then to the
// object's block header when the field was left to its default.
//
// A host's docker.* field the host's own docker block does not set came
// from docker_defaults: the problem points there.
func (l *loader) rangeOf(kind, name, field string) hcl.Range {
	if r, ok := l.exactRange(kind, name, field); ok {
		return r
	}
	if kind == "host" && strings.HasPrefix(field, "docker.") {
		if r, ok := l.exactRange("docker_defaults", "", field); ok {
			return r
		}
	}
	for f := field; ; {
		if r, ok := l.ranges[kind+"/"+name+"/"+f]; ok {
			return r
		}
		i := strings.LastIndex(f, ".")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return l.ranges[kind+"/"+name+"/"]
}

// exactRange is where kind.name.field (or, for a map, the attribute that
// holds field's key: docker.waive for docker.waive.KEY) was written.
func (l *loader) exactRange(kind, name, field string) (hcl.Range, bool) {
	top := strings.SplitN(field, ".", 2)[0]
	for f := field; f != top || f == field; {
		if r, ok := l.ranges[kind+"/"+name+"/"+f]; ok {
			return r, true
		}
		i := strings.LastIndex(f, ".")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return hcl.Range{}, false
}

func checkDuplicates(blocks hcl.Blocks) Diagnostics {
	var diags Diagnostics
	seen := map[string]*hcl.Block{}
	for _, b := range blocks {
		if len(b.Labels) == 0 {
			continue
		}
		key := b.Type + "." + b.Labels[0]
		if first, ok := seen[key]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s %q", b.Type, b.Labels[0]),
				Detail:   fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique.", b.Type, b.Labels[0], first.DefRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		seen[key] = b
	}
	return diags
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// readVarFile parses a -var-file: attributes only, each a constant value.
func (l *loader) readVarFile(path string) (map[string]cty.Value, Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read variables file",
			Detail: fmt.Sprintf("Reading %q: %v.", path, err)}}
	}
	f, diags := l.parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, diags
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	out := map[string]cty.Value{}
	for name, a := range attrs {
		v, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		out[name] = v
	}
	return out, diags
}

func (l *loader) variables(blocks hcl.Blocks) (map[string]cty.Value, Diagnostics) {
	var diags Diagnostics
	schema := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "description"}}}
	declared := map[string]*hcl.Block{}
	vals := map[string]cty.Value{}
	for _, b := range blocks {
		name := b.Labels[0]
		declared[name] = b
		content, d := b.Body.Content(schema)
		diags = append(diags, d...)
		if a, ok := content.Attributes["default"]; ok {
			v, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			vals[name] = v
		}
	}
	set := func(name string, v cty.Value, where string) {
		if _, ok := declared[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
				Detail: fmt.Sprintf("%s sets %q, but no variable block declares it. Add: variable %q {}", where, name, name)})
			return
		}
		vals[name] = v
	}
	envNames := make([]string, 0, len(l.opts.Env))
	for n := range l.opts.Env {
		envNames = append(envNames, n)
	}
	sort.Strings(envNames)
	for _, n := range envNames {
		if _, ok := declared[n]; ok { // unknown environment variables are not an error
			vals[n] = cty.StringVal(l.opts.Env[n])
		}
	}
	for _, path := range l.opts.VarFiles {
		fv, d := l.readVarFile(path)
		diags = append(diags, d...)
		names := make([]string, 0, len(fv))
		for n := range fv {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			set(n, fv[n], fmt.Sprintf("The variables file %q", path))
		}
	}
	for _, kv := range l.opts.Vars {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var option",
				Detail: fmt.Sprintf("%q is not NAME=VALUE.", kv)})
			continue
		}
		set(name, cty.StringVal(value), fmt.Sprintf("-var %q", kv))
	}
	for name, b := range declared {
		if _, ok := vals[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail:  fmt.Sprintf("Variable %q has no default. Set it with -var %s=VALUE, a -var-file, or FJORD_VAR_%s.", name, name, name),
				Subject: b.DefRange.Ptr()})
		}
	}
	return vals, diags
}

// locals evaluates locals blocks. A local may use other locals; they are
// resolved in as many passes as it takes, and a cycle is reported.
func (l *loader) locals(blocks hcl.Blocks, vars map[string]cty.Value) (cty.Value, Diagnostics) {
	var diags Diagnostics
	pending := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for n, a := range attrs {
			if _, dup := pending[n]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate local",
					Detail: fmt.Sprintf("local.%s is set twice.", n), Subject: a.NameRange.Ptr()})
			}
			pending[n] = a
		}
	}
	done := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, n := range sortedNames(pending) {
			a := pending[n]
			if !localsReady(a, done) {
				continue
			}
			// Each evaluation sees every local done so far, this pass's too.
			v, d := a.Expr.Value(evalContext(l.dir, vars, cty.ObjectVal(done)))
			diags = append(diags, d...)
			done[n] = v
			delete(pending, n)
			progress = true
		}
		if !progress {
			for _, n := range sortedNames(pending) {
				a := pending[n]
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unresolvable local",
					Detail:  fmt.Sprintf("local.%s refers to a local that does not exist or to itself through a cycle.", n),
					Subject: a.Expr.Range().Ptr()})
			}
			break
		}
	}
	return cty.ObjectVal(done), diags
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func localsReady(a *hcl.Attribute, done map[string]cty.Value) bool {
	for _, t := range a.Expr.Variables() {
		if t.RootName() != "local" || len(t) < 2 {
			continue
		}
		if at, ok := t[1].(hcl.TraverseAttr); ok {
			if _, ok := done[at.Name]; !ok {
				return false
			}
		}
	}
	return true
}
