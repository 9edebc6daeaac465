//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/sshx"
)

const fleetProject = "fleet"

// hv2 runs e2e/scripts/hv2.sh.
func hv2(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", append([]string{filepath.Join(h.root, "e2e", "scripts", "hv2.sh")}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("hv2.sh %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// fleetObjects counts what project fleet owns on one hypervisor, read
// with virsh through run (the local daemon, or the second one).
func fleetObjects(t *testing.T, run func(args ...string) string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, d := range strings.Fields(run("list", "--all", "--name")) {
		if strings.HasPrefix(d, fleetProject+"-") {
			n["domains"]++
		}
	}
	for _, p := range strings.Fields(run("pool-list", "--all", "--name")) {
		if p == fleetProject {
			n["pools"]++
			for _, line := range strings.Split(run("vol-list", p), "\n") {
				if strings.Contains(line, "fjord-"+fleetProject+"-") && !strings.Contains(line, "pool.owner") {
					n["volumes"]++
				}
			}
		}
	}
	for _, net := range strings.Fields(run("net-list", "--all", "--name")) {
		if net == fleetProject {
			n["networks"]++
		}
	}
	return n
}

func fingerprint(t *testing.T, authorizedKey string) string {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

// applyWatching runs apply -json and calls at once for the first event
// of object and phase with status; it returns the output and exit code.
func applyWatching(ctx context.Context, t *testing.T, cfg []string, object, phase, status string, at func()) result {
	t.Helper()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", netns, h.bin, "apply", "-auto-approve", "-json"}, cfg...)...)
	c.Dir = h.work
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	fired := false
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		var line struct {
			Event *struct{ Object, Phase, Status string } `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Event != nil && !fired &&
			line.Event.Object == object && line.Event.Phase == phase && line.Event.Status == status {
			fired = true
			at()
		}
	}
	r := result{out: all.String(), err: stderr.String()}
	if err := c.Wait(); err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	if !fired {
		t.Errorf("apply never reported %s %s %s", object, phase, status)
	}
	return r
}

// TestRemoteFleet spreads a host block over this machine's libvirtd and a
// second hypervisor that is reachable only over SSH: a wrong pinned key is
// refused before anything changes; the second hypervisor vanishing
// mid-apply fails only its host and the next apply converges; the remote
// guest is reached through its hypervisor (fjord ssh, OpenSSH, Docker),
// rebuilt with its identity, and everything is destroyed on both.
func TestRemoteFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	t0 := time.Now()
	hostKey := strings.TrimSpace(hv2(t, "start", h.key+".pub"))
	t.Cleanup(func() { exec.Command("bash", filepath.Join(h.root, "e2e", "scripts", "hv2.sh"), "stop").Run() })
	t.Logf("second hypervisor up in %.1fs", time.Since(t0).Seconds())
	hv2virsh := func(args ...string) string { return hv2(t, append([]string{"virsh"}, args...)...) }
	localVirsh := func(args ...string) string { return virsh(t, args...) }

	dir := filepath.Join(h.root, "e2e", "testdata", "fleet")
	varFile := func(key string) string {
		f := filepath.Join(h.work, fmt.Sprintf("fleet-%d.fjordvars", time.Now().UnixNano()))
		os.WriteFile(f, []byte(fmt.Sprintf("hv2_host_key = %q\n", key)), 0o600)
		return f
	}
	cfg := []string{"-var-file", h.varFile, "-var-file", varFile(hostKey), dir}
	if r := fjord(ctx, append([]string{"destroy", "-auto-approve", "-shutdown-timeout", "1s"}, cfg...)...); r.code != 0 {
		t.Fatalf("destroy before the test: exit %d\n%s%s", r.code, r.out, r.err)
	}
	nothing := func(when string) {
		t.Helper()
		if n := fleetObjects(t, localVirsh); len(n) != 0 {
			t.Errorf("%s: local hypervisor has %v of project fleet", when, n)
		}
		if n := fleetObjects(t, hv2virsh); len(n) != 0 {
			t.Errorf("%s: hv2 has %v of project fleet", when, n)
		}
	}

	t.Run("a swapped hypervisor key is refused with both fingerprints, nothing changed", func(t *testing.T) {
		other, _ := sshx.NewHostKey()
		wrong := []string{"-var-file", h.varFile, "-var-file", varFile(other.Public), dir}
		r := fjord(ctx, append([]string{"apply", "-auto-approve"}, wrong...)...)
		if r.code == 0 {
			t.Fatalf("apply with a wrong pinned hypervisor key succeeded:\n%s", r.out)
		}
		for _, want := range []string{`hypervisor "hv2"`, fingerprint(t, other.Public), fingerprint(t, hostKey)} {
			if !strings.Contains(r.err, want) {
				t.Errorf("refusal lacks %q:\n%s", want, r.err)
			}
		}
		nothing("after the refused apply")
	})

	t.Run("a fleet that fits nowhere is refused with each hypervisor's shortfall", func(t *testing.T) {
		r := fjord(ctx, append([]string{"plan", "-var", "memory=4TiB"}, cfg...)...)
		if r.code == 0 {
			t.Fatalf("plan of two 4 TiB hosts succeeded:\n%s", r.out)
		}
		for _, want := range []string{`host "ci-0" fits on none of its hypervisors`, "local has ", "hv2 has ", "of memory free, the host needs 4096.0 GiB"} {
			if !strings.Contains(r.err, want) {
				t.Errorf("refusal lacks %q:\n%s", want, r.err)
			}
		}
		nothing("after the refused plan")

		// require_nvme is judged on each hypervisor's own disks: hv2's
		// through its SSH connection (this machine has no NVMe disk).
		if provision.CheckNVMe("/var/lib/fjord", "/sys") == nil {
			t.Log("this machine's /var/lib/fjord is on NVMe: the refusal cannot be shown here")
			return
		}
		r = fjord(ctx, append([]string{"plan", "-var", "require_nvme=true"}, cfg...)...)
		for _, want := range []string{`pool "fleet" on local has require_nvme = true`, `pool "fleet" on hv2 has require_nvme = true`, "which is not NVMe"} {
			if r.code == 0 || !strings.Contains(r.err, want) {
				t.Errorf("require_nvme refusal (exit %d) lacks %q:\n%s", r.code, want, r.err)
			}
		}
	})

	var remoteHost string
	t.Run("hypervisor gone mid-apply fails only its host; the next apply converges", func(t *testing.T) {
		r := fjord(ctx, append([]string{"plan", "-json"}, cfg...)...)
		var plan struct {
			Changes []struct{ Kind, Name, Hypervisor, Action string }
		}
		if err := json.Unmarshal([]byte(r.out), &plan); err != nil {
			t.Fatalf("plan -json: %v\n%s%s", err, r.out, r.err)
		}
		where := map[string]string{}
		for _, c := range plan.Changes {
			if c.Kind == "host" && c.Action == "create" {
				where[c.Name] = c.Hypervisor
			}
		}
		if where["ci-0"] != "local" || where["ci-1"] != "hv2" {
			t.Fatalf("placement %v, want ci-0 on local and ci-1 on hv2", where)
		}
		remoteHost = "ci-1"
		t1 := time.Now()
		var killed time.Time
		r = applyWatching(ctx, t, cfg, "host.ci-1", "ssh", "done", func() {
			hv2(t, "sshd-kill")
			killed = time.Now()
		})
		t.Logf("apply with hv2 gone: exit %d in %.1fs (%.1fs after sshd died)", r.code, time.Since(t1).Seconds(), time.Since(killed).Seconds())
		ao := parseApply(t, r.out)
		res := map[string]string{}
		for _, hr := range ao.hosts {
			res[hr.Host] = hr.Error
		}
		if r.code == 0 || res["ci-0"] != "" || res["ci-1"] == "" {
			t.Fatalf("want ci-0 done and ci-1 failed, got exit %d, errors %q\n%s%s", r.code, res, r.out, r.err)
		}
		t.Logf("ci-1 failed with: %s", res["ci-1"])

		hv2(t, "sshd-start")
		t2 := time.Now()
		r = fjord(ctx, append([]string{"apply", "-auto-approve", "-json"}, cfg...)...)
		ao = parseApply(t, r.out)
		if r.code != 0 {
			t.Fatalf("apply after hv2 came back: exit %d\n%s%s", r.code, r.out, r.err)
		}
		t.Logf("converging apply %.1fs; phases %v", time.Since(t2).Seconds(), ao.phases)
		r = fjord(ctx, append([]string{"plan", "-detailed-exitcode"}, cfg...)...)
		if r.code != 0 {
			t.Errorf("plan after converging: exit %d\n%s%s", r.code, r.out, r.err)
		}
		if n := fleetObjects(t, hv2virsh); n["domains"] != 1 || n["networks"] != 1 || n["pools"] != 1 {
			t.Errorf("hv2 holds %v, want one domain, network and pool", n)
		}
		if n := fleetObjects(t, localVirsh); n["domains"] != 1 {
			t.Errorf("local holds %v, want one domain", n)
		}
	})
	if remoteHost == "" {
		t.FailNow()
	}

	t.Run("the remote guest is reached through its hypervisor", func(t *testing.T) {
		// Not routed from fjord's namespace: only through hv2.
		addr := strings.TrimSpace(fjord(ctx, append([]string{"verify", "-json"}, cfg...)...).out)
		var rep struct {
			Hosts []struct {
				Host, Address, Hypervisor string
				Checks                    []struct{ ID, Status string }
			}
		}
		if err := json.Unmarshal([]byte(addr), &rep); err != nil {
			t.Fatalf("verify -json: %v\n%s", err, addr)
		}
		for _, hr := range rep.Hosts {
			for _, c := range hr.Checks {
				if c.Status == "fail" {
					t.Errorf("verify %s (on %s): %s failed", hr.Host, hr.Hypervisor, c.ID)
				}
			}
			if hr.Host == remoteHost {
				out, err := exec.Command("ip", "netns", "exec", netns, "bash", "-c", "exec 3<>/dev/tcp/"+hr.Address+"/22").CombinedOutput()
				if err == nil {
					t.Errorf("remote guest %s answers on %s from fjord's namespace directly: it should be reachable only through hv2", hr.Host, hr.Address)
				}
				t.Logf("direct connection to %s: %s", hr.Address, strings.TrimSpace(string(out)))
			}
		}
		r := fjord(ctx, "ssh", "-dir", dir, "-var-file", h.varFile, "-var-file", cfg[3], remoteHost, "--", "hostname")
		if r.code != 0 || strings.TrimSpace(r.out) != remoteHost {
			t.Errorf("fjord ssh %s -- hostname: exit %d, %q %s", remoteHost, r.code, r.out, r.err)
		}
		// fjord output: libvirt's record of both hosts, the remote one with its jump.
		r = fjord(ctx, append([]string{"output", "-json"}, cfg...)...)
		var outp struct {
			Hosts []struct {
				Host, Hypervisor, Address string
				Jump                      *struct{ Hypervisor, Address string }
			}
		}
		if err := json.Unmarshal([]byte(r.out), &outp); err != nil || len(outp.Hosts) != 2 {
			t.Errorf("fjord output -json: %v\n%s%s", err, r.out, r.err)
		}
		for _, o := range outp.Hosts {
			if remote := o.Host == remoteHost; remote != (o.Jump != nil) || remote && (o.Hypervisor != "hv2" || o.Jump.Address != "10.77.0.2:22") {
				t.Errorf("fjord output: %s on %s, jump %+v", o.Host, o.Hypervisor, o.Jump)
			}
		}
		alias := fleetProject + "-" + remoteHost
		if out, err := exec.Command("ip", "netns", "exec", netns, "ssh", "-o", "BatchMode=yes", alias, "id", "-un").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "admin" {
			t.Errorf("ssh %s id -un (OpenSSH, ProxyCommand through hv2): %v %s", alias, err, out)
		}
		if _, err := exec.LookPath("docker"); err == nil {
			out, err := exec.Command("ip", "netns", "exec", netns, "docker", "--context", alias, "info", "--format", "{{json .SecurityOptions}}").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "name=userns") {
				t.Errorf("docker --context %s info: %v\n%s", alias, err, out)
			}
		} else {
			t.Log("no docker CLI on this machine: the Docker context is not exercised")
		}
	})

	t.Run("rebuild of the remote host keeps its identity and replaces its disk", func(t *testing.T) {
		sshRemote := func(cmd ...string) string {
			r := fjord(ctx, append([]string{"ssh", "-dir", dir, "-var-file", h.varFile, "-var-file", cfg[3], remoteHost, "--"}, cmd...)...)
			if r.code != 0 {
				t.Fatalf("fjord ssh %s: exit %d %s", remoteHost, r.code, r.err)
			}
			return strings.TrimSpace(r.out)
		}
		sshRemote("sudo", "touch", "/var/tmp/before-rebuild")
		before := hv2virsh("dumpxml", fleetProject+"-"+remoteHost)
		t1 := time.Now()
		r := fjord(ctx, "rebuild", "-auto-approve", "-dir", dir, "-var-file", h.varFile, "-var-file", cfg[3], remoteHost)
		t.Logf("remote rebuild %.1fs", time.Since(t1).Seconds())
		if r.code != 0 {
			t.Fatalf("rebuild: exit %d\n%s%s", r.code, r.out, r.err)
		}
		after := hv2virsh("dumpxml", fleetProject+"-"+remoteHost)
		if uuid := between(before, "<uuid>", "</uuid>"); uuid == between(after, "<uuid>", "</uuid>") {
			t.Errorf("rebuild kept the domain (uuid %s): it should be a new guest", uuid)
		}
		if mac := between(before, "<mac address='", "'"); mac != between(after, "<mac address='", "'") {
			t.Errorf("rebuild changed the MAC: %s → %s", mac, between(after, "<mac address='", "'"))
		}
		// The pinned host key is the same: OpenSSH with fjord's known_hosts still connects.
		alias := fleetProject + "-" + remoteHost
		if out, err := exec.Command("ip", "netns", "exec", netns, "ssh", "-o", "BatchMode=yes", alias, "true").CombinedOutput(); err != nil {
			t.Errorf("ssh %s after rebuild: %v %s", alias, err, out)
		}
		if out := sshRemote("sh", "-c", "'test -e /var/tmp/before-rebuild && echo kept || echo fresh'"); out != "fresh" {
			t.Errorf("the root disk survived the rebuild: %s", out)
		}
	})

	t.Run("a rolling apply stops at the first host's failure and leaves the second untouched", func(t *testing.T) {
		// An sshd option sshd -t refuses: ci-0 (first in the configuration's
		// order) refuses it and keeps its drop-in; ci-1 is never touched.
		vf := filepath.Join(h.work, "fleet-broken.fjordvars")
		os.WriteFile(vf, []byte(fmt.Sprintf("hv2_host_key = %q\nsshd_options = { MaxSessions = \"many\" }\n", hostKey)), 0o600)
		broken := []string{"-var-file", h.varFile, "-var-file", vf, dir}
		r := fjord(ctx, append([]string{"plan"}, broken...)...)
		if !strings.Contains(r.out, "0 to create, 2 to update, 0 to replace") {
			t.Fatalf("plan of the sshd change:\n%s%s", r.out, r.err)
		}
		ssh := func(host string) string {
			r := fjord(ctx, "ssh", "-dir", dir, "-var-file", h.varFile, "-var-file", cfg[3], host, "--", "sudo", "cat", "/etc/ssh/sshd_config.d/10-fjord.conf")
			if r.code != 0 {
				t.Fatalf("fjord ssh %s: exit %d %s", host, r.code, r.err)
			}
			return r.out
		}
		before := ssh("ci-1")
		t1 := time.Now()
		r = fjord(ctx, append([]string{"apply", "-auto-approve", "-rolling", "-max-unavailable", "1"}, broken...)...)
		t.Logf("rolling apply stopped after %.1fs:\n%s", time.Since(t1).Seconds(), tail(r.out, 6))
		if r.code == 0 || !strings.Contains(r.out, "The rolling apply stopped: ci-0 failed after 0 host(s) were done; not touched: ci-1.") {
			t.Errorf("rolling apply with a broken first host: exit %d\n%s%s", r.code, r.out, r.err)
		}
		if !strings.Contains(r.out+r.err, "is refused (sshd -t); the previous file is back") {
			t.Errorf("the first host's failure is not sshd -t's refusal:\n%s%s", r.out, r.err)
		}
		if after := ssh("ci-1"); after != before || strings.Contains(after, "MaxSessions") {
			t.Errorf("ci-1 was touched:\n%s", after)
		}
		if got := ssh("ci-0"); strings.Contains(got, "MaxSessions") {
			t.Errorf("ci-0 kept the refused option:\n%s", got)
		}
		if r := fjord(ctx, append([]string{"plan"}, broken...)...); !strings.Contains(r.out, "0 to create, 2 to update, 0 to replace") {
			t.Errorf("after the stop, both hosts are not still to update:\n%s%s", r.out, r.err)
		}
	})

	t1 := time.Now()
	if r := fjord(ctx, append([]string{"destroy", "-auto-approve"}, cfg...)...); r.code != 0 {
		t.Fatalf("destroy: exit %d\n%s%s", r.code, r.out, r.err)
	}
	t.Logf("destroy over both hypervisors %.1fs", time.Since(t1).Seconds())
	nothing("after destroy")
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
