// Package verify proves over SSH that a host is hardened as configured.
// Checks are data: an ID, a CIS or dev-sec reference, a title, the source
// (command) they read, a judge of that output, a severity and a fix hint.
// Every source runs once per host, all of them in a single SSH round trip.
package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fjord-dev/fjord/canary"
	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/model"
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
	Pass   Status = "pass"
	Fail   Status = "fail"
	Waived Status = "waived" // failed, but the configuration waives it
)

// Severities.
const (
	High   = "high"
	Medium = "medium"
	Low    = "low"
)

// Output is what one source printed on the host.
type Output struct {
	Text string
	Code int
}

// Expect is what the configuration says the host should look like.
type Expect struct {
	DaemonJSON []byte
	Docker     model.Docker
	// Firewall is the ruleset fjord wrote.
	Firewall firewall.Rules
	// User and AuthorizedKeys are the declared admin and its keys.
	User           string
	AuthorizedKeys []string
	// Sealed says the host has been sealed (fjord verify of a finished
	// host): the AfterSeal checks are made.
	Sealed bool
}

// Check is one verifiable property of a host.
type Check struct {
	ID        string
	Reference string
	Title     string
	Severity  string
	Source    string // a key of Sources
	Hint      string
	// Judge returns "" when the output meets the expectation, else what is wrong.
	Judge func(o Output, e Expect) string
	// Observe, when set, says what a passing check saw (versions, say),
	// for the report's detail.
	Observe func(o Output) string
	// AfterSeal marks a check of what fjord does after verifying a new
	// host (switching cloud-init off, removing the seed): made by fjord
	// verify, not by apply's own verification.
	AfterSeal bool
}

// Outcome is the result of one check on one host.
type Outcome struct {
	ID        string `json:"id"`
	Reference string `json:"reference,omitempty"`
	Title     string `json:"title"`
	Severity  string `json:"severity"`
	Status    Status `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Hint      string `json:"hint,omitempty"`
	Waiver    string `json:"waiver,omitempty"` // why a failure is accepted
}

// marker delimits each source's output in the combined script's output.
const marker = "@@fjord-source"

// script builds one shell script that runs every source the checks need,
// as root, with each output framed by markers and followed by its exit code.
func script(checks []Check) (string, []string) {
	need := map[string]bool{}
	for _, c := range checks {
		need[c.Source] = true
	}
	ids := make([]string, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	probed := false
	for _, id := range ids {
		src := Sources[id]
		if dockerSources[id] {
			if !probed {
				// One request first: a daemon that cannot serve requests
				// (its authorization plugin down, say) makes each caller
				// wait out its retries, so the sources that need it are
				// answered with that one failure instead.
				b.WriteString(dockerProbe + "\n")
				probed = true
			}
			src = `if [ -n "$docker_down" ]; then echo "Docker serves no request: $docker_down"; exit 1; fi; ` + src
		}
		fmt.Fprintf(&b, "printf '\\n%s %s\\n'; (%s) 2>&1; printf '\\n%s-rc %s %%d\\n' $?\n", marker, id, src, marker, id)
	}
	return "sudo -n sh -c " + sshx.Quote(b.String()), ids
}

// dockerSources are the sources that ask the Docker daemon.
var dockerSources = map[string]bool{"docker-info": true, "seccomp": true, "networks": true, "containers": true, "authz": true, "engine": true}

// dockerProbe sets docker_down to the daemon's error when it cannot serve
// a request (it must answer within 60 s, its own retries included).
const dockerProbe = `if docker_err=$(timeout 60 docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then docker_down=""; ` +
	`else docker_down=$(printf '%s' "$docker_err" | tr '\n' ' '); docker_down=${docker_down:-"docker version failed"}; fi`

// parse splits the combined output into each source's text and exit code.
func parse(out string) map[string]Output {
	res := map[string]Output{}
	var cur string
	var text []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, marker+"-rc "):
			f := strings.Fields(line)
			o := Output{Text: strings.TrimSpace(strings.Join(text, "\n"))}
			if len(f) == 3 {
				fmt.Sscanf(f[2], "%d", &o.Code)
			}
			res[cur] = o
			cur, text = "", nil
		case strings.HasPrefix(line, marker+" "):
			cur, text = strings.TrimPrefix(line, marker+" "), nil
		case cur != "":
			text = append(text, line)
		}
	}
	return res
}

// Run executes the checks on one host in a single round trip and judges
// them. A transport error (the connection dropped) is returned as an error;
// a failing check is not. Failures that the profile waives are Waived.
func Run(ctx context.Context, r Runner, checks []Check, e Expect) ([]Outcome, error) {
	cmd, ids := script(checks)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("run checks: %w", err)
	}
	if res.ExitCode != 0 && !strings.Contains(res.Stdout, marker) {
		return nil, fmt.Errorf("run checks as root (sudo -n) failed with exit %d: %s", res.ExitCode, sshx.Short(res.Stdout+res.Stderr))
	}
	outs := parse(res.Stdout)
	for _, id := range ids {
		if _, ok := outs[id]; !ok {
			return nil, fmt.Errorf("the output of check source %q is missing; the host printed: %s", id, sshx.Short(res.Stdout+res.Stderr))
		}
	}
	return judge(checks, outs, e), nil
}

// judge applies each check to its source's output, marking waived failures.
func judge(checks []Check, outs map[string]Output, e Expect) []Outcome {
	waivers := map[string]string{}
	for _, w := range e.Docker.Waivers() {
		waivers[w.Check] = w.Reason
	}
	out := make([]Outcome, 0, len(checks))
	for _, c := range checks {
		o := Outcome{ID: c.ID, Reference: c.Reference, Title: c.Title, Severity: c.Severity, Status: Pass}
		if c.Observe != nil {
			o.Detail = c.Observe(outs[c.Source])
		}
		if msg := c.Judge(outs[c.Source], e); msg != "" {
			o.Status, o.Detail, o.Hint = Fail, msg, c.Hint
			if why, ok := waived(waivers, c.ID); ok {
				o.Status, o.Waiver = Waived, why
			}
		}
		out = append(out, o)
	}
	return out
}

// waived finds a waiver for id, exact or by family ("sysctl.*").
func waived(w map[string]string, id string) (string, bool) {
	if why, ok := w[id]; ok {
		return why, true
	}
	for k, why := range w {
		if strings.HasSuffix(k, ".*") && strings.HasPrefix(id, strings.TrimSuffix(k, "*")) {
			return why, true
		}
	}
	return "", false
}

// Failed returns the outcomes that failed and are not waived.
func Failed(os []Outcome) []Outcome {
	var f []Outcome
	for _, o := range os {
		if o.Status == Fail {
			f = append(f, o)
		}
	}
	return f
}

// HostKVMID is the check made on the hypervisor rather than over SSH.
const HostKVMID = "host.kvm"

// HostKVM judges QMP's query-kvm answer for the guest (err: the question
// could not be asked).
func HostKVM(enabled, present bool, err error, e Expect) Outcome {
	o := Outcome{ID: HostKVMID, Reference: "fjord isolation", Title: "QEMU runs the guest under KVM (QMP query-kvm)", Severity: High, Status: Pass}
	switch {
	case err != nil:
		o.Status, o.Detail = Fail, err.Error()
	case !enabled || !present:
		o.Status, o.Detail = Fail, fmt.Sprintf("query-kvm: enabled=%t present=%t", enabled, present)
	}
	if o.Status == Fail {
		o.Hint = "run the guest with virt_type = \"kvm\" on a hypervisor with working KVM; waive host.kvm only for test hosts"
		waivers := map[string]string{}
		for _, w := range e.Docker.Waivers() {
			waivers[w.Check] = w.Reason
		}
		if why, ok := waived(waivers, o.ID); ok {
			o.Status, o.Waiver = Waived, why
		}
	}
	return o
}

// Catalog is every check made over SSH, by the canary and by probing, in
// report order (the hypervisor's HostKVMID aside).
func Catalog() []Check {
	return append(append(All(), CanaryChecks()...), ExposureChecks()...)
}

// Known reports whether id names a check, or a family of checks ("sysctl.*").
func Known(id string) bool {
	if id == HostKVMID {
		return true
	}
	for _, c := range Catalog() {
		if c.ID == id || strings.HasSuffix(id, ".*") && strings.HasPrefix(c.ID, strings.TrimSuffix(id, "*")) {
			return true
		}
	}
	return false
}

// Session is a connection that can run the checks and the canary.
type Session interface {
	Runner
	InputRunner
}

// KVMQuery asks the hypervisor whether the guest runs under KVM.
type KVMQuery func(ctx context.Context) (enabled, present bool, err error)

// Host runs everything fjord proves about a host: the hypervisor-side KVM
// check, the SSH checks (one round trip) and the canary container (one
// more). A transport failure is an error; failed checks are outcomes.
func Host(ctx context.Context, s Session, e Expect, kvm KVMQuery) ([]Outcome, error) {
	enabled, present, kerr := kvm(ctx)
	out := []Outcome{HostKVM(enabled, present, kerr, e)}
	var cs []Check
	for _, c := range All() {
		if !c.AfterSeal || e.Sealed {
			cs = append(cs, c)
		}
	}
	checks, err := Run(ctx, s, cs, e)
	if err != nil {
		return nil, err
	}
	out = append(out, checks...)
	img, tag, err := canary.Image()
	if err != nil {
		// No canary to run: its checks fail (or are waived) saying why.
		none := Output{Code: -1, Text: err.Error()}
		return append(out, judge(CanaryChecks(), map[string]Output{"canary-run": none, "canary-privileged": none}, e)...), nil
	}
	co, err := RunCanary(ctx, s, img, tag, e)
	if err != nil {
		return nil, err
	}
	return append(out, co...), nil
}
