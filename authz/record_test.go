//go:build record

package authz

// Records the requests a real Docker CLI sends, as the daemon would forward
// them to the plugin, into testdata/requests.json:
//
//	go test -tags record -run TestRecord ./authz
//
// A fake daemon on a unix socket answers the CLI as Docker 20.10 (API 1.41)
// would, far enough for the CLI to send the request under test.

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRecord(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last *Request
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Ostype", "linux")
		w.Header().Set("Content-Type", "application/json")
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
			return
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/json"):
			// docker exec inspects the container first.
			w.Write([]byte(`{"Id":"c0ffee","State":{"Running":true},"Config":{}}`))
			return
		case strings.HasSuffix(r.URL.Path, "/plugins/privileges"):
			w.Write([]byte(`[]`))
			return
		case r.Method != "POST":
			w.WriteHeader(404)
			w.Write([]byte(`{"message":"recorder: not recorded"}`))
			return
		}
		h := map[string]string{}
		for k := range r.Header {
			h[k] = r.Header.Get(k)
		}
		mu.Lock()
		last = &Request{User: "", RequestMethod: r.Method, RequestURI: r.URL.RequestURI(), RequestBody: body, RequestHeaders: h}
		mu.Unlock()
		w.WriteHeader(500)
		w.Write([]byte(`{"message":"recorded"}`))
	})}
	go srv.Serve(l)
	defer srv.Close()

	ver, err := exec.Command("docker", "--version").Output()
	if err != nil {
		t.Skip("no docker CLI:", err)
	}
	img := "registry.invalid/app:1"
	cases := []struct {
		name string
		args []string
	}{
		{"hardened", []string{"create", "--read-only", "--cap-drop=ALL", "--tmpfs", "/tmp", "--pids-limit", "64", "--user", "65534", "--network", "none", img}},
		{"plain", []string{"create", img}},
		{"named-volume", []string{"create", "-v", "data:/data", "--cap-drop=ALL", "--cap-add", "NET_BIND_SERVICE", img}},
		{"bind-ordinary", []string{"create", "-v", "/srv/app:/app:ro", img}},
		{"privileged", []string{"create", "--privileged", img}},
		{"privileged-userns-host-root", []string{"create", "--privileged", "--userns=host", "-v", "/:/host", img}},
		{"userns-host", []string{"create", "--userns=host", img}},
		{"pid-host", []string{"create", "--pid=host", img}},
		{"ipc-host", []string{"create", "--ipc=host", img}},
		{"uts-host", []string{"create", "--uts=host", img}},
		{"network-host", []string{"create", "--network=host", img}},
		{"cgroupns-host", []string{"create", "--cgroupns=host", img}},
		{"bind-root", []string{"create", "-v", "/:/host", img}},
		{"bind-docker-sock", []string{"create", "-v", "/var/run/docker.sock:/var/run/docker.sock", img}},
		{"bind-etc-mount", []string{"create", "--mount", "type=bind,source=/etc,target=/x", img}},
		{"bind-var", []string{"create", "-v", "/var:/v", img}},
		{"volume-bind-root", []string{"create", "--mount", "type=volume,target=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/", img}},
		{"cap-add-sys-admin", []string{"create", "--cap-add", "SYS_ADMIN", img}},
		{"cap-add-all", []string{"create", "--cap-add", "ALL", img}},
		{"seccomp-unconfined", []string{"create", "--security-opt", "seccomp=unconfined", img}},
		{"apparmor-unconfined", []string{"create", "--security-opt", "apparmor=unconfined", img}},
		{"systempaths-unconfined", []string{"create", "--security-opt", "systempaths=unconfined", img}},
		{"no-new-privileges-false", []string{"create", "--security-opt", "no-new-privileges=false", img}},
		{"device", []string{"create", "--device", "/dev/kvm", img}},
		{"device-cgroup-rule", []string{"create", "--device-cgroup-rule", "c 10:232 rwm", img}},
		{"exec", []string{"exec", "c0ffee", "true"}},
		{"exec-privileged", []string{"exec", "--privileged", "c0ffee", "true"}},
		{"update-memory", []string{"update", "--memory", "512m", "c0ffee"}},
		{"plugin-install", []string{"plugin", "install", "--grant-all-permissions", "vieux/sshfs"}},
		{"volume-create-bind-etc", []string{"volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/etc", "etc"}},
		{"volume-create", []string{"volume", "create", "data"}},
		{"start", []string{"start", "c0ffee"}},
	}
	var out []recorded
	for _, c := range cases {
		mu.Lock()
		last = nil
		mu.Unlock()
		cmd := exec.Command("docker", append([]string{"-H", "unix://" + sock}, c.args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
		o, _ := cmd.CombinedOutput()
		mu.Lock()
		r := last
		mu.Unlock()
		if r == nil {
			t.Fatalf("%s: the CLI sent no POST: %s", c.name, o)
		}
		out = append(out, recorded{Name: c.name, Args: c.args, Client: strings.TrimSpace(string(ver)), Request: *r})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile("testdata/requests.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
