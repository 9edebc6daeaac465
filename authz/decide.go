package authz

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Request is the body of /AuthZPlugin.AuthZReq (Docker's authorization.Request).
type Request struct {
	User            string            `json:"User,omitempty"`
	UserAuthNMethod string            `json:"UserAuthNMethod,omitempty"`
	RequestMethod   string            `json:"RequestMethod,omitempty"`
	RequestURI      string            `json:"RequestURI,omitempty"`
	RequestBody     []byte            `json:"RequestBody,omitempty"`
	RequestHeaders  map[string]string `json:"RequestHeaders,omitempty"`
}

// Response is the answer to AuthZReq and AuthZRes.
type Response struct {
	Allow bool   `json:"Allow"`
	Msg   string `json:"Msg,omitempty"`
	Err   string `json:"Err,omitempty"`
}

// Decision is the policy's verdict on one request.
type Decision struct {
	Allow bool
	Rule  string // the rule that refused it
	What  string // what was asked, in docker CLI terms ("--privileged")
	Msg   string // the message the user sees
	// Endpoint is the API route the request was matched to, without its
	// version ("POST /containers/create"), for the log.
	Endpoint string
}

// apiVersion matches the optional version prefix of a Docker API path.
var apiVersion = regexp.MustCompile(`^/v([0-9][0-9.]*)(/|$)`)

// route is a request path without its API version, and that version
// ("" when the client named none, which means the daemon's own).
type route struct {
	method, path, version string
}

// parseRoute reads the method and URI the way the daemon's router does:
// the path percent-decoded and cleaned, the version prefix split off.
func parseRoute(method, uri string) (route, error) {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return route{}, fmt.Errorf("request URI %q: %v", uri, err)
	}
	p := path.Clean("/" + u.Path)
	r := route{method: strings.ToUpper(method), path: p}
	if m := apiVersion.FindStringSubmatch(p); m != nil {
		r.version = strings.TrimSuffix(m[1], ".")
		r.path = "/" + strings.TrimPrefix(p[len("/v"+m[1]):], "/")
	}
	return r, nil
}

// versionBelow reports whether an explicit API version is older than want.
func (r route) versionBelow(major, minor int) bool {
	if r.version == "" {
		return false
	}
	maj, min, _ := strings.Cut(r.version, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(strings.Split(min+".0", ".")[0])
	if err1 != nil || err2 != nil {
		return true // unreadable: treat as old, the stricter reading
	}
	return a < major || a == major && b < minor
}

// Decide judges one request. It never panics on any input; what it cannot
// read it refuses.
func (p Policy) Decide(req Request) Decision {
	r, err := parseRoute(req.RequestMethod, req.RequestURI)
	if err != nil {
		return p.unreadable("", err.Error())
	}
	ep := r.method + " " + r.path
	d := p.decide(r, req)
	d.Endpoint = ep
	return d
}

func (p Policy) decide(r route, req Request) Decision {
	if r.method != "POST" {
		return Decision{Allow: true} // reads and deletes give nothing away
	}
	parts := strings.Split(strings.TrimPrefix(r.path, "/"), "/")
	last := parts[len(parts)-1]
	switch {
	case r.path == "/containers/create":
		var body createBody
		if err := p.readBody(req, &body); err != nil {
			return p.unreadable("container create", err.Error())
		}
		return p.hostConfig(body.HostConfig)
	case parts[0] == "containers" && len(parts) >= 3 && last == "update":
		var body hostConfig
		if err := p.readBody(req, &body); err != nil {
			return p.unreadable("container update", err.Error())
		}
		return p.devices(&body)
	case parts[0] == "containers" && len(parts) >= 3 && last == "exec":
		var body execBody
		if err := p.readBody(req, &body); err != nil {
			return p.unreadable("exec", err.Error())
		}
		if body.Privileged {
			return p.deny(RulePrivilegedExec, "docker exec --privileged")
		}
		return Decision{Allow: true}
	case parts[0] == "containers" && len(parts) >= 3 && last == "start":
		// API versions before 1.24 take a host config when a container
		// starts; the daemon reads one from any body it gets.
		if !r.versionBelow(1, 24) {
			return Decision{Allow: true}
		}
		if len(req.RequestBody) == 0 {
			if header(req, "Content-Length") == "" {
				return p.unreadable("container start on API "+r.version, "a body of unknown length (chunked) is not forwarded to the plugin")
			}
			return Decision{Allow: true}
		}
		var body hostConfig
		if err := json.Unmarshal(req.RequestBody, &body); err != nil {
			return p.unreadable("container start on API "+r.version, "body: "+err.Error())
		}
		return p.hostConfig(&body)
	case r.path == "/volumes/create":
		var body volumeBody
		if err := p.readBody(req, &body); err != nil {
			return p.unreadable("volume create", err.Error())
		}
		if dev, ok := bindVolume(body.DriverOpts); ok {
			if bad, why := p.sensitive(dev); bad {
				return p.deny(RuleSensitiveMounts, "a volume bound to "+why)
			}
		}
		return Decision{Allow: true}
	case parts[0] == "plugins" && (r.path == "/plugins/pull" || r.path == "/plugins/create" ||
		len(parts) >= 3 && (last == "upgrade" || last == "set")):
		name := "plugin"
		if len(parts) >= 3 {
			name = "plugin " + strings.Join(parts[1:len(parts)-1], "/")
		}
		return p.deny(RulePlugins, "installing or changing a "+name)
	}
	return Decision{Allow: true}
}

func header(req Request, name string) string {
	for k, v := range req.RequestHeaders {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// readBody decodes a JSON body the daemon would act on. An absent body is
// unreadable: the daemon forwards bodies only up to 1 MiB and only with a
// known length, and a create sent otherwise must not slip through.
func (p Policy) readBody(req Request, v any) error {
	if len(req.RequestBody) == 0 {
		return fmt.Errorf("the daemon forwarded no body (sent chunked, or larger than 1 MiB)")
	}
	if err := json.Unmarshal(req.RequestBody, v); err != nil {
		return fmt.Errorf("body: %v", err)
	}
	return nil
}

func (p Policy) deny(rule, what string) Decision {
	if p.relaxed(rule) {
		return Decision{Allow: true}
	}
	host := p.Host
	if host == "" {
		host = "host.NAME"
	}
	return Decision{Rule: rule, What: what,
		Msg: fmt.Sprintf("%s is refused on this host by fjord policy rule %s; relax it in %s docker.authz", what, rule, host)}
}

func (p Policy) unreadable(what, why string) Decision {
	if what == "" {
		what = "request"
	}
	return Decision{Rule: RuleUnreadable, What: what,
		Msg: fmt.Sprintf("%s refused by fjord policy: the fjord-authz plugin cannot read it (%s), and what it cannot read it refuses", what, why)}
}

// The parts of Docker's API types the policy reads. encoding/json matches
// field names without regard to case, as the daemon's decoder does.
type createBody struct {
	HostConfig *hostConfig
}

type hostConfig struct {
	Privileged   bool
	UsernsMode   string
	PidMode      string
	IpcMode      string
	UTSMode      string
	NetworkMode  string
	CgroupnsMode string
	Binds        []string
	Mounts       []mount
	CapAdd       []string
	SecurityOpt  []string
	// The CLI turns --security-opt systempaths=unconfined into empty
	// lists here; any list replaces the daemon's masked paths.
	MaskedPaths       *[]string
	ReadonlyPaths     *[]string
	Devices           []device
	DeviceCgroupRules []string
	DeviceRequests    []json.RawMessage
}

type mount struct {
	Type          string
	Source        string
	VolumeOptions *struct {
		DriverConfig *struct {
			Name    string
			Options map[string]string
		}
	}
}

type device struct {
	PathOnHost      string
	PathInContainer string
}

type execBody struct {
	Privileged bool
}

type volumeBody struct {
	Driver     string
	DriverOpts map[string]string
}

// hostConfig applies every container rule to a host config, in a fixed
// order; the first refusal wins.
func (p Policy) hostConfig(hc *hostConfig) Decision {
	if hc == nil {
		return Decision{Allow: true}
	}
	checks := []func(*hostConfig) Decision{
		func(hc *hostConfig) Decision {
			if hc.Privileged {
				return p.deny(RulePrivileged, "--privileged")
			}
			return Decision{Allow: true}
		},
		func(hc *hostConfig) Decision {
			for _, ns := range []struct{ mode, rule, flag string }{
				{hc.UsernsMode, RuleUsernsHost, "--userns=host"},
				{hc.PidMode, RuleHostPID, "--pid=host"},
				{hc.IpcMode, RuleHostIPC, "--ipc=host"},
				{hc.UTSMode, RuleHostUTS, "--uts=host"},
				{hc.NetworkMode, RuleHostNetwork, "--network=host"},
				{hc.CgroupnsMode, RuleHostCgroupns, "--cgroupns=host"},
			} {
				if strings.EqualFold(strings.TrimSpace(ns.mode), "host") {
					if d := p.deny(ns.rule, ns.flag); !d.Allow {
						return d
					}
				}
			}
			return Decision{Allow: true}
		},
		p.mounts,
		p.capabilities,
		p.securityOpts,
		p.devices,
	}
	for _, c := range checks {
		if d := c(hc); !d.Allow {
			return d
		}
	}
	return Decision{Allow: true}
}

func (p Policy) mounts(hc *hostConfig) Decision {
	for _, b := range hc.Binds {
		src, _, _ := strings.Cut(b, ":")
		if !strings.HasPrefix(src, "/") {
			continue // a named volume
		}
		if bad, why := p.sensitive(src); bad {
			return p.deny(RuleSensitiveMounts, "a bind mount of "+why)
		}
	}
	for _, m := range hc.Mounts {
		switch strings.ToLower(m.Type) {
		case "bind":
			if bad, why := p.sensitive(m.Source); bad {
				return p.deny(RuleSensitiveMounts, "a bind mount of "+why)
			}
		case "volume":
			if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
				if dev, ok := bindVolume(m.VolumeOptions.DriverConfig.Options); ok {
					if bad, why := p.sensitive(dev); bad {
						return p.deny(RuleSensitiveMounts, "a volume bound to "+why)
					}
				}
			}
		}
	}
	return Decision{Allow: true}
}

// bindVolume reports the host path a local volume's options bind, if any
// (docker volume create -o type=none -o o=bind -o device=/).
func bindVolume(opts map[string]string) (string, bool) {
	var o, dev string
	for k, v := range opts {
		switch strings.ToLower(k) {
		case "o":
			o = v
		case "device":
			dev = v
		}
	}
	for _, f := range strings.Split(o, ",") {
		if f = strings.TrimSpace(f); f == "bind" || f == "rbind" {
			return dev, true
		}
	}
	return "", false
}

// sensitive reports whether binding host path src exposes a sensitive
// path, and names it. The path is judged as written and with its symlinks
// resolved, since the kernel follows them when it mounts.
func (p Policy) sensitive(src string) (bool, string) {
	if src == "" {
		return false, ""
	}
	clean := path.Clean("/" + src)
	cands := []string{clean}
	if r := resolve(clean); r != clean {
		cands = append(cands, r)
	}
	for _, c := range cands {
		for _, s := range p.SensitivePaths {
			s = path.Clean(s)
			if c == s || s != "/" && strings.HasPrefix(c, s+"/") || strings.HasPrefix(s, strings.TrimSuffix(c, "/")+"/") {
				if c != clean {
					return true, fmt.Sprintf("%s (%s on this host, under or above %s)", src, c, s)
				}
				if c == s {
					return true, src
				}
				return true, fmt.Sprintf("%s (under or above %s)", src, s)
			}
		}
	}
	return false, ""
}

// resolve follows the symlinks of the longest existing prefix of p.
func resolve(p string) string {
	rest := ""
	cur := p
	for {
		if _, err := os.Lstat(cur); err == nil {
			r, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return p
			}
			return path.Join(r, rest)
		}
		if cur == "/" {
			return p
		}
		rest = path.Join(path.Base(cur), rest)
		cur = path.Dir(cur)
	}
}

func (p Policy) capabilities(hc *hostConfig) Decision {
	allowed := map[string]bool{}
	for _, c := range p.AllowedCapabilities {
		allowed[normCap(c)] = true
	}
	for _, c := range hc.CapAdd {
		n := normCap(c)
		if n == "" {
			return p.unreadable("--cap-add "+c, "not a capability name")
		}
		if !allowed[n] {
			return p.deny(RuleCapAdd, "--cap-add "+n)
		}
	}
	return Decision{Allow: true}
}

func (p Policy) securityOpts(hc *hostConfig) Decision {
	if hc.MaskedPaths != nil || hc.ReadonlyPaths != nil {
		return p.deny(RuleSystemPaths, "--security-opt systempaths=unconfined (masked or read-only paths replaced)")
	}
	for _, o := range hc.SecurityOpt {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			k, v, _ = strings.Cut(o, ":") // the old key:value form
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "seccomp":
			if strings.EqualFold(v, "unconfined") || allowsByDefault(v) {
				return p.deny(RuleSeccompUnconfined, "--security-opt seccomp="+shorten(v))
			}
		case "apparmor":
			if strings.EqualFold(v, "unconfined") {
				return p.deny(RuleAppArmorUnconfined, "--security-opt apparmor=unconfined")
			}
		case "systempaths":
			if strings.EqualFold(v, "unconfined") {
				return p.deny(RuleSystemPaths, "--security-opt systempaths=unconfined")
			}
		case "no-new-privileges":
			if b, err := strconv.ParseBool(v); err == nil && !b {
				return p.deny(RuleNewPrivileges, "--security-opt no-new-privileges=false")
			}
		}
	}
	return Decision{Allow: true}
}

// allowsByDefault reports a seccomp profile (JSON, as the CLI sends it)
// whose default action lets every unlisted system call through.
func allowsByDefault(profile string) bool {
	if !strings.HasPrefix(strings.TrimSpace(profile), "{") {
		return false
	}
	var prof struct {
		DefaultAction string `json:"defaultAction"`
	}
	if err := json.Unmarshal([]byte(profile), &prof); err != nil {
		return true // a profile nobody can read is not a filter anyone can trust
	}
	return strings.EqualFold(prof.DefaultAction, "SCMP_ACT_ALLOW") || strings.EqualFold(prof.DefaultAction, "SCMP_ACT_LOG")
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "…"
	}
	return s
}

func (p Policy) devices(hc *hostConfig) Decision {
	if len(hc.Devices) > 0 {
		return p.deny(RuleDevices, "--device "+hc.Devices[0].PathOnHost)
	}
	if len(hc.DeviceCgroupRules) > 0 {
		return p.deny(RuleDevices, "--device-cgroup-rule "+strconv.Quote(hc.DeviceCgroupRules[0]))
	}
	if len(hc.DeviceRequests) > 0 {
		return p.deny(RuleDevices, "--gpus (device requests)")
	}
	return Decision{Allow: true}
}
