// Package verify proves over SSH that a host's Docker daemon is what fjord
// configured. Checks are data: each has an ID, a reference, the command that
// measures it and a function that judges the output.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/fjord-dev/fjord/sshx"
)

// Runner runs a shell command on the host.
type Runner interface {
	Run(ctx context.Context, cmd string) (sshx.Result, error)
}

// Status of one check.
type Status string

// Check outcomes.
const (
	Pass Status = "pass"
	Fail Status = "fail"
)

// Check is one verifiable property of a host.
type Check struct {
	ID        string
	Reference string // CIS / dev-sec reference
	Title     string
	Command   string
	Hint      string
	// Judge returns "" when the output meets the expectation, else what is wrong.
	Judge func(out sshx.Result) string
}

// Outcome is the result of running one check.
type Outcome struct {
	ID        string `json:"id"`
	Reference string `json:"reference,omitempty"`
	Title     string `json:"title"`
	Status    Status `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Hint      string `json:"hint,omitempty"`
}

// Expect holds what the host should show.
type Expect struct {
	DaemonJSON []byte // the daemon.json fjord rendered
}

// Checks returns the checks for a host expected to look like e.
func Checks(e Expect) []Check {
	return []Check{
		{
			ID: "docker.userns", Reference: "CIS 2.9",
			Title:   "Docker runs with user-namespace remapping",
			Command: "sudo -n docker info --format '{{json .SecurityOptions}}'",
			Hint:    `set "userns-remap": "default" in /etc/docker/daemon.json and restart docker`,
			Judge:   judgeUserns,
		},
		{
			ID: "docker.daemon-json", Reference: "CIS 2",
			Title:   "/etc/docker/daemon.json is the one fjord rendered",
			Command: "sudo -n cat /etc/docker/daemon.json",
			Hint:    "re-apply the host (fjord apply -replace) or restore the file fjord wrote",
			Judge:   func(r sshx.Result) string { return judgeDaemonJSON(r, e.DaemonJSON) },
		},
	}
}

func judgeUserns(r sshx.Result) string {
	if r.ExitCode != 0 {
		return fmt.Sprintf("docker info failed (exit %d): %s", r.ExitCode, sshx.Short(r.Stderr))
	}
	var opts []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &opts); err != nil {
		return fmt.Sprintf("cannot read SecurityOptions %q: %v", sshx.Short(r.Stdout), err)
	}
	for _, o := range opts {
		if o == "name=userns" {
			return ""
		}
	}
	return fmt.Sprintf("SecurityOptions %v lack name=userns", opts)
}

func judgeDaemonJSON(r sshx.Result, want []byte) string {
	if r.ExitCode != 0 {
		return fmt.Sprintf("cannot read daemon.json (exit %d): %s", r.ExitCode, sshx.Short(r.Stderr))
	}
	var got, exp any
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		return fmt.Sprintf("daemon.json on the host is not JSON: %v", err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		return fmt.Sprintf("rendered daemon.json is not JSON: %v", err)
	}
	if reflect.DeepEqual(got, exp) {
		return ""
	}
	return "differs: " + diffKeys(got, exp)
}

// diffKeys names the top-level keys whose values differ.
func diffKeys(got, exp any) string {
	g, _ := got.(map[string]any)
	e, _ := exp.(map[string]any)
	var out []string
	for k, ev := range e {
		gv, ok := g[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s missing", k))
		case !reflect.DeepEqual(gv, ev):
			gb, _ := json.Marshal(gv)
			eb, _ := json.Marshal(ev)
			out = append(out, fmt.Sprintf("%s is %s, want %s", k, gb, eb))
		}
	}
	for k := range g {
		if _, ok := e[k]; !ok {
			out = append(out, fmt.Sprintf("%s is set but fjord did not set it", k))
		}
	}
	if len(out) == 0 {
		return "not an object"
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// Run executes every check and returns their outcomes. A transport error
// (the connection dropped) is returned as an error; a failing check is not.
func Run(ctx context.Context, r Runner, checks []Check) ([]Outcome, error) {
	out := make([]Outcome, 0, len(checks))
	for _, c := range checks {
		res, err := r.Run(ctx, c.Command)
		if err != nil {
			return out, fmt.Errorf("check %s: %w", c.ID, err)
		}
		o := Outcome{ID: c.ID, Reference: c.Reference, Title: c.Title, Status: Pass}
		if msg := c.Judge(res); msg != "" {
			o.Status, o.Detail, o.Hint = Fail, msg, c.Hint
		}
		out = append(out, o)
	}
	return out, nil
}

// Failed returns the outcomes that did not pass.
func Failed(os []Outcome) []Outcome {
	var f []Outcome
	for _, o := range os {
		if o.Status != Pass {
			f = append(f, o)
		}
	}
	return f
}
