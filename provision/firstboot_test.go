package provision

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/sshx"
)

// cloudInitDone is result.json of a first boot without errors, as
// cloud-init 22.4 writes it.
const cloudInitDone = `{
 "v1": {
  "datasource": "DataSourceNoCloud [seed=/dev/vdb][dsmode=local]",
  "errors": []
 }
}
`

// cloudInitFailed is result.json after fjord's setup script failed.
const cloudInitFailed = `{
 "v1": {
  "datasource": "DataSourceNoCloud [seed=/dev/vdb][dsmode=local]",
  "errors": [
   "('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))"
  ]
 }
}
`

// shellGuest runs the command's script with sh on this machine, sudo
// aside, with bin first on PATH (only bin when only is set).
type shellGuest struct {
	bin  string
	only bool
}

func (g shellGuest) Run(ctx context.Context, cmd string) (sshx.Result, error) {
	c := exec.CommandContext(ctx, "sh", "-c", strings.TrimPrefix(cmd, "sudo -n "))
	path := g.bin + ":" + os.Getenv("PATH")
	if g.only {
		path = g.bin
	}
	c.Env = append(os.Environ(), "PATH="+path)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	res := sshx.Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.ExitCode, err = ee.ExitCode(), nil
	}
	return res, err
}

// firstBootHost is a directory laid out as a host's /run, /etc and
// /var/log, and a guest whose first-boot wait looks there.
func firstBootHost(t *testing.T) (string, shellGuest) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"run/cloud-init", "etc/cloud", "var/log", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "cloud-init"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	firstBootWait = firstBootScript(root)
	t.Cleanup(func() { firstBootWait = firstBootScript("") })
	return root, shellGuest{bin: filepath.Join(root, "bin")}
}

func TestWaitFirstBootWaitsForTheResult(t *testing.T) {
	root, g := firstBootHost(t)
	os.WriteFile(filepath.Join(root, "run/cloud-init/enabled"), nil, 0o644)
	go func() {
		time.Sleep(700 * time.Millisecond)
		tmp := filepath.Join(root, "run/cloud-init/.result")
		os.WriteFile(tmp, []byte(cloudInitDone), 0o644)
		os.Rename(tmp, filepath.Join(root, "run/cloud-init/result.json"))
	}()
	t0 := time.Now()
	if err := waitFirstBoot(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) < 600*time.Millisecond {
		t.Fatalf("returned after %s, before the result was written", time.Since(t0))
	}
}

func TestWaitFirstBootReportsErrorsWithTheLog(t *testing.T) {
	root, g := firstBootHost(t)
	os.WriteFile(filepath.Join(root, "run/cloud-init/enabled"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "run/cloud-init/result.json"), []byte(cloudInitFailed), 0o644)
	os.WriteFile(filepath.Join(root, "var/log/cloud-init-output.log"), []byte("fjord-setup: [97.3s] data disk mounted on /var/lib/docker\nfjord-setup: docker networks: Error response from daemon: network with name backend already exists\n"), 0o644)
	err := waitFirstBoot(context.Background(), g)
	if err == nil {
		t.Fatal("a first boot with errors passed")
	}
	for _, want := range []string{"cloud-init finished with errors", "Runparts: 1 failures (runcmd)", "last lines of /var/log/cloud-init-output.log", "docker networks: Error response from daemon"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A sealed host restarted (for more memory, say) has cloud-init off and
// nothing to wait for; an image without cloud-init fails.
func TestWaitFirstBootOnASealedHostOrWithoutCloudInit(t *testing.T) {
	root, g := firstBootHost(t)
	// fjord's seal: the marker file; the generator then keeps cloud-init
	// off and writes no /run/cloud-init/enabled.
	os.WriteFile(filepath.Join(root, "etc/cloud/cloud-init.disabled"), nil, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitFirstBoot(ctx, g); err != nil {
		t.Fatalf("a sealed host: %v", err)
	}
	// No cloud-init at all: a PATH holding only what the script runs.
	tools := filepath.Join(root, "tools")
	os.Mkdir(tools, 0o755)
	for _, tool := range []string{"sh", "sleep", "cat", "grep", "tail"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		os.Symlink(p, filepath.Join(tools, tool))
	}
	noCloudInit := shellGuest{bin: tools, only: true}
	if err := waitFirstBoot(context.Background(), noCloudInit); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("an image without cloud-init: got %v", err)
	}
}

func TestWaitFirstBootRejectsAnUnreadableResult(t *testing.T) {
	root, g := firstBootHost(t)
	os.WriteFile(filepath.Join(root, "run/cloud-init/enabled"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "run/cloud-init/result.json"), []byte("{\"v1\": "), 0o644)
	if err := waitFirstBoot(context.Background(), g); err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("got %v", err)
	}
}
