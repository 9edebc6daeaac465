package verify

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/sshx"
)

// shellSession runs the verifier's commands with the local shell, sudo
// left out, a fake docker first on the PATH.
type shellSession struct {
	path     string
	sessions int
}

func (s *shellSession) Run(ctx context.Context, cmd string) (sshx.Result, error) {
	return s.RunInput(ctx, cmd, nil)
}

func (s *shellSession) RunInput(ctx context.Context, cmd string, in io.Reader) (sshx.Result, error) {
	s.sessions++
	c := exec.CommandContext(ctx, "sh", "-c", strings.TrimPrefix(cmd, "sudo -n "))
	c.Env = append(os.Environ(), "PATH="+s.path+":"+os.Getenv("PATH"))
	c.Stdin = in
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return sshx.Result{Stdout: out.String(), Stderr: errb.String(), ExitCode: code}, err
}

// fakeDocker logs each call. Its ps waits (5 s at most) for the canary's
// import: it lists nothing until the two scripts overlap, so a
// verification that ran them one after the other shows "ps alone".
const fakeDocker = `#!/bin/sh
log=$(dirname "$0")/calls
case "$1" in
import) [ "$(cat)" = tar ] || { echo "import: not the image on stdin" >&2; exit 1; }
  [ -e "$(dirname "$0")/refuse-import" ] && { echo "Error response from daemon: refused" >&2; exit 1; }
  touch "$(dirname "$0")/imported"; echo "import" >>"$log" ;;
ps)
  n=0; while [ ! -e "$(dirname "$0")/imported" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
  [ -e "$(dirname "$0")/imported" ] || echo "ps alone" >>"$log"
  echo "ps" >>"$log" ;;
info) echo "info" >>"$log"; echo '{"ServerVersion":"20.10.24"}'; echo 'name=seccomp,profile=default' ;;
run) echo "run $*" >>"$log"; echo "docker: Error response from daemon: privileged mode is incompatible with user namespaces."; exit 125 ;;
*) echo "$1" >>"$log" ;;
esac
`

// The canary's image is imported while the checks run (docker ps waits
// for it), its containers start only after the checks listed the host's
// containers, all in one session, and the job's directory is removed.
func TestCanaryOverlapsTheChecksButStartsAfterTheContainerList(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(fakeDocker), 0o755); err != nil {
		t.Fatal(err)
	}
	releaseDir = dir
	defer func() { releaseDir = "/run" }()
	s := &shellSession{path: dir}
	kvm := func(context.Context) (bool, bool, error) { return true, true, nil }
	image := func() ([]byte, string, error) { return []byte("tar"), "fjord/canary:t", nil }
	outs, err := hostChecks(context.Background(), s, expect(), kvm, image)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Outcome{}
	for _, o := range outs {
		got[o.ID] = o
	}
	// The fake's run refuses as userns-remap does: that check passes, and
	// the hardened run, which printed no probe report, fails saying so.
	if o := got["canary.privileged-refused"]; o.Status != Pass {
		t.Errorf("canary.privileged-refused: %+v", o)
	}
	if o := got["canary.seccomp"]; o.Status != Fail || !strings.Contains(o.Detail, "did not run") {
		t.Errorf("canary.seccomp: %+v", o)
	}
	if _, ok := got["docker.userns"]; !ok || s.sessions != 1 {
		t.Errorf("%d sessions, %d outcomes: the checks and the canary belong in one", s.sessions, len(outs))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	ps, firstRun := slices.Index(calls, "ps"), slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "run ") })
	if ps < 0 || firstRun < ps {
		t.Errorf("the canary ran before the containers were listed: %q", calls)
	}
	if slices.Contains(calls, "ps alone") || !slices.Contains(calls, "import") {
		t.Errorf("the canary's import did not overlap the checks: %q", calls)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "fjord-verify.*")); len(left) != 0 {
		t.Errorf("the job's directory is left behind: %v", left)
	}

	// Docker refuses the image: the canary checks fail saying why.
	os.WriteFile(filepath.Join(dir, "refuse-import"), nil, 0o644)
	outs, err = hostChecks(context.Background(), s, expect(), kvm, image)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if strings.HasPrefix(o.ID, "canary.") && (o.Status != Fail || !strings.Contains(o.Detail, "docker import failed: Error response from daemon: refused")) {
			t.Errorf("%s with the import refused: %+v", o.ID, o)
		}
	}
}
