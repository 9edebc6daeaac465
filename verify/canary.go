package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/fjord-dev/fjord/canary/probe"
	"github.com/fjord-dev/fjord/sshx"
)

// InputRunner runs a command with data on its standard input.
type InputRunner interface {
	RunInput(ctx context.Context, cmd string, in io.Reader) (sshx.Result, error)
}

// probeReport is the probe's report and the dockremap line of /etc/subuid
// printed before the probe ran.
type probeReport struct {
	probe.Report
	subuid string
}

// canaryBody imports the image from stdin, waits for the file wait when it
// is named (a shell word: the check script creates it once it has listed
// the host's containers; two minutes at most), runs the probe the hardened
// way, tries it privileged (which userns-remap must refuse), and removes
// the image again. Sections are framed like the check sources; it exits 90
// when Docker would not take the image.
func canaryBody(tag, wait string) string {
	// The dockremap range is printed first, so the uid_map can be judged against it.
	hardened := "grep '^dockremap:' /etc/subuid; docker run --rm --read-only --cap-drop=ALL --tmpfs /tmp --pids-limit 64 --user 65534 --network none " + tag + " /probe"
	privileged := "docker run --rm --privileged --network none " + tag + " /probe"
	var b strings.Builder
	fmt.Fprintf(&b, "docker import - %s >/dev/null || exit 90\n", tag)
	if wait != "" {
		fmt.Fprintf(&b, "n=0; while [ ! -e %[1]s ] && [ $n -lt 240 ]; do sleep 0.5; n=$((n+1)); done\n", wait)
	}
	for _, s := range []struct{ id, cmd string }{
		{"canary-run", hardened}, {"canary-privileged", privileged},
	} {
		fmt.Fprintf(&b, "printf '\\n%s %s\\n'; (%s) 2>&1; printf '\\n%s-rc %s %%d\\n' $?\n", marker, s.id, s.cmd, marker, s.id)
	}
	fmt.Fprintf(&b, "docker rmi -f %s >/dev/null 2>&1; true\n", tag)
	return b.String()
}

// RunCanary runs the canary container on the host (one round trip, the
// image on stdin) and judges what the kernel showed it.
func RunCanary(ctx context.Context, r InputRunner, image []byte, tag string, e Expect) ([]Outcome, error) {
	res, err := r.RunInput(ctx, "sudo -n sh -c "+sshx.Quote(canaryBody(tag, "")), bytes.NewReader(image))
	if err != nil {
		return nil, fmt.Errorf("canary: %w", err)
	}
	outs := parse(res.Stdout)
	if res.ExitCode == 90 {
		outs = canaryImportFailed(res.Stdout + res.Stderr)
	}
	if err := canaryOutput(outs, res); err != nil {
		return nil, err
	}
	return judge(CanaryChecks(), outs, e), nil
}

// canaryImportFailed is the canary's outputs when the host answered but
// Docker would not take the image (refusing every request, say): the
// canary checks fail saying so.
func canaryImportFailed(printed string) map[string]Output {
	none := Output{Code: -1, Text: "the canary could not run: docker import failed: " + sshx.Short(printed)}
	return map[string]Output{"canary-run": none, "canary-privileged": none}
}

// canaryOutput fails when a canary section is missing from outs.
func canaryOutput(outs map[string]Output, res sshx.Result) error {
	for _, id := range []string{"canary-run", "canary-privileged"} {
		if _, ok := outs[id]; !ok {
			return fmt.Errorf("canary: no output for %s; the host printed: %s", id, sshx.Short(res.Stdout+res.Stderr))
		}
	}
	return nil
}

// readProbe parses the hardened run's output; the probe prints one JSON line.
func readProbe(o Output) (probeReport, string) {
	var p probeReport
	if o.Code != 0 {
		return p, fmt.Sprintf("the canary did not run (exit %d): %s", o.Code, orEmpty(o.Text))
	}
	lines := strings.Split(strings.TrimSpace(o.Text), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &p.Report); err != nil {
		return p, fmt.Sprintf("unreadable probe output %q", orEmpty(o.Text))
	}
	if f := strings.Split(lines[0], ":"); len(f) == 3 && f[0] == "dockremap" {
		p.subuid = lines[0]
	}
	return p, ""
}

func probeCheck(id, ref, title, hint string, judge func(p probeReport, e Expect) string) Check {
	return Check{ID: id, Reference: ref, Title: title, Severity: High, Source: "canary-run", Hint: hint,
		Judge: func(o Output, e Expect) string {
			p, err := readProbe(o)
			if err != "" {
				return err
			}
			return judge(p, e)
		}}
}

// CanaryChecks judge the canary container: they run only against a live
// container, read from inside it what the kernel enforces.
func CanaryChecks() []Check {
	return []Check{
		probeCheck("canary.uid-map", "CIS 2.9", "Container root maps to the dockremap range from /etc/subuid", `set "userns-remap": "default" and restart docker`,
			func(p probeReport, _ Expect) string {
				if p.subuid == "" {
					return "no dockremap range in /etc/subuid; uid_map is " + p.UIDMap
				}
				f := strings.Split(p.subuid, ":")
				if exp := "0 " + f[1] + " " + f[2]; p.UIDMap != exp {
					return fmt.Sprintf("uid_map is %q, want %q (from /etc/subuid)", p.UIDMap, exp)
				}
				return ""
			}),
		probeCheck("canary.seccomp", "CIS 5.22", "The canary runs under a seccomp filter", "do not disable seccomp (seccomp-profile, --security-opt seccomp=unconfined)",
			func(p probeReport, _ Expect) string { return want("Seccomp", p.Seccomp, "2") }),
		probeCheck("canary.no-new-privs", "CIS 5.26", "The canary cannot gain privileges", `set "no-new-privileges": true`,
			func(p probeReport, _ Expect) string { return want("NoNewPrivs", p.NoNewPrivs, "1") }),
		probeCheck("canary.cap-eff", "CIS 5.4", "The canary holds no capabilities with --cap-drop=ALL", "check the daemon's default capabilities",
			func(p probeReport, _ Expect) string { return want("CapEff", p.CapEff, "0000000000000000") }),
		probeCheck("canary.apparmor", "CIS 5.1", "The canary is confined by docker-default AppArmor", "install apparmor and restart docker",
			func(p probeReport, _ Expect) string {
				return want("AppArmor label", p.AppArmor, "docker-default (enforce)")
			}),
		probeCheck("canary.read-only", "CIS 5.12", "The canary cannot write its read-only root filesystem", "docker run --read-only must be honoured",
			func(p probeReport, _ Expect) string {
				if !strings.HasPrefix(p.RootWrite, "refused") {
					return "the root filesystem was writable"
				}
				return ""
			}),
		{ID: "canary.privileged-refused", Reference: "CIS 2.9", Title: "A --privileged container is refused", Severity: High, Source: "canary-privileged",
			Hint: `keep "userns-remap": "default" and fjord-authz; a privileged container is root on the host`,
			// fjord-authz refuses it before the daemon's userns-remap can;
			// without the plugin, userns-remap must.
			Judge: func(o Output, _ Expect) string {
				if o.Code == 0 {
					return "a --privileged container ran"
				}
				if !strings.Contains(o.Text, "privileged mode is incompatible with user namespaces") &&
					!strings.Contains(o.Text, "fjord policy rule privileged;") {
					return "refused, but neither by fjord-authz nor by userns-remap: " + orEmpty(o.Text)
				}
				return ""
			}},
	}
}

func want(what, got, exp string) string {
	if got != exp {
		return fmt.Sprintf("%s is %q, want %q", what, got, exp)
	}
	return ""
}
