package authz

// The differential test: every request of the adversarial corpus, and
// every fuzz input, goes the way a request to dockerd goes — parsed by
// net/http's own request reader, forwarded by moby's authorization
// middleware (pkg/authorization at v20.10.24, the engine fjord hosts run,
// in its upstream form without the CVE-2024-41110 fix: the one that
// forwards least) to the policy — and, when the policy lets it through,
// the daemon's own decoders (runconfig, the mount parser, the capability
// and seccomp code) say what the daemon would then do. Whatever the daemon
// would do that the policy forbids is a bypass. The judgement of "what
// the daemon would do is dangerous" below is written apart from the
// plugin's code, from moby's behaviour, so one does not vouch for itself.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/oci/caps"
	"github.com/docker/docker/pkg/authorization"
	"github.com/docker/docker/pkg/sysinfo"
	"github.com/docker/docker/profiles/seccomp"
	"github.com/docker/docker/runconfig"
	"github.com/docker/docker/volume/mounts"

	"github.com/fjord-dev/fjord/authz/corpus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type attack = corpus.Attack

func attacks(t testing.TB) []attack {
	t.Helper()
	as, err := corpus.Attacks()
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// policyPlugin is the policy behind moby's authorization.Plugin, with the
// request crossing as JSON, as it crosses the plugin socket.
type policyPlugin struct {
	p    Policy
	last Decision
}

func (pp *policyPlugin) Name() string { return "fjord-authz" }

func (pp *policyPlugin) AuthZRequest(r *authorization.Request) (*authorization.Response, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var req Request
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	pp.last = pp.p.Decide(req)
	return &authorization.Response{Allow: pp.last.Allow, Msg: pp.last.Msg}, nil
}

func (pp *policyPlugin) AuthZResponse(*authorization.Request) (*authorization.Response, error) {
	return &authorization.Response{Allow: true}, nil
}

// forward sends raw through the daemon's request reader and authorization
// middleware. ok is false when net/http refuses the request itself; then
// r is the request the daemon's handler reads, body included.
func forward(p Policy, raw []byte) (d Decision, r *http.Request, ok bool) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return Decision{}, nil, false
	}
	pp := &policyPlugin{p: p}
	ctx := authorization.NewCtx([]authorization.Plugin{pp}, "", "", r.Method, r.RequestURI)
	if err := ctx.AuthZRequest(httptest.NewRecorder(), r); err != nil && pp.last.Allow {
		return Decision{}, nil, false // the middleware failed on its own (reading the body)
	}
	return pp.last, r, true
}

// forwardFixed is forward with the forwarding rules of a daemon that has
// the CVE-2024-41110 fix (Debian's docker.io 20.10.24+dfsg1-1+deb12u1, what
// fjord hosts run): a body is forwarded when its Content-Type is
// application/json, its length is known and positive or it is chunked,
// it is under 1 MiB, and the path (not the whole URI) is not /auth.
func forwardFixed(p Policy, raw []byte) (d Decision, r *http.Request, ok bool) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return Decision{}, nil, false
	}
	var body []byte
	mt, _, mterr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	chunked := len(r.TransferEncoding) > 0 && strings.EqualFold(r.TransferEncoding[0], "chunked")
	if mterr == nil && mt == "application/json" && !authPath.MatchString(r.URL.Path) &&
		(r.ContentLength > 0 || chunked) && r.ContentLength < 1<<20 {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return Decision{}, nil, false
		}
		if len(b) < 1<<20 {
			body = b
		}
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
	}
	headers := map[string]string{}
	for k, vs := range r.Header {
		for _, v := range vs {
			headers[k] = v
		}
	}
	d = p.Decide(Request{RequestMethod: r.Method, RequestURI: r.RequestURI, RequestBody: body, RequestHeaders: headers})
	return d, r, true
}

var authPath = regexp.MustCompile(`^(/v[0-9.]+)?/auth$`)

var versioned = regexp.MustCompile(`^/v([0-9.]+)(/.*)$`)

// daemonWould says which rules what the daemon does with r (after the
// plugin let it through) breaks: nothing when the daemon refuses r itself.
func daemonWould(t testing.TB, p Policy, r *http.Request) []string {
	p0 := r.URL.Path
	if path.Clean(p0) != p0 {
		return nil // the router redirects instead
	}
	version, route := "1.41", p0
	if m := versioned.FindStringSubmatch(p0); m != nil {
		if versions.LessThan(m[1], "1.12") || versions.GreaterThan(m[1], "1.41") {
			return nil // too old or too new for the daemon
		}
		version, route = m[1], m[2]
	}
	if r.Method != "POST" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(route, "/"), "/")
	last := parts[len(parts)-1]
	switch {
	case route == "/containers/create":
		if checkForJSON(r) != nil {
			return nil
		}
		si := &sysinfo.SysInfo{AppArmor: true, Seccomp: true, CgroupNamespaces: true, CgroupUnified: true}
		_, hc, _, err := runconfig.ContainerDecoder{GetSysInfo: func() *sysinfo.SysInfo { return si }}.DecodeConfig(r.Body)
		if err != nil || hc == nil {
			return nil
		}
		return hostConfigDangers(p, hc)
	case len(parts) >= 3 && parts[0] == "containers" && last == "start":
		if !versions.LessThan(version, "1.24") || !(r.ContentLength > 7 || r.ContentLength == -1) || checkForJSON(r) != nil {
			return nil
		}
		hc, err := runconfig.ContainerDecoder{}.DecodeHostConfig(r.Body)
		if err != nil || hc == nil {
			return nil
		}
		return hostConfigDangers(p, hc)
	case len(parts) >= 3 && parts[0] == "containers" && last == "exec":
		var e types.ExecConfig
		if checkForJSON(r) != nil || json.NewDecoder(r.Body).Decode(&e) != nil || len(e.Cmd) == 0 {
			return nil
		}
		if e.Privileged {
			return []string{RulePrivilegedExec}
		}
	case len(parts) >= 3 && parts[0] == "containers" && last == "update":
		var u container.UpdateConfig
		if checkForJSON(r) != nil || json.NewDecoder(r.Body).Decode(&u) != nil {
			return nil
		}
		return resourceDangers(&u.Resources)
	case route == "/volumes/create":
		var v volume.VolumeCreateBody
		if checkForJSON(r) != nil || json.NewDecoder(r.Body).Decode(&v) != nil {
			return nil
		}
		return volumeDangers(p, v.DriverOpts)
	case route == "/networks/create":
		var n types.NetworkCreateRequest
		if checkForJSON(r) != nil || json.NewDecoder(r.Body).Decode(&n) != nil {
			return nil
		}
		if n.Driver == "macvlan" || n.Driver == "ipvlan" {
			return []string{RuleHostInterfaces}
		}
	case route == "/build":
		var ds []string
		_ = r.ParseMultipartForm(1 << 20)
		if r.FormValue("networkmode") == "host" {
			ds = append(ds, RuleBuildHostNetwork)
		}
		if r.FormValue("version") == string(types.BuilderBuildKit) {
			ds = append(ds, RuleBuildKit)
		}
		return ds
	case route == "/session" || route == "/grpc":
		return []string{RuleBuildKit}
	case route == "/swarm/init" || route == "/swarm/join" || route == "/services/create" ||
		len(parts) >= 3 && parts[0] == "services" && last == "update":
		return []string{RuleSwarm}
	case route == "/plugins/pull" || route == "/plugins/create" || len(parts) >= 3 && parts[0] == "plugins" && (last == "upgrade" || last == "set"):
		return []string{RulePlugins}
	}
	return nil
}

// checkForJSON is the daemon's httputils.CheckForJSON.
func checkForJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" && (r.Body == nil || r.ContentLength == 0) {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	return fmt.Errorf("content type %q", ct)
}

// hostConfigDangers lists the rules a container created from hc breaks,
// judged as the daemon will run it.
func hostConfigDangers(p Policy, hc *container.HostConfig) []string {
	var ds []string
	if hc.Privileged {
		ds = append(ds, RulePrivileged)
	}
	for _, ns := range []struct {
		host bool
		rule string
	}{
		{hc.UsernsMode.IsHost(), RuleUsernsHost}, {hc.PidMode.IsHost(), RuleHostPID}, {hc.IpcMode.IsHost(), RuleHostIPC},
		{hc.UTSMode.IsHost(), RuleHostUTS}, {hc.NetworkMode.IsHost(), RuleHostNetwork}, {hc.CgroupnsMode.IsHost(), RuleHostCgroupns},
	} {
		if ns.host {
			ds = append(ds, ns.rule)
		}
	}
	parser := mounts.NewParser("linux")
	for _, b := range hc.Binds {
		if mp, err := parser.ParseMountRaw(b, hc.VolumeDriver); err == nil && mp.Type == mount.TypeBind && mountsSensitive(p, mp.Source) {
			ds = append(ds, RuleSensitiveMounts)
		}
	}
	for _, m := range hc.Mounts {
		mp, err := parser.ParseMountSpec(m)
		switch {
		case err != nil:
		case mp.Type == mount.TypeBind && mountsSensitive(p, mp.Source):
			ds = append(ds, RuleSensitiveMounts)
		case mp.Type == mount.TypeVolume && m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil:
			ds = append(ds, volumeDangers(p, m.VolumeOptions.DriverConfig.Options)...)
		}
	}
	if got, err := caps.TweakCapabilities(caps.DefaultCapabilities(), hc.CapAdd, hc.CapDrop, hc.Privileged); err == nil {
		ok := map[string]bool{}
		for _, c := range caps.DefaultCapabilities() {
			ok[c] = true
		}
		for _, c := range p.AllowedCapabilities {
			ok["CAP_"+strings.TrimPrefix(strings.ToUpper(c), "CAP_")] = true
		}
		for _, c := range got {
			if !ok[c] {
				ds = append(ds, RuleCapAdd)
				break
			}
		}
	}
	// The daemon's parseSecurityOpt, then what the runtime gets.
	apparmor, profile, nnp := "", "", true // no-new-privileges is on in fjord's daemon.json
	for _, opt := range hc.SecurityOpt {
		if opt == "no-new-privileges" {
			nnp = true
			continue
		}
		var con []string
		if strings.Contains(opt, "=") {
			con = strings.SplitN(opt, "=", 2)
		} else if strings.Contains(opt, ":") {
			con = strings.SplitN(opt, ":", 2)
		}
		if len(con) != 2 {
			return ds // the daemon refuses the container
		}
		switch con[0] {
		case "apparmor":
			apparmor = con[1]
		case "seccomp":
			profile = con[1]
		case "no-new-privileges":
			b, err := strconv.ParseBool(con[1])
			if err != nil {
				return ds
			}
			nnp = b
		case "label":
		default:
			return ds
		}
	}
	if !nnp {
		ds = append(ds, RuleNewPrivileges)
	}
	if apparmor != "" && apparmor != "docker-default" {
		ds = append(ds, RuleAppArmorUnconfined)
	}
	if seccompDangerous(profile) {
		ds = append(ds, RuleSeccompUnconfined)
	}
	switch hc.LogConfig.Type {
	case "", "journald", "json-file", "local", "none":
	default:
		ds = append(ds, RuleLogDrivers)
	}
	if lacks(hc.MaskedPaths, defaultMasked) || lacks(hc.ReadonlyPaths, defaultReadonly) {
		ds = append(ds, RuleSystemPaths)
	}
	return append(ds, resourceDangers(&hc.Resources)...)
}

// lacks reports a list that replaces the daemon's defaults without one of them.
func lacks(given, defaults []string) bool {
	if given == nil {
		return false
	}
	for _, d := range defaults {
		found := false
		for _, g := range given {
			found = found || g == d
		}
		if !found {
			return true
		}
	}
	return false
}

// seccompDangerous: the daemon's WithSeccomp and LoadProfile give the
// runtime no filter, one that allows by default, or one that allows a
// call the default profile never allows.
func seccompDangerous(profile string) bool {
	if profile == "" {
		return false
	}
	if profile == "unconfined" {
		return true
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps.DefaultCapabilities()}}}
	got, err := seccomp.LoadProfile(profile, spec)
	if err != nil {
		return false // the container does not start
	}
	if got == nil {
		return true
	}
	switch got.DefaultAction {
	case specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno:
	default:
		return true
	}
	def, err := seccomp.GetDefaultProfile(spec)
	if err != nil || def == nil {
		return true
	}
	allowed := map[string]bool{}
	for _, s := range def.Syscalls {
		if s.Action == specs.ActAllow && len(s.Args) == 0 {
			for _, n := range s.Names {
				allowed[n] = true
			}
		}
	}
	for _, s := range got.Syscalls {
		if s.Action == specs.ActErrno || s.Action == specs.ActKill || s.Action == specs.ActKillProcess || s.Action == specs.ActKillThread || s.Action == specs.ActTrap {
			continue
		}
		for _, n := range s.Names {
			if !allowed[n] {
				return true
			}
		}
	}
	return false
}

func resourceDangers(r *container.Resources) []string {
	if len(r.Devices) > 0 || len(r.DeviceCgroupRules) > 0 || len(r.DeviceRequests) > 0 {
		return []string{RuleDevices}
	}
	return nil
}

// volumeDangers: what the local driver's mount(2) would mount.
func volumeDangers(p Policy, opts map[string]string) []string {
	typ, o, dev := opts["type"], opts["o"], opts["device"]
	if dev == "" && typ == "" {
		return nil
	}
	for _, f := range strings.Split(o, ",") {
		if f == "bind" || f == "rbind" {
			if !strings.HasPrefix(dev, "/") || mountsSensitive(p, dev) {
				return []string{RuleSensitiveMounts}
			}
			return nil
		}
	}
	if typ == "tmpfs" {
		return nil
	}
	return []string{RuleVolumeMounts}
}

// mountsSensitive: the path the kernel reaches from src, by Go's own
// symlink evaluation (of the longest part that exists), is a sensitive
// path, under one, or above one.
func mountsSensitive(p Policy, src string) bool {
	real := src
	rest := ""
	for cur := src; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			real = filepath.Join(r, rest)
			break
		}
		if cur == "/" || cur == "." {
			break
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
	for _, s := range p.SensitivePaths {
		for _, form := range []string{s, evalOr(s)} {
			if real == form || form != "/" && strings.HasPrefix(real, form+"/") || strings.HasPrefix(form, strings.TrimSuffix(real, "/")+"/") {
				return true
			}
		}
	}
	return false
}

func evalOr(s string) string {
	if r, err := filepath.EvalSymlinks(s); err == nil {
		return r
	}
	return s
}

// needSeccompTag skips a test that compares seccomp profiles when moby's
// default profile was not built in; TestDefaultSeccompProfileBuiltIn fails
// then, saying so.
func needSeccompTag(t testing.TB) {
	if defaultRules() == nil {
		t.Skip("needs -tags seccomp, as make unit sets")
	}
}

func TestAttackCorpus(t *testing.T) {
	needSeccompTag(t)
	p := DefaultPolicy("host.web")
	as := attacks(t)
	if len(as) < 100 {
		t.Errorf("the corpus holds %d requests, fewer than 100", len(as))
	}
	seen := map[string]bool{}
	for _, a := range as {
		if seen[a.Name] {
			t.Errorf("%s: name used twice", a.Name)
		}
		seen[a.Name] = true
		if a.Why == "" {
			t.Errorf("%s: no reason given", a.Name)
		}
		d, r, ok := forward(p, a.Raw())
		if !ok {
			t.Errorf("%s: net/http or the middleware refused the request itself", a.Name)
			continue
		}
		switch {
		case a.Want == corpus.Allow && !d.Allow:
			t.Errorf("%s (%s): refused by %s: %s", a.Name, a.Why, d.Rule, d.Msg)
		case a.Want != corpus.Allow && d.Rule != a.Want:
			t.Errorf("%s (%s): rule %q (allow=%v, %s), want %s", a.Name, a.Why, d.Rule, d.Allow, d.Msg, a.Want)
		}
		// The same request to a daemon with the CVE-2024-41110 fix.
		if fd, fr, ok := forwardFixed(p, a.Raw()); ok {
			want := a.Want
			if a.WantForwarded != "" {
				want = a.WantForwarded
			}
			if want == corpus.Allow {
				want = ""
			}
			if fd.Rule != want {
				t.Errorf("%s, forwarded by a fixed daemon: rule %q (%s), want %s", a.Name, fd.Rule, fd.Msg, want)
			}
			if fd.Allow {
				if ds := daemonWould(t, p, fr); len(ds) > 0 {
					t.Errorf("%s, forwarded by a fixed daemon: allowed, and the daemon would break %v", a.Name, ds)
				}
			}
		}
		if d.Allow {
			if ds := daemonWould(t, p, r); len(ds) > 0 {
				t.Errorf("%s: allowed, and the daemon would break %v", a.Name, ds)
			}
			continue
		}
		if a.Want == RuleUnreadable {
			continue
		}
		if !strings.Contains(d.Msg, "fjord policy rule "+d.Rule+"; relax it in host.web docker.authz") {
			t.Errorf("%s: message %q does not say what to change", a.Name, d.Msg)
		}
		// Relaxing that rule lets the request past it.
		rp := p
		rp.Relaxed = []string{d.Rule}
		if d2, _, _ := forward(rp, a.Raw()); d2.Rule == d.Rule {
			t.Errorf("%s: still refused by %s with it relaxed", a.Name, d.Rule)
		}
	}
}

// TestOracleSeesTheAttacks keeps the oracle honest: with every rule
// relaxed, each dangerous request of the corpus the daemon would carry out
// is one the oracle calls dangerous, under the rule the corpus names.
func TestOracleSeesTheAttacks(t *testing.T) {
	needSeccompTag(t)
	p := DefaultPolicy("host.web")
	open := p
	open.Relaxed = RuleNames()
	n := 0
	for _, a := range attacks(t) {
		if a.Want == corpus.Allow || a.Want == RuleUnreadable || a.Want == RuleSwappablePaths {
			continue
		}
		_, r, ok := forward(open, a.Raw())
		if !ok {
			continue
		}
		ds := daemonWould(t, p, r)
		found := false
		for _, d := range ds {
			found = found || d == a.Want
		}
		if !found {
			t.Errorf("%s: the oracle sees %v, want %s among them", a.Name, ds, a.Want)
		}
		n++
	}
	if n < 60 {
		t.Errorf("only %d dangerous requests checked", n)
	}
}

// FuzzDifferential: whatever a client sends, when the policy lets it
// through, the daemon does nothing the policy forbids.
func FuzzDifferential(f *testing.F) {
	needSeccompTag(f)
	for _, a := range attacks(f) {
		if a.Pad == 0 {
			f.Add(a.Method, a.URI, a.ContentType, []byte(a.Body), a.Chunked)
		}
	}
	p := DefaultPolicy("host.web")
	f.Fuzz(func(t *testing.T, method, uri, ct string, body []byte, chunked bool) {
		if strings.ContainsAny(method+uri+ct, "\r\n") {
			return
		}
		a := attack{Method: method, URI: uri, ContentType: ct, Body: string(body), Chunked: chunked}
		d, r, ok := forward(p, a.Raw())
		if !ok {
			return
		}
		if !d.Allow && d.Msg == "" {
			t.Fatalf("refusal without a message: %+v", d)
		}
		if d.Allow {
			if ds := daemonWould(t, p, r); len(ds) > 0 {
				t.Fatalf("%s %s (%s, %q): allowed, and the daemon would break %v", method, uri, ct, body, ds)
			}
		}
	})
}
