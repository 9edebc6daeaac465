// Package verify proves over SSH that a host is hardened as configured.
// Checks are data: an ID, a CIS or dev-sec reference, a title, the source
// (command) they read, a judge of that output, a severity and a fix hint.
// Every source runs once per host, all of them in a single SSH round trip.
package verify

import (
	"bytes"
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
	// Sysctls and SSHDOptions are the host's own declared settings.
	Sysctls, SSHDOptions map[string]string
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
	body, ids := scriptBody(checks, "")
	return "sudo -n sh -c " + sshx.Quote(body), ids
}

// scriptBody is script's shell text. The containers source runs first;
// release, when not empty, is a file (a shell word) created once that
// source is done, so that a canary waiting for it starts its containers
// only after the runtime audit has listed the host's own.
func scriptBody(checks []Check, release string) (string, []string) {
	need := map[string]bool{}
	for _, c := range checks {
		need[c.Source] = true
	}
	ids := make([]string, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if (ids[i] == containersSource) != (ids[j] == containersSource) {
			return ids[i] == containersSource
		}
		return ids[i] < ids[j]
	})
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
		if release != "" && id == containersSource {
			fmt.Fprintf(&b, "touch %s\n", release)
		}
	}
	if release != "" {
		fmt.Fprintf(&b, "touch %s\n", release)
	}
	return b.String(), ids
}

// containersSource lists the running containers for the runtime audit.
const containersSource = "containers"

// dockerSources are the sources that ask the Docker daemon.
var dockerSources = map[string]bool{"docker-info": true, "seccomp": true, "networks": true, "containers": true, "authz": true, "engine": true}

// dockerProbe sets docker_down to the daemon's error when it cannot serve
// a request (it must answer within 60 s, its own retries included). The
// request is the one docker-info and seccomp read, asked once for both:
// docker_info holds `docker info` as one JSON line, then its security
// options one per line (each Docker CLI call costs the best part of a
// second of a host's CPU where there is no hardware virtualization).
const dockerProbe = `if docker_info=$(timeout 60 docker info --format '{{json .}}{{"\n"}}{{range .SecurityOptions}}{{println .}}{{end}}' 2>&1) && ` +
	`printf '%s\n' "$docker_info" | grep -q '^{'; then docker_down=""; ` +
	`else docker_down=$(printf '%s' "$docker_info" | tr '\n' ' '); docker_down=${docker_down:-"docker info failed"}; fi`

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
	return judgeRun(checks, ids, res, e)
}

// judgeRun judges the checks on what the check script printed.
func judgeRun(checks []Check, ids []string, res sshx.Result, e Expect) ([]Outcome, error) {
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
// check, and in one SSH round trip the checks and the canary container
// (its image on stdin). On the host the canary is a job of its own beside
// the checks: its image is imported while they run, and its containers
// start once they have listed the host's own, so the runtime audit never
// sees the canary. A transport failure is an error; failed checks are
// outcomes.
func Host(ctx context.Context, s Session, e Expect, kvm KVMQuery) ([]Outcome, error) {
	return hostChecks(ctx, s, e, kvm, canary.Image)
}

func hostChecks(ctx context.Context, s Session, e Expect, kvm KVMQuery, image func() ([]byte, string, error)) ([]Outcome, error) {
	enabled, present, kerr := kvm(ctx)
	out := []Outcome{HostKVM(enabled, present, kerr, e)}
	var cs []Check
	for _, c := range All() {
		if !c.AfterSeal || e.Sealed {
			cs = append(cs, c)
		}
	}
	img, tag, err := image()
	if err != nil {
		checks, rerr := Run(ctx, s, cs, e)
		if rerr != nil {
			return nil, rerr
		}
		// No canary to run: its checks fail (or are waived) saying why.
		none := Output{Code: -1, Text: err.Error()}
		return append(append(out, checks...), judge(CanaryChecks(), map[string]Output{"canary-run": none, "canary-privileged": none}, e)...), nil
	}
	cmd, ids := withCanary(cs, tag)
	res, err := s.RunInput(ctx, cmd, bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("run checks: %w", err)
	}
	checks, err := judgeRun(cs, ids, res, e)
	if err != nil {
		return nil, err
	}
	outs := parse(res.Stdout)
	if outs[canaryJob].Code == 90 {
		outs = canaryImportFailed(outs[canaryJob].Text)
	}
	if err := canaryOutput(outs, res); err != nil {
		return nil, err
	}
	return append(append(out, checks...), judge(CanaryChecks(), outs, e)...), nil
}

// canaryJob frames what the canary job printed besides its sections, and
// its exit code.
const canaryJob = "canary-job"

// withCanary is the check script with the canary as a background job: the
// image comes on stdin (the checks get none), the job's output goes to a
// root-only directory under /run and is printed after the checks, with the
// job's exit code.
func withCanary(checks []Check, tag string) (string, []string) {
	body, ids := scriptBody(checks, `"$d/release"`)
	var b strings.Builder
	b.WriteString("d=$(mktemp -d " + releaseDir + "/fjord-verify.XXXXXXXX) || exit 1\n")
	b.WriteString("trap 'rm -rf \"$d\"' EXIT\n")
	b.WriteString("exec 3<&0 </dev/null\n")
	b.WriteString("{ (\n" + canaryBody(tag, `"$d/release"`) + ") <&3 >\"$d/out\" 2>&1; echo $? >\"$d/rc\"; } &\n")
	b.WriteString("exec 3<&-\n")
	b.WriteString(body)
	b.WriteString("wait\n")
	fmt.Fprintf(&b, "cat \"$d/out\"; printf '\\n%s %s\\n'; grep -v '^%s' \"$d/out\" | tail -n 5; printf '\\n%s-rc %s %%d\\n' \"$(cat \"$d/rc\")\"\n", marker, canaryJob, marker, marker, canaryJob)
	return "sudo -n sh -c " + sshx.Quote(b.String()), ids
}

// releaseDir is where the verification's own directory is made (a test's
// directory in tests).
var releaseDir = "/run"
