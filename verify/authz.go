package verify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fjord-dev/fjord/authz"
	"github.com/fjord-dev/fjord/model"
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
	// Pad grows the body with whitespace to this many bytes: past 1 MiB
	// the daemon forwards no body to the plugin, but still reads it.
	Pad int `json:"pad,omitempty"`
}

func createWith(hc map[string]any) map[string]any {
	return map[string]any{"Image": authzImage, "Cmd": []string{"true"}, "HostConfig": hc}
}

// authzProbes are the requests the verifier sends, one or more per rule,
// on the live host: each must come back refused by fjord-authz naming it.
var authzProbes = []authzProbe{
	{authz.RulePrivileged, "POST", "/v1.41/containers/create", createWith(map[string]any{"Privileged": true}), 0},
	{authz.RuleUsernsHost, "POST", "/v1.41/containers/create", createWith(map[string]any{"UsernsMode": "host"}), 0},
	{authz.RuleHostPID, "POST", "/v1.41/containers/create", createWith(map[string]any{"PidMode": "host"}), 0},
	{authz.RuleHostIPC, "POST", "/v1.41/containers/create", createWith(map[string]any{"IpcMode": "host"}), 0},
	{authz.RuleHostUTS, "POST", "/v1.41/containers/create", createWith(map[string]any{"UTSMode": "host"}), 0},
	{authz.RuleHostNetwork, "POST", "/v1.41/containers/create", createWith(map[string]any{"NetworkMode": "host"}), 0},
	{authz.RuleHostCgroupns, "POST", "/v1.41/containers/create", createWith(map[string]any{"CgroupnsMode": "host"}), 0},
	{authz.RuleSensitiveMounts, "POST", "/v1.41/containers/create", createWith(map[string]any{"Binds": []string{"/:/host"}}), 0},
	{authz.RuleSensitiveMounts, "POST", "/v1.41/containers/create", createWith(map[string]any{"Binds": []string{"/var/run/docker.sock:/var/run/docker.sock"}}), 0},
	{authz.RuleCapAdd, "POST", "/v1.41/containers/create", createWith(map[string]any{"CapAdd": []string{"SYS_ADMIN"}}), 0},
	{authz.RuleSeccompUnconfined, "POST", "/v1.41/containers/create", createWith(map[string]any{"SecurityOpt": []string{"seccomp=unconfined"}}), 0},
	{authz.RuleAppArmorUnconfined, "POST", "/v1.41/containers/create", createWith(map[string]any{"SecurityOpt": []string{"apparmor=unconfined"}}), 0},
	{authz.RuleSystemPaths, "POST", "/v1.41/containers/create", createWith(map[string]any{"MaskedPaths": []string{}, "ReadonlyPaths": []string{}}), 0},
	{authz.RuleNewPrivileges, "POST", "/v1.41/containers/create", createWith(map[string]any{"SecurityOpt": []string{"no-new-privileges=false"}}), 0},
	{authz.RuleDevices, "POST", "/v1.41/containers/create", createWith(map[string]any{"Devices": []map[string]string{{"PathOnHost": "/dev/null", "PathInContainer": "/dev/fjord-check", "CgroupPermissions": "rwm"}}}), 0},
	{authz.RulePrivilegedExec, "POST", "/v1.41/containers/fjord-authz-check/exec", map[string]any{"Privileged": true, "Cmd": []string{"true"}}, 0},
	{authz.RulePlugins, "POST", "/v1.41/plugins/create?name=fjord-authz-check", nil, 0},
	// /tmp is world-writable and fjord-authz-check is not there: anyone
	// could put a symlink in its place before the daemon mounts it.
	{authz.RuleSwappablePaths, "POST", "/v1.41/containers/create", createWith(map[string]any{"Binds": []string{"/tmp/fjord-authz-check:/x"}}), 0},
	// The extra option makes the daemon refuse the volume should the plugin let it through.
	{authz.RuleVolumeMounts, "POST", "/v1.41/volumes/create", map[string]any{"Name": "fjord-authz-check", "Driver": "local",
		"DriverOpts": map[string]string{"type": "ext4", "device": "/dev/vda1", "fjord-authz-check": "x"}}, 0},
	{authz.RuleBuildHostNetwork, "POST", "/v1.41/build?networkmode=host&dockerfile=fjord-authz-check", nil, 0},
	{authz.RuleBuildKit, "POST", "/v1.41/build?version=2&dockerfile=fjord-authz-check", nil, 0},
	{authz.RuleSwarm, "POST", "/v1.41/services/create", map[string]any{"Name": "fjord-authz-check"}, 0},
	{authz.RuleHostInterfaces, "POST", "/v1.41/networks/create", map[string]any{"Name": "fjord-authz-check", "Driver": "macvlan",
		"Options": map[string]string{"parent": "fjord-check0"}}, 0},
	{authz.RuleLogDrivers, "POST", "/v1.41/containers/create", createWith(map[string]any{"LogConfig": map[string]any{"Type": "syslog",
		"Config": map[string]string{"syslog-address": "unix:///run/fjord-authz-check.sock"}}}), 0},
	// A privileged create the daemon reads but, at over 1 MiB, does not
	// forward: refused whether or not the engine has the CVE-2024-41110 fix.
	{authz.RuleUnreadable, "POST", "/v1.41/containers/create", createWith(map[string]any{"Privileged": true}), 1<<20 + 64},
}

// SocketClient is Python that defines send(raw): it writes one HTTP
// request, byte for byte, to the Docker socket and returns the answer's
// status and message. A refusal can come before a large body was read, so
// sending stops once the answer is there, or when the daemon closed the
// connection after answering (the answer is still read). It holds no single quote, so it
// can run as python3 -c '…'; the verifier and e2e both use it.
const SocketClient = `import base64, json, select, socket, sys
def send(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    resp = b""
    try:
        s.connect("/run/docker.sock")
        try:
            s.sendall(head + sep)
            off = 0
            while off < len(body):
                r, w, _ = select.select([s], [s], [], 30)
                if r or not w:
                    break
                off += s.send(body[off:off + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered and closed before taking the whole body: its answer is read below
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
        h, _, payload = resp.partition(b"\r\n\r\n")
        length = None
        for line in h.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while length is None or len(payload) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            payload += chunk
        resp = h + b"\r\n\r\n" + payload
    except OSError as e:
        if not resp:
            return "000", str(e)
    finally:
        s.close()
    h, _, payload = resp.partition(b"\r\n\r\n")
    status = h.split(b" ")[1].decode() if b" " in h else "000"
    try:
        msg = json.loads(payload).get("message", "")
    except Exception:
        msg = payload[:300].decode(errors="replace")
    return status, " ".join(msg.split())
`

// authzScript sends every probe to the daemon's socket, one line of output
// each: RULE STATUS MESSAGE. It is Python because cloud-init, and so every
// host fjord makes, has it, and the requests must be exact API calls.
func authzScript() string {
	probes, _ := json.Marshal(authzProbes)
	return `python3 -c '
` + SocketClient + `
def call(method, path, body, pad):
    data = b"" if body is None else json.dumps(body).encode()
    data += b" " * max(0, pad - len(data))
    head = ("%s %s HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (method, path, len(data))).encode()
    return send(head + data)
for p in json.loads(r"""` + string(probes) + `"""):
    status, msg = call(p["method"], p["path"], p["body"], p.get("pad", 0))
    print(p["rule"], status, msg)
'`
}

func init() {
	Sources["authz"] = authzScript()
	Sources["authz-service"] = "systemctl is-active fjord-authz.service; systemctl is-enabled fjord-authz.service; true"
	// The plugin resolves host paths as dockerd's mounts reach them: both
	// must be in one mount namespace.
	Sources["authz-mountns"] = `for u in fjord-authz docker; do readlink "/proc/$(systemctl show -p MainPID --value $u.service)/ns/mnt" || echo none; done`
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
	cs = append(cs, Check{ID: "authz.namespace", Reference: "CIS 2.12", Title: "fjord-authz sees the filesystem dockerd mounts from (one mount namespace)", Severity: High, Source: "authz-mountns",
		Hint: "run fjord-authz.service without PrivateTmp, ProtectHome, ProtectSystem or other mount sandboxing",
		Judge: func(o Output, _ Expect) string {
			f := strings.Fields(o.Text)
			if len(f) != 2 || f[0] == "none" || f[0] != f[1] {
				return "fjord-authz and dockerd mount namespaces: " + strings.Join(f, ", ")
			}
			return ""
		}})
	cs = append(cs, Check{ID: model.AuthzCheck(authz.RuleUnreadable), Reference: "CVE-2024-41110", Title: "fjord-authz refuses a request whose body the daemon reads but did not forward", Severity: High, Source: "authz",
		Hint:  "keep fjord-authz.service running a fjord-authz that fails closed; upgrade docker.io to a version with the CVE-2024-41110 fix",
		Judge: func(o Output, _ Expect) string { return judgeAuthz(o, authz.RuleUnreadable) }})
	for _, rule := range authz.RuleNames() {
		rule := rule
		cs = append(cs, Check{ID: model.AuthzCheck(rule), Reference: "CIS 2.12", Title: "fjord-authz refuses " + authz.Rules[rule], Severity: High, Source: "authz",
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
		refusal := "fjord policy rule " + rule + ";"
		if rule == authz.RuleUnreadable {
			refusal = "the fjord-authz plugin cannot read it"
		}
		switch {
		case f[1] == "403" && strings.Contains(msg, refusal):
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

// fixedEngine is the first docker.io of Debian bookworm's 20.10 series
// with the fix for CVE-2024-41110 (a request with an empty body and a
// Content-Length reached the plugin without its body).
const fixedEngine = "20.10.24+dfsg1-1+deb12u1"

func init() {
	Sources["engine"] = `docker version --format '{{.Server.Version}} {{.Server.APIVersion}}'; v=$(dpkg-query -W -f='${Version}' docker.io 2>/dev/null) || v=none; ` +
		`if [ "$v" != none ] && dpkg --compare-versions "$v" ge ` + fixedEngine + `; then echo "$v fixed"; else echo "$v unfixed"; fi`
}

// engineCheck proves the daemon is the engine fjord-authz judges requests
// for, in a version whose authorization middleware has the CVE-2024-41110
// fix; on pass its detail names the versions.
func engineCheck() Check {
	return Check{ID: "docker.engine", Reference: "CVE-2024-41110", Title: "Docker is the engine fjord-authz judges for (API " + authz.EngineAPI + "), with the CVE-2024-41110 fix",
		Severity: High, Source: "engine",
		Hint: "install Debian bookworm's docker.io " + fixedEngine + " or later in the 20.10 series (apt-get install docker.io)",
		Judge: func(o Output, _ Expect) string {
			server, api, pkg, fixed := engineFields(o)
			switch {
			case server == "":
				return "docker version shows no server: " + orEmpty(o.Text)
			case api != authz.EngineAPI:
				return fmt.Sprintf("Docker %s serves API %s; fjord-authz judges requests for API %s", server, api, authz.EngineAPI)
			case !fixed:
				return fmt.Sprintf("Docker %s from package docker.io %s, older than %s, which fixes CVE-2024-41110", server, pkg, fixedEngine)
			}
			return ""
		},
		Observe: func(o Output) string {
			server, api, pkg, _ := engineFields(o)
			return fmt.Sprintf("Docker %s (API %s), package docker.io %s", server, api, pkg)
		}}
}

func engineFields(o Output) (server, api, pkg string, fixed bool) {
	lines := strings.Split(strings.TrimSpace(o.Text), "\n")
	if len(lines) < 2 {
		return
	}
	if f := strings.Fields(lines[0]); len(f) == 2 {
		server, api = f[0], f[1]
	}
	if f := strings.Fields(lines[len(lines)-1]); len(f) == 2 {
		pkg, fixed = f[0], f[1] == "fixed"
	}
	return
}
