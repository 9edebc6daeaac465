package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// serve runs the handler on a unix socket, as the plugin does, and
// returns a client that talks to it.
func serve(t testing.TB, p Policy, log io.Writer) *http.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fjord-authz.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(p, slog.New(slog.NewTextHandler(log, nil)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func call(t testing.TB, c *http.Client, endpoint string, body []byte) Response {
	t.Helper()
	resp, err := c.Post("http://plugin"+endpoint, MediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return r
}

func TestProtocol(t *testing.T) {
	var log bytes.Buffer
	c := serve(t, DefaultPolicy("host.web"), &log)
	resp, err := c.Post("http://plugin/Plugin.Activate", MediaType, nil)
	if err != nil {
		t.Fatal(err)
	}
	var act struct{ Implements []string }
	json.NewDecoder(resp.Body).Decode(&act)
	resp.Body.Close()
	if len(act.Implements) != 1 || act.Implements[0] != "authz" {
		t.Fatalf("Activate: %+v", act)
	}
	reqs := requests(t)
	for name, allow := range map[string]bool{"hardened": true, "privileged-userns-host-root": false} {
		b, _ := json.Marshal(reqs[name])
		r := call(t, c, "/AuthZPlugin.AuthZReq", b)
		if r.Allow != allow {
			t.Errorf("%s: %+v", name, r)
		}
		if !allow && !strings.Contains(r.Msg, "--privileged is refused on this host by fjord policy rule privileged; relax it in host.web docker.authz") {
			t.Errorf("%s: message %q", name, r.Msg)
		}
	}
	if r := call(t, c, "/AuthZPlugin.AuthZReq", []byte("not json")); r.Allow || !strings.Contains(r.Msg, "cannot read it") {
		t.Errorf("garbage: %+v", r)
	}
	if r := call(t, c, "/AuthZPlugin.AuthZRes", []byte(`{"ResponseStatusCode":200}`)); !r.Allow {
		t.Errorf("AuthZRes: %+v", r)
	}
	// Each refusal is logged with the rule and what was asked, never the body.
	l := log.String()
	if !strings.Contains(l, "rule=privileged") || !strings.Contains(l, `asked=--privileged`) || !strings.Contains(l, "uri=/v1.41/containers/create") {
		t.Errorf("log:\n%s", l)
	}
	if strings.Contains(l, "HostConfig") || strings.Count(l, "denied") != 2 {
		t.Errorf("log holds bodies or misses refusals:\n%s", l)
	}
}

// BenchmarkRoundTrip is one AuthZReq over the plugin's unix socket, as
// the daemon makes it for every API request: HTTP, JSON both ways, and
// the decision.
func BenchmarkRoundTrip(b *testing.B) {
	c := serve(b, DefaultPolicy("host.web"), io.Discard)
	body, _ := json.Marshal(requests(b)["hardened"])
	b.ReportAllocs()
	for b.Loop() {
		if r := call(b, c, "/AuthZPlugin.AuthZReq", body); !r.Allow {
			b.Fatal(r.Msg)
		}
	}
}
