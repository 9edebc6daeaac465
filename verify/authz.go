package verify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fjord-dev/fjord/authz"
	"github.com/fjord-dev/fjord/spec"
)

// authzImage is the image the probes name. It does not exist, so a request
// the plugin lets through fails at the daemon and creates nothing.
const authzImage = "fjord.invalid/authz-check:none"

// authzProbe is one request that rule must refuse.
type authzProbe struct {
	Rule   string `json:"rule"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   any    `json:"body"`
}

func createWith(hc map[string]any) map[string]any {
	return map[string]any{"Image": authzImage, "Cmd": []string{"true"}, "HostConfig": hc}
}

// authzProbes are the requests the verifier sends, one or more per rule,
// on the live host: each must come back refused by fjord-authz naming it.
var authzProbes = []authzProbe{
	{authz.RulePrivileged, "POST", "/v1.41/containers/create", createWith(map[string]any{"Privileged": true})},
	{authz.RuleUsernsHost, "POST", "/v1.41/containers/create", createWith(map[string]any{"UsernsMode": "host"})},
	{authz.RuleHostPID, "POST", "/v1.41/containers/create", createWith(map[string]any{"PidMode": "host"})},
	{authz.RuleHostIPC, "POST", "/v1.41/containers/create", createWith(map[string]any{"IpcMode": "host"})},
	{authz.RuleHostUTS, "POST", "/v1.41/containers/create", createWith(map[string]any{"UTSMode": "host"})},
	{authz.RuleHostNetwork, "POST", "/v1.41/containers/create", createWith(map[string]any{"NetworkMode": "host"})},
	{authz.RuleHostCgroupns, "POST", "/v1.41/containers/create", createWith(map[string]any{"CgroupnsMode": "host"})},
	{authz.RuleSensitiveMounts, "POST", "/v1.41/containers/create", createWith(map[string]any{"Binds": []string{"/:/host"}})},
	{authz.RuleSensitiveMounts, "POST", "/v1.41/containers/create", createWith(map[string]any{"Binds": []string{"/var/run/docker.sock:/var/run/docker.sock"}})},
	{authz.RuleCapAdd, "POST", "/v1.41/containers/create", createWith(map[string]any{"CapAdd": []string{"SYS_ADMIN"}})},
	{authz.RuleSeccompUnconfined, "POST", "/v1.41/containers/create", createWith(map[string]any{"SecurityOpt": []string{"seccomp=unconfined"}})},
	{authz.RuleAppArmorUnconfined, "POST", "/v1.41/containers/create", createWith(map[string]any{"SecurityOpt": []string{"apparmor=unconfined"}})},
	{authz.RuleSystemPaths, "POST", "/v1.41/containers/create", createWith(map[string]any{"MaskedPaths": []string{}, "ReadonlyPaths": []string{}})},
	{authz.RuleNewPrivileges, "POST", "/v1.41/containers/create", createWith(map[string]any{"SecurityOpt": []string{"no-new-privileges=false"}})},
	{authz.RuleDevices, "POST", "/v1.41/containers/create", createWith(map[string]any{"Devices": []map[string]string{{"PathOnHost": "/dev/null", "PathInContainer": "/dev/fjord-check", "CgroupPermissions": "rwm"}}})},
	{authz.RulePrivilegedExec, "POST", "/v1.41/containers/fjord-authz-check/exec", map[string]any{"Privileged": true, "Cmd": []string{"true"}}},
	{authz.RulePlugins, "POST", "/v1.41/plugins/create?name=fjord-authz-check", nil},
}

// authzScript sends every probe to the daemon's socket, one line of output
// each: RULE STATUS MESSAGE. It is Python because cloud-init, and so every
// host fjord makes, has it, and the requests must be exact API calls. (The
// program holds no single quote: it runs as python3 -c '…'.)
func authzScript() string {
	probes, _ := json.Marshal(authzProbes)
	return `python3 -c '
import json, socket
def call(method, path, body):
    data = b"" if body is None else json.dumps(body).encode()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    try:
        s.connect("/run/docker.sock")
        s.sendall(("%s %s HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except OSError as e:
        return "000", str(e)
    finally:
        s.close()
    head, _, payload = resp.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if b" " in head else "000"
    try:
        msg = json.loads(payload).get("message", "")
    except Exception:
        msg = payload[:300].decode(errors="replace")
    return status, " ".join(msg.split())
for p in json.loads(r"""` + string(probes) + `"""):
    status, msg = call(p["method"], p["path"], p["body"])
    print(p["rule"], status, msg)
'`
}

func init() {
	Sources["authz"] = authzScript()
	Sources["authz-service"] = "systemctl is-active fjord-authz.service; systemctl is-enabled fjord-authz.service; true"
}

// authzChecks prove on the live host that fjord-authz runs and refuses
// each rule's request, naming the rule.
func authzChecks() []Check {
	cs := []Check{{ID: "authz.service", Reference: "CIS 2.12", Title: "The fjord-authz plugin runs and starts with Docker", Severity: High, Source: "authz-service",
		Hint: "systemctl enable --now fjord-authz.service",
		Judge: func(o Output, _ Expect) string {
			f := strings.Fields(o.Text)
			if len(f) < 2 || f[0] != "active" || f[1] != "enabled" {
				return "fjord-authz.service is " + strings.Join(f, ", ")
			}
			return ""
		}}}
	for _, rule := range authz.RuleNames() {
		rule := rule
		cs = append(cs, Check{ID: spec.AuthzCheck(rule), Reference: "CIS 2.12", Title: "fjord-authz refuses " + authz.Rules[rule], Severity: High, Source: "authz",
			Hint:  fmt.Sprintf(`keep "authorization-plugins": ["fjord-authz"] in daemon.json and fjord-authz.service running; to allow this on purpose, relax %s in the host's docker.authz block`, rule),
			Judge: func(o Output, _ Expect) string { return judgeAuthz(o, rule) }})
	}
	return cs
}

func judgeAuthz(o Output, rule string) string {
	seen := false
	for _, line := range strings.Split(o.Text, "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		if len(f) < 2 || f[0] != rule {
			continue
		}
		seen = true
		msg := ""
		if len(f) == 3 {
			msg = f[2]
		}
		switch {
		case f[1] == "403" && strings.Contains(msg, "fjord policy rule "+rule+";"):
			continue
		case f[1] == "403":
			return "refused, but not by fjord-authz rule " + rule + ": " + orEmpty(msg)
		case strings.Contains(msg, "fjord-authz"):
			return fmt.Sprintf("Docker could not ask fjord-authz (HTTP %s): %s", f[1], msg)
		default:
			return fmt.Sprintf("Docker let the request through (HTTP %s: %s): nothing enforces rule %s", f[1], orEmpty(msg), rule)
		}
	}
	if !seen {
		return "no answer for rule " + rule + ": " + orEmpty(o.Text)
	}
	return ""
}
