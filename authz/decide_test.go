package authz

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorded is one CLI invocation and the request it made (record_test.go
// writes them).
type recorded struct {
	Name    string   `json:"name"`
	Args    []string `json:"args"`
	Client  string   `json:"client"`
	Request Request  `json:"request"`
}

// requests are what a real Docker CLI sent (testdata/requests.json, made
// by record_test.go).
func requests(t testing.TB) map[string]Request {
	t.Helper()
	b, err := os.ReadFile("testdata/requests.json")
	if err != nil {
		t.Fatal(err)
	}
	var rs []recorded
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	m := map[string]Request{}
	for _, r := range rs {
		m[r.Name] = r.Request
	}
	return m
}

func TestRecordedRequests(t *testing.T) {
	want := map[string]string{ // recorded request → refusing rule, "" to allow
		"hardened":                    "",
		"plain":                       "",
		"named-volume":                "",
		"bind-ordinary":               "",
		"exec":                        "",
		"update-memory":               "",
		"volume-create":               "",
		"start":                       "",
		"privileged":                  RulePrivileged,
		"privileged-userns-host-root": RulePrivileged,
		"userns-host":                 RuleUsernsHost,
		"pid-host":                    RuleHostPID,
		"ipc-host":                    RuleHostIPC,
		"uts-host":                    RuleHostUTS,
		"network-host":                RuleHostNetwork,
		"cgroupns-host":               RuleHostCgroupns,
		"bind-root":                   RuleSensitiveMounts,
		"bind-docker-sock":            RuleSensitiveMounts,
		"bind-etc-mount":              RuleSensitiveMounts,
		"bind-var":                    RuleSensitiveMounts,
		"volume-bind-root":            RuleSensitiveMounts,
		"volume-create-bind-etc":      RuleSensitiveMounts,
		"cap-add-sys-admin":           RuleCapAdd,
		"cap-add-all":                 RuleCapAdd,
		"seccomp-unconfined":          RuleSeccompUnconfined,
		"apparmor-unconfined":         RuleAppArmorUnconfined,
		"systempaths-unconfined":      RuleSystemPaths,
		"no-new-privileges-false":     RuleNewPrivileges,
		"device":                      RuleDevices,
		"device-cgroup-rule":          RuleDevices,
		"exec-privileged":             RulePrivilegedExec,
		"plugin-install":              RulePlugins,
	}
	reqs := requests(t)
	if len(reqs) != len(want) {
		t.Errorf("%d recorded requests, %d expectations", len(reqs), len(want))
	}
	p := DefaultPolicy("host.web")
	for name, rule := range want {
		req, ok := reqs[name]
		if !ok {
			t.Errorf("%s: not recorded", name)
			continue
		}
		d := p.Decide(req)
		if d.Allow != (rule == "") || d.Rule != rule {
			t.Errorf("%s: allow=%v rule=%q msg=%q, want rule %q", name, d.Allow, d.Rule, d.Msg, rule)
			continue
		}
		if rule == "" {
			continue
		}
		if !strings.Contains(d.Msg, "is refused on this host by fjord policy rule "+rule+"; relax it in host.web docker.authz") {
			t.Errorf("%s: message %q does not say what to change", name, d.Msg)
		}
		// Relaxing exactly that rule lets exactly this request through,
		// unless another rule also refuses it.
		r := p
		r.Relaxed = []string{rule}
		if d2 := r.Decide(req); d2.Rule == rule {
			t.Errorf("%s: still refused by %s when relaxed", name, rule)
		}
	}
	// The keys to the castle need three relaxations, not one.
	req := reqs["privileged-userns-host-root"]
	r := p
	for _, rule := range []string{RulePrivileged, RuleUsernsHost, RuleSensitiveMounts} {
		if d := r.Decide(req); d.Allow {
			t.Fatalf("--privileged --userns=host -v /:/host allowed with %v relaxed", r.Relaxed)
		}
		r.Relaxed = append(r.Relaxed, rule)
	}
	if d := r.Decide(req); !d.Allow {
		t.Errorf("still refused with all three relaxed: %s", d.Msg)
	}
}

func body(v string) Request {
	return Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/create", RequestBody: []byte(v),
		RequestHeaders: map[string]string{"Content-Type": "application/json", "Content-Length": "10"}}
}

func TestFailsClosed(t *testing.T) {
	p := DefaultPolicy("host.web")
	cases := []struct {
		name string
		req  Request
	}{
		{"no body on create (chunked or over 1 MiB)", Request{RequestMethod: "POST", RequestURI: "/containers/create"}},
		{"create body not JSON", body("{HostConfig")},
		{"create body of the wrong shape", body(`{"HostConfig": {"Privileged": "yes"}}`)},
		{"exec without body", Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/x/exec"}},
		{"bad URI", Request{RequestMethod: "POST", RequestURI: "::"}},
		{"cap-add that is not a name", body(`{"HostConfig": {"CapAdd": ["SYS ADMIN"]}}`)},
		{"old API start, chunked", Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/x/start"}},
	}
	for _, c := range cases {
		d := p.Decide(c.req)
		if d.Allow || d.Rule != RuleUnreadable || !strings.Contains(d.Msg, "cannot read it") {
			t.Errorf("%s: allow=%v rule=%q msg=%q", c.name, d.Allow, d.Rule, d.Msg)
		}
		// Fail-closed cannot be relaxed away.
		r := p
		r.Relaxed = RuleNames()
		if d := r.Decide(c.req); d.Allow {
			t.Errorf("%s: allowed with every rule relaxed", c.name)
		}
	}
}

func TestRoutesAcrossVersionsAndEncodings(t *testing.T) {
	p := DefaultPolicy("host.web")
	priv := `{"HostConfig": {"Privileged": true}}`
	for _, uri := range []string{
		"/containers/create", "/v1.41/containers/create", "/v1.12/containers/create?name=x",
		"/v1/containers/create", "/v1.41/containers/cr%65ate",
		"/v1.41//containers/create", "/v1.41/containers/./create", "/v1.41/containers/create/",
	} {
		req := body(priv)
		req.RequestURI = uri
		if d := p.Decide(req); d.Allow || d.Rule != RulePrivileged {
			t.Errorf("%s: allow=%v rule=%q", uri, d.Allow, d.Rule)
		}
	}
	// A host config at start, which API versions before 1.24 accept.
	req := body(`{"Privileged": true}`) // the body of a start is the host config itself
	req.RequestURI = "/v1.23/containers/web/start"
	if d := p.Decide(req); d.Rule != RulePrivileged {
		t.Errorf("old-API start with a privileged host config: %+v", d)
	}
	req.RequestURI = "/v1.41/containers/web/start" // the daemon refuses such a body itself
	if d := p.Decide(req); !d.Allow {
		t.Errorf("start on 1.41: %+v", d)
	}
	// Exec on a container whose name holds a slash, and its start.
	ex := Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/a/b/exec", RequestBody: []byte(`{"privileged":true}`)}
	if d := p.Decide(ex); d.Rule != RulePrivilegedExec {
		t.Errorf("exec with lower-case field: %+v", d)
	}
	if d := p.Decide(Request{RequestMethod: "POST", RequestURI: "/v1.41/exec/123/start", RequestBody: []byte(`{"Detach":false}`)}); !d.Allow {
		t.Errorf("exec start: %+v", d)
	}
	for _, uri := range []string{"/v1.41/plugins/pull?remote=x", "/plugins/create?name=x", "/v1.41/plugins/x/upgrade", "/v1.41/plugins/x/set"} {
		if d := p.Decide(Request{RequestMethod: "POST", RequestURI: uri}); d.Rule != RulePlugins {
			t.Errorf("%s: %+v", uri, d)
		}
	}
	for _, r := range []Request{
		{RequestMethod: "GET", RequestURI: "/v1.41/containers/json"},
		{RequestMethod: "DELETE", RequestURI: "/v1.41/containers/x"},
		{RequestMethod: "POST", RequestURI: "/v1.41/images/create?fromImage=busybox"},
		{RequestMethod: "POST", RequestURI: "/v1.41/containers/x/stop"},
	} {
		if d := p.Decide(r); !d.Allow {
			t.Errorf("%s %s refused: %s", r.RequestMethod, r.RequestURI, d.Msg)
		}
	}
}

func TestSensitivePaths(t *testing.T) {
	p := DefaultPolicy("host.web")
	dir := t.TempDir()
	link := filepath.Join(dir, "etc-link")
	if err := os.Symlink("/etc", link); err != nil {
		t.Fatal(err)
	}
	for src, bad := range map[string]bool{
		"/": true, "/etc": true, "/etc/shadow": true, "/var": true, "/var/lib": true, "/var/lib/docker/volumes": true,
		"/run/docker.sock": true, "/var/run/docker.sock": true, "/srv/app": false, "/opt/data": false, "/var/lib/app": false,
		"/home/admin/.ssh": true, "/tmp/x": false, "/etc/../etc": true, "//etc": true,
		link: true, link + "/passwd": true, filepath.Join(dir, "plain"): false,
	} {
		d := p.hostPath(src, "a bind mount of", true)
		if got := d.Rule == RuleSensitiveMounts; got != bad {
			t.Errorf("bind of %q: %+v, want sensitive %v", src, d, bad)
		}
	}
	// The list is configurable.
	p.SensitivePaths = []string{"/srv/secrets"}
	if d := p.hostPath("/srv/secrets/key", "a bind mount of", true); d.Rule != RuleSensitiveMounts {
		t.Error("a configured path is not protected")
	}
	if d := p.hostPath("/etc", "a bind mount of", true); !d.Allow {
		t.Error("/etc protected though the configured list leaves it out")
	}
}

func TestCapabilitiesAndSeccompProfiles(t *testing.T) {
	needSeccompTag(t)
	p := DefaultPolicy("host.web")
	for caps, rule := range map[string]string{
		`["NET_BIND_SERVICE"]`:     "",
		`["cap_net_bind_service"]`: "",
		`["CHOWN", "SYS_ADMIN"]`:   RuleCapAdd,
		`["NET_ADMIN"]`:            RuleCapAdd,
		`["all"]`:                  RuleCapAdd,
	} {
		d := p.Decide(body(`{"HostConfig": {"CapAdd": ` + caps + `}}`))
		if d.Rule != rule {
			t.Errorf("CapAdd %s: %+v, want %q", caps, d, rule)
		}
	}
	p.AllowedCapabilities = append(p.AllowedCapabilities, "NET_ADMIN")
	if d := p.Decide(body(`{"HostConfig": {"CapAdd": ["NET_ADMIN"]}}`)); !d.Allow {
		t.Errorf("allowed capability refused: %s", d.Msg)
	}
	// ALL can be allowed too (the HCL accepts it), and then means it.
	p.AllowedCapabilities = []string{"ALL"}
	if d := p.Decide(body(`{"HostConfig": {"CapAdd": "ALL"}}`)); !d.Allow {
		t.Errorf("--cap-add ALL refused though ALL is allowed: %s", d.Msg)
	}
	for opt, rule := range map[string]string{
		`seccomp:unconfined`:                             RuleSeccompUnconfined,
		`seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}`: RuleSeccompUnconfined,
		`seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\"}`: "",
		`apparmor:unconfined`:                            RuleAppArmorUnconfined,
		`apparmor=docker-default`:                        "",
		`no-new-privileges`:                              "",
		`no-new-privileges=true`:                         "",
		`label=disable`:                                  "",
	} {
		d := p.Decide(body(`{"HostConfig": {"SecurityOpt": ["` + opt + `"]}}`))
		if d.Rule != rule {
			t.Errorf("SecurityOpt %s: %+v, want %q", opt, d, rule)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	p := DefaultPolicy("host.web")
	if probs := p.Validate(); len(probs) != 0 {
		t.Errorf("default policy: %v", probs)
	}
	p.Relaxed = []string{"privileged", "priviledged"}
	p.SensitivePaths = []string{"etc"}
	p.AllowedCapabilities = []string{"SYS ADMIN"}
	if probs := p.Validate(); len(probs) != 3 || !strings.Contains(probs[0], `unknown authz rule "priviledged"`) {
		t.Errorf("problems: %v", probs)
	}
}

// FuzzDecide: no input panics, and a container create whose body is not a
// JSON object is always refused.
func FuzzDecide(f *testing.F) {
	for _, r := range requests(f) {
		f.Add(r.RequestMethod, r.RequestURI, r.RequestBody)
	}
	f.Add("POST", "/v1.41/containers/create", []byte(`{"HostConfig":{"Binds":["/:/h"]}}`))
	f.Add("POST", "/v1.23/containers/x/start", []byte(`{"Privileged":true}`))
	p := DefaultPolicy("host.web")
	f.Fuzz(func(t *testing.T, method, uri string, body []byte) {
		d := p.Decide(Request{RequestMethod: method, RequestURI: uri, RequestBody: body})
		if !d.Allow && d.Msg == "" {
			t.Fatalf("refusal without a message: %+v", d)
		}
		if strings.EqualFold(method, "POST") && uri == "/containers/create" {
			var obj map[string]any
			if json.Unmarshal(body, &obj) != nil && d.Allow {
				t.Fatalf("unreadable create body %q allowed", body)
			}
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	reqs := requests(b)
	p := DefaultPolicy("host.web")
	for _, name := range []string{"hardened", "privileged-userns-host-root", "bind-docker-sock"} {
		req := reqs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(req)
			}
		})
	}
}
