package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/fjord-dev/fjord/authz"
	"github.com/fjord-dev/fjord/model"
)

// evalContext is what expressions may use: var.*, local.*, and a small
// function set. file() reads paths relative to the configuration directory.
func evalContext(dir string, vars map[string]cty.Value, locals cty.Value) *hcl.EvalContext {
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(vars),
			"local": locals,
		},
		Functions: map[string]function.Function{
			"file":       fileFunc(dir),
			"upper":      stdlib.UpperFunc,
			"lower":      stdlib.LowerFunc,
			"format":     stdlib.FormatFunc,
			"join":       stdlib.JoinFunc,
			"split":      stdlib.SplitFunc,
			"concat":     stdlib.ConcatFunc,
			"length":     stdlib.LengthFunc,
			"trimspace":  stdlib.TrimSpaceFunc,
			"replace":    stdlib.ReplaceFunc,
			"max":        stdlib.MaxFunc,
			"min":        stdlib.MinFunc,
			"tostring":   stdlib.MakeToFunc(cty.String),
			"tonumber":   stdlib.MakeToFunc(cty.Number),
			"coalesce":   stdlib.CoalesceFunc,
			"jsonencode": stdlib.JSONEncodeFunc,
		},
	}
}

// expandHome turns a leading "~/" into the user's home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// resolvePath makes p absolute, relative to the configuration directory.
func resolvePath(dir, p string) string {
	p = expandHome(p)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(mustAbs(dir), p)
}

func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := resolvePath(dir, args[0].AsString())
			b, err := os.ReadFile(p)
			if err != nil {
				return cty.NilVal, fmt.Errorf("cannot read %q: %w", p, err)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// attrs decodes one block body against a schema and evaluates its attributes.
type attrs struct {
	l    *loader
	kind string
	name string
	// prefix is where the block's attributes sit in the object's fields
	// ("docker.", "ssh.", "docker.authz."), so a problem with one points at it.
	prefix string
	ctx    *hcl.EvalContext
	body   *hcl.BodyContent
	diags  Diagnostics
}

func (l *loader) open(b *hcl.Block, kind string, ctx *hcl.EvalContext, schema *hcl.BodySchema) *attrs {
	name := ""
	if len(b.Labels) > 0 {
		name = b.Labels[0]
	}
	return l.openNested(b, kind, name, "", ctx, schema)
}

// openNested opens block b of object kind.name whose attributes are the
// object's fields prefix+NAME ("ssh.user").
func (l *loader) openNested(b *hcl.Block, kind, name, prefix string, ctx *hcl.EvalContext, schema *hcl.BodySchema) *attrs {
	content, diags := b.Body.Content(schema)
	l.note(kind, name, strings.TrimSuffix(prefix, "."), b.DefRange)
	for n, a := range content.Attributes {
		l.note(kind, name, prefix+n, a.Expr.Range())
	}
	return &attrs{l: l, kind: kind, name: name, prefix: prefix, ctx: ctx, body: content, diags: diags}
}

// value evaluates attribute n converted to type t; ok is false when the
// attribute is absent or broken (broken ones add a diagnostic).
func (a *attrs) value(n string, t cty.Type) (cty.Value, bool) {
	at, present := a.body.Attributes[n]
	if !present {
		return cty.NilVal, false
	}
	v, d := at.Expr.Value(a.ctx)
	a.diags = append(a.diags, d...)
	if d.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		return cty.NilVal, false
	}
	if t == cty.String && v.IsKnown() && (v.Type() == cty.Bool || v.Type() == cty.Number) {
		// HCL would turn true into "true": a name, path or size is never that.
		a.diags = append(a.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Wrong type for %s", n),
			Detail:   fmt.Sprintf("%s %q: %s must be a string, not the %s %s; quote it if the text is meant.", a.kind, a.name, n, v.Type().FriendlyName(), v.GoString()[len("cty."):]),
			Subject:  at.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, t)
	if err != nil {
		a.diags = append(a.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Wrong type for %s", n),
			Detail:   fmt.Sprintf("%s %q: %s must be %s: %v.", a.kind, a.name, n, t.FriendlyName(), err),
			Subject:  at.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() {
		a.errorAt(n, fmt.Sprintf("Unknown value for %s", n), "the value is not known until apply, which fjord does not support")
		return cty.NilVal, false
	}
	return cv, true
}

func (a *attrs) errorAt(n, summary, detail string) {
	if !strings.HasPrefix(n, a.prefix) {
		n = a.prefix + n
	}
	r := a.l.rangeOf(a.kind, a.name, n)
	a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
		Detail: fmt.Sprintf("%s %q: %s.", a.kind, a.name, detail), Subject: r.Ptr()})
}

// errorAtItem reports a problem with the entry key of map attribute n, at
// that entry when the map is written out in place.
func (a *attrs) errorAtItem(n, key, summary, detail string) {
	if at, ok := a.body.Attributes[strings.TrimPrefix(n, a.prefix)]; ok {
		if obj, ok := at.Expr.(*hclsyntax.ObjectConsExpr); ok {
			for _, item := range obj.Items {
				if k, d := item.KeyExpr.Value(a.ctx); !d.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && k.AsString() == key {
					a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
						Detail: fmt.Sprintf("%s %q: %s.", a.kind, a.name, detail), Subject: hcl.RangeBetween(item.KeyExpr.Range(), item.ValueExpr.Range()).Ptr()})
					return
				}
			}
		}
	}
	a.errorAt(n, summary, detail)
}

func (a *attrs) str(n, def string) string {
	if v, ok := a.value(n, cty.String); ok {
		return v.AsString()
	}
	return def
}

func (a *attrs) boolean(n string, def bool) bool {
	if v, ok := a.value(n, cty.Bool); ok {
		return v.True()
	}
	return def
}

func (a *attrs) integer(n string, def int) int {
	v, ok := a.value(n, cty.Number)
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		a.errorAt(n, fmt.Sprintf("Invalid %s", n), fmt.Sprintf("%s must be a whole number", n))
		return def
	}
	i, acc := bf.Int64()
	if acc != 0 || i > 1<<31 || i < -(1<<31) {
		a.errorAt(n, fmt.Sprintf("Invalid %s", n), fmt.Sprintf("%s is out of range", n))
		return def
	}
	return int(i)
}

func (a *attrs) strings(n string) []string {
	v, ok := a.value(n, cty.List(cty.String))
	if !ok {
		return nil
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

// hypervisors reads a host's candidates: hypervisor (one) or hypervisors
// (placement among several), def when neither is set.
func (a *attrs) hypervisors(def string) []string {
	_, one := a.body.Attributes["hypervisor"]
	_, many := a.body.Attributes["hypervisors"]
	switch {
	case one && many:
		a.errorAt("hypervisors", "Conflicting hypervisor attributes",
			"set hypervisor (the host is on that one) or hypervisors (fjord places it among them), not both")
		return a.strings("hypervisors")
	case many:
		l := a.strings("hypervisors")
		if len(l) == 0 {
			a.errorAt("hypervisors", "Invalid hypervisors", "hypervisors must list at least one hypervisor block")
		}
		return l
	case one:
		return []string{a.str("hypervisor", def)}
	case def != "":
		return []string{def}
	}
	return nil
}

func (a *attrs) size(n string, def model.Size) model.Size {
	s := a.str(n, "")
	if s == "" {
		return def
	}
	sz, err := model.ParseSize(s)
	if err != nil {
		a.errorAt(n, fmt.Sprintf("Invalid %s", n), err.Error())
		return def
	}
	return sz
}

func (a *attrs) required(names ...string) {
	for _, n := range names {
		if _, ok := a.body.Attributes[n]; !ok {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError,
				Summary: fmt.Sprintf("Missing required argument %q", n),
				Detail:  fmt.Sprintf("%s %q must set %s.", a.kind, a.name, a.prefix+n),
				Subject: a.l.rangeOf(a.kind, a.name, strings.TrimSuffix(a.prefix, ".")).Ptr()})
		}
	}
}

func attrSchema(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

func (l *loader) decodeFjord(b *hcl.Block, ctx *hcl.EvalContext, cfg *model.Config) Diagnostics {
	a := l.open(b, "fjord", ctx, &hcl.BodySchema{Attributes: attrSchema("project")})
	cfg.Project = a.str("project", cfg.Project)
	if !validName(cfg.Project) {
		a.errorAt("project", "Invalid project name", fmt.Sprintf("%q must be 1-32 lower-case letters, digits or dashes, starting with a letter", cfg.Project))
	}
	return a.diags
}

func (l *loader) decodeHypervisor(b *hcl.Block, ctx *hcl.EvalContext) (model.Hypervisor, Diagnostics) {
	a := l.open(b, "hypervisor", ctx, &hcl.BodySchema{Attributes: attrSchema("uri", "virt_type", "host_key", "known_hosts", "ssh_key_file")})
	h := model.Hypervisor{
		Name:       a.name,
		URI:        a.str("uri", model.DefaultURI),
		VirtType:   a.str("virt_type", model.VirtKVM),
		HostKey:    strings.TrimSpace(a.str("host_key", "")),
		SSHKeyFile: a.str("ssh_key_file", ""),
		KnownHosts: a.str("known_hosts", ""),
	}
	if h.KnownHosts != "" {
		h.KnownHosts = resolvePath(l.dir, h.KnownHosts)
	}
	if h.SSHKeyFile != "" {
		h.SSHKeyFile = resolvePath(l.dir, h.SSHKeyFile)
	}
	return h, a.diags
}

func (l *loader) decodePool(b *hcl.Block, ctx *hcl.EvalContext, defHV string) (model.Pool, Diagnostics) {
	a := l.open(b, "pool", ctx, &hcl.BodySchema{Attributes: attrSchema("hypervisor", "path", "require_nvme")})
	a.required("path")
	a.checkLabel()
	return model.Pool{
		Name:        a.name,
		Hypervisor:  a.str("hypervisor", defHV),
		Path:        a.str("path", ""),
		RequireNVMe: a.boolean("require_nvme", false),
	}, a.diags
}

func (l *loader) decodeNetwork(b *hcl.Block, ctx *hcl.EvalContext, defHV string) (model.Network, Diagnostics) {
	a := l.open(b, "network", ctx, &hcl.BodySchema{Attributes: attrSchema("hypervisor", "cidr", "mode", "bridge", "gateway", "dns", "mtu", "allocate")})
	a.required("cidr")
	a.checkLabel()
	n := model.Network{Name: a.name, Hypervisor: a.str("hypervisor", defHV), Bridge: a.str("bridge", "")}
	// A bridge attribute alone says what kind of network this is.
	defMode := model.NetIsolated
	if n.Bridge != "" {
		defMode = model.NetBridge
	}
	n.Mode = a.str("mode", defMode)
	n.CIDR = a.netPrefix("cidr", "192.168.150.0/24")
	n.Allocate = a.netPrefix("allocate", "10.20.0.128/25")
	if s := a.str("gateway", ""); s != "" {
		n.Gateway = a.addr("gateway", s)
	}
	for _, s := range a.strings("dns") {
		if ad := a.addr("dns", s); ad.IsValid() {
			n.DNS = append(n.DNS, ad)
		}
	}
	n.MTU = a.integer("mtu", 0)
	return n, a.diags
}

// netPrefix reads attribute n as an IPv4 or IPv6 prefix without host bits.
func (a *attrs) netPrefix(n, example string) netip.Prefix {
	s := a.str(n, "")
	if s == "" {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		a.errorAt(n, "Invalid "+n, fmt.Sprintf("%q is not a prefix such as %s", s, example))
	case p.Masked() != p:
		a.errorAt(n, "Invalid "+n, fmt.Sprintf("%q has host bits set; did you mean %s?", s, p.Masked()))
	default:
		return p
	}
	return netip.Prefix{}
}

// addr parses s, a value of attribute n, as an IP address.
func (a *attrs) addr(n, s string) netip.Addr {
	ad, err := netip.ParseAddr(s)
	if err != nil {
		a.errorAt(n, "Invalid "+n, fmt.Sprintf("%q is not an IP address", s))
		return netip.Addr{}
	}
	return ad
}

var imageSchema = &hcl.BodySchema{
	Attributes: attrSchema("path", "url", "sha256", "format", "apt_mirror", "apt_unsigned"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "build"}},
}

func (l *loader) decodeImage(b *hcl.Block, ctx *hcl.EvalContext) (model.Image, Diagnostics) {
	a := l.open(b, "image", ctx, imageSchema)
	a.checkLabel()
	im := model.Image{
		Name:        a.name,
		Path:        a.str("path", ""),
		URL:         a.str("url", ""),
		SHA256:      strings.ToLower(a.str("sha256", "")),
		Format:      a.str("format", "qcow2"),
		AptMirror:   strings.TrimRight(a.str("apt_mirror", ""), "/"),
		AptUnsigned: a.boolean("apt_unsigned", false),
	}
	var builds hcl.Blocks
	for _, bb := range a.body.Blocks {
		if bb.Type == "build" {
			builds = append(builds, bb)
		}
	}
	switch {
	case len(builds) > 1:
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate build block",
			Detail: fmt.Sprintf("image %q may have one build block.", a.name), Subject: builds[1].DefRange.Ptr()})
	case len(builds) == 1:
		// A golden image: made by fjord, so it has no file or checksum of its own.
		for _, n := range []string{"path", "url", "sha256"} {
			if _, ok := a.body.Attributes[n]; ok {
				a.errorAt(n, "Attribute of a built image", fmt.Sprintf("a built image is made by fjord image build from its build.from image: remove %s", n))
			}
		}
		ba := l.openNested(builds[0], "image", a.name, "build.", ctx, &hcl.BodySchema{Attributes: attrSchema("from", "packages", "network")})
		ba.required("from")
		im.Build = &model.ImageBuild{From: ba.str("from", ""), Packages: ba.strings("packages"), Network: ba.str("network", "")}
		a.diags = append(a.diags, ba.diags...)
		im.Format = "qcow2"
	default:
		a.required("sha256")
	}
	if im.Path != "" {
		im.Path = resolvePath(l.dir, im.Path)
	}
	return im, a.diags
}

var hostSchema = &hcl.BodySchema{
	Attributes: attrSchema("count", "hypervisor", "hypervisors", "image", "pool", "network", "networks", "address", "vcpu", "memory", "disk", "protect", "autostart", "sysctls"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "ssh"}, {Type: "docker"}},
}

var dockerSchema = &hcl.BodySchema{
	Attributes: attrSchema("icc", "userns_remap", "live_restore", "userland_proxy", "no_new_privileges",
		"log_driver", "seccomp_profile", "swarm", "data_disk", "waive", "publish", "admin_sources"),
	Blocks: []hcl.BlockHeaderSchema{{Type: "network", LabelNames: []string{"name"}}, {Type: "authz"}},
}

var authzSchema = &hcl.BodySchema{Attributes: attrSchema("relax", "sensitive_paths", "allowed_capabilities")}

// decodeAuthz applies an authz block (the fjord-authz plugin's policy) on
// top of base.
func (l *loader) decodeAuthz(b *hcl.Block, kind, name string, ctx *hcl.EvalContext, base model.Authz) (model.Authz, Diagnostics) {
	a := l.openNested(b, kind, name, "docker.authz.", ctx, authzSchema)
	content := a.body
	z := base
	if v, ok := a.value("relax", cty.Map(cty.String)); ok {
		r := map[string]string{}
		for k, why := range z.Relax {
			r[k] = why
		}
		for k, why := range v.AsValueMap() {
			if _, known := authz.Rules[k]; !known {
				a.errorAtItem("docker.authz.relax", k, "Unknown authz rule", fmt.Sprintf("no fjord-authz rule is called %q; the rules are %s", k, strings.Join(authz.RuleNames(), ", ")))
				continue
			}
			if strings.TrimSpace(why.AsString()) == "" {
				a.errorAtItem("docker.authz.relax", k, "Relaxation without a reason", fmt.Sprintf("say why rule %s is relaxed on this host: the reason is shown as a waiver in every verification report", k))
				continue
			}
			r[k] = why.AsString()
		}
		z.Relax = r
	}
	if _, ok := content.Attributes["sensitive_paths"]; ok {
		z.SensitivePaths = a.strings("sensitive_paths")
		for _, sp := range z.SensitivePaths {
			if !strings.HasPrefix(sp, "/") {
				a.errorAt("docker.authz.sensitive_paths", "Invalid sensitive path", fmt.Sprintf("%q is not an absolute path", sp))
			}
		}
	}
	if _, ok := content.Attributes["allowed_capabilities"]; ok {
		z.AllowedCapabilities = a.strings("allowed_capabilities")
		p := authz.Policy{AllowedCapabilities: z.AllowedCapabilities}
		for _, prob := range p.Validate() {
			a.errorAt("docker.authz.allowed_capabilities", "Invalid capability", prob)
		}
	}
	return z, a.diags
}

// decodeDocker applies a docker (or docker_defaults) block on top of base:
// only the attributes written in the block change anything.
func (l *loader) decodeDocker(b *hcl.Block, kind, name string, ctx *hcl.EvalContext, base model.Docker) (model.Docker, Diagnostics) {
	a := l.openNested(b, kind, name, "docker.", ctx, dockerSchema)
	content := a.body
	d := base
	d.ICC = a.boolean("icc", d.ICC)
	d.UsernsRemap = a.boolean("userns_remap", d.UsernsRemap)
	d.LiveRestore = a.boolean("live_restore", d.LiveRestore)
	d.UserlandProxy = a.boolean("userland_proxy", d.UserlandProxy)
	d.NoNewPrivileges = a.boolean("no_new_privileges", d.NoNewPrivileges)
	d.LogDriver = a.str("log_driver", d.LogDriver)
	d.SeccompProfile = a.str("seccomp_profile", d.SeccompProfile)
	d.Swarm = a.boolean("swarm", d.Swarm)
	if s := a.str("data_disk", ""); s == "0" {
		d.DataDisk = 0
	} else {
		d.DataDisk = a.size("data_disk", d.DataDisk)
	}
	if _, ok := a.body.Attributes["publish"]; ok {
		d.Publish = []model.Port{}
		for _, s := range a.strings("publish") {
			p, err := model.ParsePort(s)
			if err != nil {
				a.errorAt("docker.publish", "Invalid port in publish", err.Error())
				continue
			}
			d.Publish = append(d.Publish, p)
		}
	}
	if _, ok := a.body.Attributes["admin_sources"]; ok {
		d.AdminSources = []netip.Prefix{}
		for _, s := range a.strings("admin_sources") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				if ad, aerr := netip.ParseAddr(s); aerr == nil {
					p, err = netip.PrefixFrom(ad, ad.BitLen()), nil
				}
			}
			if err != nil {
				a.errorAt("docker.admin_sources", "Invalid admin source", fmt.Sprintf("%q is not an address or a prefix such as 10.20.0.0/24", s))
				continue
			}
			d.AdminSources = append(d.AdminSources, p.Masked())
		}
	}
	if v, ok := a.value("waive", cty.Map(cty.String)); ok {
		w := map[string]string{}
		for k, r := range d.Waive {
			w[k] = r
		}
		for k, r := range v.AsValueMap() {
			if !l.knownCheck(k) {
				a.errorAtItem("docker.waive", k, "Unknown check in waive", fmt.Sprintf("no verification check is called %q; run fjord verify -list for the IDs", k))
				continue
			}
			if strings.TrimSpace(r.AsString()) == "" {
				a.errorAtItem("docker.waive", k, "Waiver without a reason", fmt.Sprintf("say why check %s may fail on this host: the reason is shown in every verification report", k))
				continue
			}
			w[k] = r.AsString()
		}
		d.Waive = w
	}
	if d.SeccompProfile != "" && !json.Valid([]byte(d.SeccompProfile)) {
		a.errorAt("docker.seccomp_profile", "Invalid seccomp_profile", "the profile is not JSON; use file(\"profile.json\")")
	} else if why := model.PermissiveSeccomp(d.SeccompProfile); why != "" {
		a.errorAt("docker.seccomp_profile", "Permissive seccomp_profile", why)
	}
	nets := append([]model.DockerNetwork(nil), d.Networks...)
	for _, nb := range content.Blocks {
		if nb.Type == "authz" {
			z, zd := l.decodeAuthz(nb, kind, name, ctx, d.Authz)
			a.diags = append(a.diags, zd...)
			d.Authz = z
			continue
		}
		na := l.openNested(nb, kind, name, "docker.network."+nb.Labels[0]+".", ctx, &hcl.BodySchema{Attributes: attrSchema("internal")})
		nets = append(nets, model.DockerNetwork{Name: nb.Labels[0], Internal: na.boolean("internal", false)})
		a.diags = append(a.diags, na.diags...)
	}
	d.Networks = nets
	return d, a.diags
}

var sshSchema = &hcl.BodySchema{Attributes: attrSchema("user", "authorized_keys", "private_key_file", "sshd_options")}

// decodeHost expands a host block into one host, or count hosts named NAME-I
// with count.index available in their expressions.
func (l *loader) decodeHost(b *hcl.Block, ctx *hcl.EvalContext, defHV string) ([]model.Host, Diagnostics) {
	// count is evaluated without count.index.
	a := l.open(b, "host", ctx, hostSchema)
	a.required("image", "pool")
	_, one := a.body.Attributes["network"]
	_, many := a.body.Attributes["networks"]
	switch {
	case one && many:
		a.errorAt("networks", "Conflicting network attributes", "set network (one) or networks (the first is the management network), not both")
	case !one && !many:
		a.required("networks")
	}
	a.checkLabel()
	count, counted := 1, false
	if _, ok := a.body.Attributes["count"]; ok {
		count, counted = a.integer("count", 1), true
		if count < 0 || count > 1000 {
			a.errorAt("count", "Invalid count", fmt.Sprintf("count must be between 0 and 1000, got %d", count))
			count = 0
		}
	}
	diags := a.diags
	var sshBlocks, dockerBlocks hcl.Blocks
	for _, sb := range a.body.Blocks {
		switch sb.Type {
		case "ssh":
			sshBlocks = append(sshBlocks, sb)
		case "docker":
			dockerBlocks = append(dockerBlocks, sb)
		}
	}
	if len(dockerBlocks) > 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate docker block",
			Detail: fmt.Sprintf("host %q may have one docker block.", a.name), Subject: dockerBlocks[1].DefRange.Ptr()})
	}
	if len(sshBlocks) != 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing ssh block",
			Detail: fmt.Sprintf("host %q needs exactly one ssh block (user, authorized_keys, private_key_file).", a.name), Subject: b.DefRange.Ptr()})
		return nil, diags
	}
	if diags.HasErrors() {
		return nil, diags
	}
	var hosts []model.Host
	for i := 0; i < count; i++ {
		hctx := ctx.NewChild()
		hctx.Variables = map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}
		ha := &attrs{l: l, kind: "host", name: a.name, ctx: hctx, body: a.body}
		h := model.Host{
			Name:        a.name,
			Base:        a.name,
			Index:       i,
			Hypervisors: ha.hypervisors(defHV),
			Image:       ha.str("image", ""),
			Pool:        ha.str("pool", ""),
			Networks:    ha.networks(),
			Addresses:   ha.addresses(),
			VCPU:        ha.integer("vcpu", 1),
			Memory:      ha.size("memory", 1*model.GiB),
			Disk:        ha.size("disk", 10*model.GiB),
			Protect:     ha.boolean("protect", false),
			Autostart:   ha.boolean("autostart", false),
			Sysctls:     ha.settings("sysctls", "Invalid sysctl", model.SysctlProblem),
		}
		if counted {
			h.Name = fmt.Sprintf("%s-%d", a.name, i)
		}
		if len(h.Hypervisors) == 1 {
			h.Hypervisor = h.Hypervisors[0]
		}
		sa := l.openNested(sshBlocks[0], "host", a.name, "ssh.", hctx, sshSchema)
		sa.required("user", "authorized_keys", "private_key_file")
		h.SSH = model.SSH{
			User:           sa.str("user", ""),
			AuthorizedKeys: trimAll(sa.strings("authorized_keys")),
			PrivateKeyFile: sa.str("private_key_file", ""),
			SSHDOptions:    sa.settings("sshd_options", "Invalid sshd option", model.SSHDOptionProblem),
		}
		if h.SSH.PrivateKeyFile != "" {
			h.SSH.PrivateKeyFile = resolvePath(l.dir, h.SSH.PrivateKeyFile)
		}
		h.Docker = l.dockerDefaults
		if len(dockerBlocks) > 0 {
			d, dd := l.decodeDocker(dockerBlocks[0], "host", a.name, hctx, l.dockerDefaults)
			h.Docker = d
			if i == 0 {
				diags = append(diags, dd...)
			}
		}
		diags = append(diags, ha.diags...)
		diags = append(diags, sa.diags...)
		hosts = append(hosts, h)
		if ha.diags.HasErrors() || sa.diags.HasErrors() {
			break // the same mistake would repeat for every index
		}
	}
	return hosts, diags
}

// networks reads network (one) or networks (several, management first).
func (a *attrs) networks() []string {
	if _, ok := a.body.Attributes["networks"]; ok {
		return a.strings("networks")
	}
	if n := a.str("network", ""); n != "" {
		return []string{n}
	}
	return nil
}

// addresses reads address: a map from network name to the host's address on it.
func (a *attrs) addresses() map[string]netip.Addr {
	v, ok := a.value("address", cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := map[string]netip.Addr{}
	for k, e := range v.AsValueMap() {
		ad, err := netip.ParseAddr(e.AsString())
		if err != nil || !ad.Is4() {
			a.errorAtItem("address", k, "Invalid address", fmt.Sprintf("%q for network %q is not an IPv4 address", e.AsString(), k))
			continue
		}
		out[k] = ad
	}
	return out
}

// settings reads a map attribute of key = value settings, each judged by
// problem; nil when the attribute is not set.
func (a *attrs) settings(n, summary string, problem func(k, v string) string) map[string]string {
	v, ok := a.value(n, cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if why := problem(k, e.AsString()); why != "" {
			a.errorAtItem(a.prefix+n, k, summary, why)
			continue
		}
		out[k] = e.AsString()
	}
	return out
}

func trimAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if t := strings.TrimSpace(s); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// checkLabel refuses names that cannot become libvirt object names.
func (a *attrs) checkLabel() {
	if !validName(a.name) {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError,
			Summary: fmt.Sprintf("Invalid %s name", a.kind),
			Detail:  fmt.Sprintf("%q must be 1-32 lower-case letters, digits or dashes, starting with a letter.", a.name),
			Subject: a.l.rangeOf(a.kind, a.name, "").Ptr()})
	}
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
