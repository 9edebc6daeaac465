package verify

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/sshx"
)

// Outputs as a hardened bookworm guest (docker.io 20.10) printed them.
const (
	hardenedRun = `dockremap:165536:65536
{"uid_map":"0 165536 65536","seccomp":"2","no_new_privs":"1","cap_eff":"0000000000000000","apparmor":"docker-default (enforce)","uid":65534,"root_write":"refused: open /fjord-probe-write: read-only file system"}`
	privilegedRefused = `docker: Error response from daemon: privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode.
See 'docker run --help'.`
)

type canaryHost struct {
	run, priv Output
	stdin     int
	cmd       string
}

func (h *canaryHost) RunInput(_ context.Context, cmd string, in io.Reader) (sshx.Result, error) {
	b, _ := io.ReadAll(in)
	h.stdin, h.cmd = len(b), cmd
	var out strings.Builder
	for _, s := range []struct {
		id string
		o  Output
	}{{"canary-run", h.run}, {"canary-privileged", h.priv}} {
		fmt.Fprintf(&out, "\n%s %s\n%s\n%s-rc %s %d\n", marker, s.id, s.o.Text, marker, s.id, s.o.Code)
	}
	return sshx.Result{Stdout: out.String()}, nil
}

func canaryFailing(t *testing.T, h *canaryHost, e Expect) []string {
	t.Helper()
	outs, err := RunCanary(context.Background(), h, []byte("image"), "fjord/canary:x", e)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != len(CanaryChecks()) {
		t.Fatalf("%d outcomes", len(outs))
	}
	var ids []string
	for _, o := range outs {
		if o.Status == Fail {
			ids = append(ids, o.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestCanaryOnAHardenedHost(t *testing.T) {
	h := &canaryHost{run: Output{Text: hardenedRun}, priv: Output{Text: privilegedRefused, Code: 125}}
	if f := canaryFailing(t, h, expect()); len(f) != 0 {
		t.Errorf("hardened host fails %v", f)
	}
	if h.stdin != len("image") || !strings.Contains(h.cmd, "docker import - fjord/canary:x") || !strings.Contains(h.cmd, "--cap-drop=ALL") {
		t.Errorf("the image was not imported and run hardened: %s", h.cmd)
	}
}

func TestCanaryCatchesWhatTheKernelShows(t *testing.T) {
	tests := []struct {
		name      string
		run, priv Output
		want      []string
	}{
		{"no userns-remap: root is root, privileged runs",
			Output{Text: strings.Replace(hardenedRun, `0 165536 65536`, `0 0 4294967295`, 1)},
			Output{Text: `{"uid_map":"0 0 4294967295"}`},
			[]string{"canary.privileged-refused", "canary.uid-map"}},
		{"seccomp unconfined and no-new-privileges off",
			Output{Text: strings.NewReplacer(`"seccomp":"2"`, `"seccomp":"0"`, `"no_new_privs":"1"`, `"no_new_privs":"0"`).Replace(hardenedRun)},
			Output{Text: privilegedRefused, Code: 125},
			[]string{"canary.no-new-privs", "canary.seccomp"}},
		{"apparmor off, root writable, capabilities kept",
			Output{Text: strings.NewReplacer(`docker-default (enforce)`, `unconfined`, `refused: open /fjord-probe-write: read-only file system`, `allowed`, `"cap_eff":"0000000000000000"`, `"cap_eff":"00000000a80425fb"`).Replace(hardenedRun)},
			Output{Text: privilegedRefused, Code: 125},
			[]string{"canary.apparmor", "canary.cap-eff", "canary.read-only"}},
		{"refused by fjord-authz first: still refused",
			Output{Text: hardenedRun},
			Output{Text: "docker: Error response from daemon: authorization denied by plugin fjord-authz: --privileged is refused on this host by fjord policy rule privileged; relax it in host.node docker.authz.", Code: 125},
			nil},
		{"refused for another reason: not proof",
			Output{Text: hardenedRun},
			Output{Text: "docker: Error response from daemon: No such image: fjord/canary:x.", Code: 125},
			[]string{"canary.privileged-refused"}},
		{"the canary cannot start",
			Output{Text: "docker: Error response from daemon: OCI runtime create failed", Code: 125},
			Output{Text: privilegedRefused, Code: 125},
			[]string{"canary.apparmor", "canary.cap-eff", "canary.no-new-privs", "canary.read-only", "canary.seccomp", "canary.uid-map"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := canaryFailing(t, &canaryHost{run: tc.run, priv: tc.priv}, expect())
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("failing %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCanaryWaiversFollowTheProfile(t *testing.T) {
	e := expect()
	e.Docker.UsernsRemap = false
	h := &canaryHost{run: Output{Text: strings.Replace(hardenedRun, `0 165536 65536`, `0 0 4294967295`, 1)}, priv: Output{Text: "{}"}}
	if f := canaryFailing(t, h, e); len(f) != 0 {
		t.Errorf("userns_remap = false still fails %v instead of waiving them", f)
	}
}
