package verify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/sshx"
)

// recorded answers commands with outputs captured from real hosts.
type recorded map[string]sshx.Result

func (r recorded) Run(_ context.Context, cmd string) (sshx.Result, error) {
	res, ok := r[cmd]
	if !ok {
		return sshx.Result{}, errors.New("connection lost")
	}
	return res, nil
}

const daemonJSON = `{"icc": false, "userns-remap": "default", "live-restore": true}`

func check(id string) Check {
	for _, c := range Checks(Expect{DaemonJSON: []byte(daemonJSON)}) {
		if c.ID == id {
			return c
		}
	}
	panic(id)
}

func TestUserns(t *testing.T) {
	c := check("docker.userns")
	// docker.io 20.10 on Debian bookworm, with and without userns-remap.
	pass := sshx.Result{Stdout: `["name=apparmor","name=seccomp,profile=default","name=userns"]` + "\n"}
	fail := sshx.Result{Stdout: `["name=apparmor","name=seccomp,profile=default"]` + "\n"}
	down := sshx.Result{ExitCode: 1, Stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}
	if msg := c.Judge(pass); msg != "" {
		t.Errorf("userns host failed: %s", msg)
	}
	if msg := c.Judge(fail); !strings.Contains(msg, "lack name=userns") {
		t.Errorf("host without userns: %q", msg)
	}
	if msg := c.Judge(down); !strings.Contains(msg, "Is the docker daemon running") {
		t.Errorf("daemon down: %q", msg)
	}
}

func TestDaemonJSON(t *testing.T) {
	c := check("docker.daemon-json")
	same := sshx.Result{Stdout: "{\n  \"live-restore\": true,\n  \"userns-remap\": \"default\",\n  \"icc\": false\n}\n"}
	if msg := c.Judge(same); msg != "" {
		t.Errorf("same JSON, other layout: %s", msg)
	}
	changed := sshx.Result{Stdout: `{"icc": true, "userns-remap": "default", "debug": true}`}
	msg := c.Judge(changed)
	for _, want := range []string{"icc is true, want false", "live-restore missing", "debug is set but fjord did not set it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("judge(changed) = %q, lacks %q", msg, want)
		}
	}
	if msg := c.Judge(sshx.Result{Stdout: "{broken"}); !strings.Contains(msg, "not JSON") {
		t.Errorf("broken file: %q", msg)
	}
	if msg := c.Judge(sshx.Result{ExitCode: 1, Stderr: "cat: /etc/docker/daemon.json: No such file or directory"}); !strings.Contains(msg, "No such file") {
		t.Errorf("missing file: %q", msg)
	}
}

func TestRun(t *testing.T) {
	checks := Checks(Expect{DaemonJSON: []byte(daemonJSON)})
	r := recorded{
		checks[0].Command: {Stdout: `["name=userns"]`},
		checks[1].Command: {Stdout: `{"icc": true}`},
	}
	out, err := Run(context.Background(), r, checks)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Status != Pass || out[1].Status != Fail || out[1].Hint == "" {
		t.Fatalf("outcomes = %+v", out)
	}
	if f := Failed(out); len(f) != 1 || f[0].ID != "docker.daemon-json" {
		t.Errorf("Failed = %+v", f)
	}
	if _, err := Run(context.Background(), recorded{}, checks); err == nil {
		t.Error("a lost connection was not reported")
	}
}
