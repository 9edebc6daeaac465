//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// guestTimes is what the guest says of its own boot, read over SSH: the
// critical chain to multi-user and cloud-init's stages.
const guestTimes = "systemd-analyze 2>/dev/null | head -1; systemd-analyze critical-chain --no-pager 2>/dev/null | sed -n '3,14p'; " +
	"echo 'slowest units:'; systemd-analyze blame --no-pager 2>/dev/null | head -8; " +
	"sudo cloud-init analyze show 2>/dev/null | grep -E '^(Starting stage|Finished stage)|Total Time' | head -12"

// BenchmarkGoldenImage builds a golden image from the stock image with
// Docker from a local mirror (once, then the same recipe again), and
// compares fjord apply → verified on it with virt-install --import
// --cloud-init → Docker answering with userns-remap on the image with
// Docker preinstalled, alternating; then fjord on the stock image.
func BenchmarkGoldenImage(b *testing.B) {
	ctx := context.Background()
	stock, mirror := artifact(b, "stock"), artifact(b, "mirror")
	sum, err := exec.Command("sha256sum", stock).Output()
	if err != nil {
		b.Fatal(err)
	}
	serveMirror(b, mirror)
	dir := filepath.Join(h.root, "e2e", "testdata", "bench-golden")
	vf := filepath.Join(h.work, "bench-golden.fjordvars")
	os.WriteFile(vf, []byte(fmt.Sprintf("stock_path = %q\nstock_sha256 = %q\nmirror = %q\n", stock, strings.Fields(string(sum))[0], "http://192.168.164.1:"+mirrorPort+"/debian")), 0o600)
	// args are the variable files, then extra (flags, and the directory last).
	args := func(extra ...string) []string {
		return append([]string{"-var-file", h.varFile, "-var-file", vf}, extra...)
	}
	destroy := func() {
		mustSucceed(b, "fjord destroy", measure(ctx, true, nil, append([]string{"destroy", "-auto-approve", "-json", "-shutdown-timeout", "1s"}, args(dir)...)...))
	}
	destroy()
	defer destroy()

	out("")
	out("## Golden image: build once, then fjord apply → verified against virt-install → Docker answering")
	first := measure(ctx, true, nil, append([]string{"image", "build", "-auto-approve", "-json", "-dir", dir}, args()...)...)
	mustSucceed(b, "fjord image build", first)
	again := measure(ctx, true, nil, append([]string{"image", "build", "-auto-approve", "-json", "-dir", dir}, args()...)...)
	mustSucceed(b, "fjord image build (same recipe)", again)
	sizes := ""
	if files, _ := filepath.Glob("/var/lib/fjord/pools/benchgold/fjord-benchgold-image-*.qcow2"); len(files) > 0 {
		for _, f := range files {
			var info struct {
				Actual  int64 `json:"actual-size"`
				Virtual int64 `json:"virtual-size"`
			}
			if o, err := exec.Command("qemu-img", "info", "-U", "--output=json", f).Output(); err == nil && json.Unmarshal(o, &info) == nil {
				sizes += fmt.Sprintf("%s %.0f MiB on disk (virtual %.1f GiB); ", filepath.Base(f), float64(info.Actual)/(1<<20), float64(info.Virtual)/(1<<30))
			}
		}
	}
	out("command: fjord image build -auto-approve -dir e2e/testdata/bench-golden (inside netns %s; the mirror served by the benchmark on the network's host address)", netns)
	out("  %-50s %8.1f s", "first build (import base, builder guest, manifest)", first.wall.Seconds())
	out("  %-50s %8.1f s", "second build, same recipe", again.wall.Seconds())
	out("  sizes: %s", strings.TrimSuffix(sizes, "; "))

	mustSucceed(b, "apply hosts=0", measure(ctx, true, nil, append([]string{"apply", "-auto-approve", "-json", "-var", "hosts=0"}, args(dir)...)...))
	// The baseline: the image with Docker preinstalled, daemon.json (with
	// userns-remap) in its user-data, Docker restarted to read it; ready
	// when docker info shows the remap.
	daemon := `{"userns-remap": "default", "live-restore": true, "icc": false, "no-new-privileges": true, "userland-proxy": false}`
	spec := baselineSpec{network: "benchgold", pool: "/var/lib/fjord/pools/benchgold", leasePrefix: "192.168.164.",
		userData: "write_files:\n  - path: /etc/docker/daemon.json\n    content: '" + daemon + "'\nruncmd:\n  - [systemctl, restart, docker]\n",
		ready:    "sudo docker info --format '{{json .SecurityOptions}}' 2>/dev/null | grep -q name=userns",
	}
	out("")
	out("## fjord → verified on the golden image against virt-install → Docker answering (userns-remap), alternating, %d rounds", benchRounds)
	out("baseline: qemu-img create -b bookworm-docker (root 6G) + data 10G + virt-install --import --cloud-init (daemon.json with userns-remap in user-data, runcmd systemctl restart docker) --vcpus 1 --memory 2048 --network network=benchgold; ready when ssh … docker info shows name=userns")
	out("fjord:    fjord apply -auto-approve -json -var hosts=1 e2e/testdata/bench-golden (image docker, built above): to exit (verified and sealed); then -var hosts=0")
	var base, baseSSH, fj, fjSSH, cpu []time.Duration
	var lastBase, lastFj string
	for r := 1; r <= benchRounds; r++ {
		spec.inside = ""
		if r == benchRounds {
			spec.inside = guestTimes
		}
		bl, inside, err := baselineOn(ctx, spec)
		if err != nil {
			b.Fatalf("baseline round %d: %v", r, err)
		}
		lastBase = inside
		m := measure(ctx, true, nil, append([]string{"apply", "-auto-approve", "-json", "-var", "hosts=1"}, args(dir)...)...)
		mustSucceed(b, "apply", m)
		if r == benchRounds {
			lastFj = fjordInside(ctx, dir, args())
		}
		mustSucceed(b, "apply hosts=0", measure(ctx, true, nil, append([]string{"apply", "-auto-approve", "-json", "-var", "hosts=0"}, args(dir)...)...))
		base, fj, fjSSH, cpu = append(base, bl), append(fj, m.wall), append(fjSSH, m.ready("ssh")), append(cpu, m.cpu)
		out("  round %d: virt-install → Docker answering %6.1f s   fjord → verified %6.1f s (address %.1f s, ssh at %.1f s, cloud-init %.1f s, verify %.1f s), CPU %.2f s",
			r, bl.Seconds(), m.wall.Seconds(), phase(m, "address").Seconds(), m.ready("ssh").Seconds(), phase(m, "cloud-init").Seconds(), phase(m, "verify").Seconds(), m.cpu.Seconds())
	}
	// SSH-ready of the baseline, for the second ratio: the same guest
	// without waiting for Docker.
	for r := 1; r <= benchRounds; r++ {
		bl, _, err := baselineOn(ctx, baselineSpec{network: spec.network, pool: spec.pool, leasePrefix: spec.leasePrefix, userData: spec.userData})
		if err != nil {
			b.Fatalf("baseline SSH round %d: %v", r, err)
		}
		baseSSH = append(baseSSH, bl)
	}
	ratio := float64(median(fj)) / float64(median(base))
	sshRatio := float64(median(fjSSH)) / float64(median(baseSSH))
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	out("median: virt-install → Docker answering %s, fjord → verified %s: ratio %.2f (target ≤ 0.8: %s; stretch ≤ 0.6: %s)", secs(median(base)), secs(median(fj)), ratio, met(ratio <= 0.8), met(ratio <= 0.6))
	out("median to SSH-ready: virt-install %s, fjord %s: ratio %.2f", secs(median(baseSSH)), secs(median(fjSSH)), sshRatio)
	out("fjord's own CPU per host applied: median %.2f s (target ≤ 0.5 s: %s)", median(cpu).Seconds(), met(median(cpu) <= 500*time.Millisecond))

	st := measure(ctx, true, nil, append([]string{"apply", "-auto-approve", "-json", "-var", "hosts=1", "-var", "image=stock"}, args(dir)...)...)
	mustSucceed(b, "apply on the stock image", st)
	stockInside := fjordInside(ctx, dir, args("-var", "image=stock"))
	out("fjord → verified on the stock image (Docker installed at first boot from the mirror): %s (cloud-init %.1f s, verify %.1f s)", secs(st.wall), phase(st, "cloud-init").Seconds(), phase(st, "verify").Seconds())
	mustSucceed(b, "apply hosts=0", measure(ctx, true, nil, append([]string{"apply", "-auto-approve", "-json", "-var", "hosts=0", "-var", "image=stock"}, args(dir)...)...))

	for _, g := range []struct{ what, text string }{{"virt-install guest (bookworm-docker)", lastBase}, {"fjord host on the golden image", lastFj}, {"fjord host on the stock image", stockInside}} {
		out("inside the %s (systemd-analyze, critical chain, cloud-init analyze show):", g.what)
		for _, line := range strings.Split(strings.TrimSpace(g.text), "\n") {
			out("    %s", line)
		}
	}
	b.ReportMetric(ratio, "fjord-verified/virt-install-docker")
	b.ReportMetric(median(cpu).Seconds(), "fjord-CPU-s/host")
}

// fjordInside reads guestTimes on node-0 with fjord ssh.
func fjordInside(ctx context.Context, dir string, args []string) string {
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", netns, h.bin, "ssh", "-dir", dir}, append(args, "node-0", "--", guestTimes)...)...)
	c.Dir = h.work
	o, err := c.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(fjord ssh: %v) %s", err, o)
	}
	return string(o)
}
