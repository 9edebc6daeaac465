package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/versions"
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

var allow = Decision{Allow: true}

// EngineAPI is the newest Engine API version whose requests the policy
// knows how to judge: that of Docker 20.10, the engine fjord hosts run
// (Debian bookworm's docker.io). The daemon itself refuses newer versions;
// should a newer engine be installed under the plugin, requests that name
// a newer version are refused rather than judged by older rules, and
// `fjord verify` fails the host's docker.engine check.
const EngineAPI = "1.41"

// apiVersion matches the optional version prefix of a Docker API path, as
// the daemon's router does (/v{version:[0-9.]+}).
var apiVersion = regexp.MustCompile(`^/v([0-9.]+)(/|$)`)

// route is a request path without its API version, and that version
// ("" when the client named none, which means the daemon's own).
type route struct {
	method, path, version string
	query                 url.Values
}

// parseRoute reads the method and URI the way the daemon's router does:
// the path percent-decoded and cleaned, the version prefix split off.
func parseRoute(method, uri string) (route, error) {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return route{}, fmt.Errorf("request URI %q: %v", uri, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return route{}, fmt.Errorf("request URI %q: query: %v", uri, err)
	}
	p := path.Clean("/" + u.Path)
	r := route{method: strings.ToUpper(method), path: p, query: q}
	if m := apiVersion.FindStringSubmatch(p); m != nil {
		r.version = m[1]
		r.path = "/" + strings.TrimPrefix(p[len("/v"+m[1]):], "/")
	}
	return r, nil
}

// effectiveVersion is the API version the daemon applies: the one the
// client named, or the daemon's own.
func (r route) effectiveVersion() string {
	if r.version == "" {
		return EngineAPI
	}
	return r.version
}

// below reports whether the request's API version is older than v, by the
// daemon's own comparison.
func (r route) below(v string) bool { return versions.LessThan(r.effectiveVersion(), v) }

// Decide judges one request. It never panics on any input; what it cannot
// read it refuses.
func (p Policy) Decide(req Request) Decision {
	r, err := parseRoute(req.RequestMethod, req.RequestURI)
	if err != nil {
		return p.unreadable("", err.Error())
	}
	d := p.decide(r, req)
	d.Endpoint = r.method + " " + r.path
	return d
}

func (p Policy) decide(r route, req Request) Decision {
	if r.version != "" && versions.GreaterThan(r.version, EngineAPI) {
		return p.unreadable("a request on API "+r.version, "fjord-authz judges requests of the Engine API up to "+EngineAPI+", the version of the engine fjord installs")
	}
	if r.method != "POST" {
		return allow // reads and deletes give nothing away
	}
	parts := strings.Split(strings.TrimPrefix(r.path, "/"), "/")
	last := parts[len(parts)-1]
	switch {
	case r.path == "/containers/create":
		return p.containerCreate(r, req)
	case parts[0] == "containers" && len(parts) >= 3 && last == "start":
		return p.containerStart(r, req)
	case parts[0] == "containers" && len(parts) >= 3 && last == "update":
		return p.containerUpdate(req)
	case parts[0] == "containers" && len(parts) >= 3 && last == "exec":
		return p.exec(req)
	case r.path == "/volumes/create":
		return p.volumeCreate(req)
	case r.path == "/networks/create":
		return p.networkCreate(req)
	case r.path == "/build":
		return p.build(r, req)
	case r.path == "/session" || r.path == "/grpc":
		return p.deny(RuleBuildKit, "a BuildKit "+strings.TrimPrefix(r.path, "/")+" (docker buildx, DOCKER_BUILDKIT=1)")
	case r.path == "/swarm/init" || r.path == "/swarm/join":
		return p.deny(RuleSwarm, "docker swarm "+strings.TrimPrefix(r.path, "/swarm/"))
	case r.path == "/services/create" || parts[0] == "services" && len(parts) >= 3 && last == "update":
		return p.service(req)
	case parts[0] == "plugins" && (r.path == "/plugins/pull" || r.path == "/plugins/create" ||
		len(parts) >= 3 && (last == "upgrade" || last == "set")):
		name := "plugin"
		if len(parts) >= 3 {
			name = "plugin " + strings.Join(parts[1:len(parts)-1], "/")
		}
		return p.deny(RulePlugins, "installing or changing a "+name)
	}
	return allow
}

func header(req Request, name string) string {
	for k, v := range req.RequestHeaders {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// contentLength is the request's Content-Length header: -1 when there is
// none (chunked, where the daemon reads a body of unknown length) or it
// cannot be read.
func contentLength(req Request) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(header(req, "Content-Length")), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// errNoBody is why a request whose body the daemon reads arrived without
// one: the daemon forwards a body only when its Content-Type is
// application/json, it is shorter than 1 MiB, its URI does not end in
// /auth and (before the CVE-2024-41110 fix) its length is known.
const errNoBody = "the daemon forwarded no body: sent chunked, larger than 1 MiB, with another Content-Type than application/json, or to a URI ending in /auth"

// readBody decodes a JSON body the daemon would act on, with the daemon's
// own decoder: encoding/json's Decoder reading the first JSON value, field
// names matched without regard to case, the last of duplicate keys
// winning. An absent body is unreadable: the daemon may still read one.
func readBody(req Request, v any) error {
	if len(req.RequestBody) == 0 {
		return fmt.Errorf("%s", errNoBody)
	}
	if err := json.NewDecoder(bytes.NewReader(req.RequestBody)).Decode(v); err != nil {
		return fmt.Errorf("body: %v", err)
	}
	return nil
}

func (p Policy) deny(rule, what string) Decision {
	if p.relaxed(rule) {
		return allow
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

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "…"
	}
	return s
}
