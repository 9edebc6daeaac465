//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The e2e LAN, all inside namespaces the test makes: bridge fjlan0 in
// fjord's namespace stands for the physical network (fjord, on the
// hypervisor's side, is 10.20.0.1 on it), and namespace fjlan-client is a
// machine on that network with two addresses: an admin's (.50) and
// another's (.60).
const (
	lanNS       = "fjlan-client"
	lanBridge   = "fjlan0"
	lanHost     = "10.20.0.21"
	lanAdmin    = "10.20.0.50"
	lanOther    = "10.20.0.60"
	lanBackendC = "192.168.71.0/24"
)

// dialEnv makes the test binary a TCP client (see dialHelper): run in the
// client namespace, it connects from one address to another and reports.
const dialEnv = "FJORD_E2E_DIAL"

// dialHelper runs instead of the tests when dialEnv is set to
// "SOURCE DEST:PORT": it connects from SOURCE and prints "open LINE" with
// the first line the server sent, or "closed ERROR".
func dialHelper() bool {
	spec := os.Getenv(dialEnv)
	if spec == "" {
		return false
	}
	src, dst, _ := strings.Cut(spec, " ")
	d := net.Dialer{Timeout: 4 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		fmt.Println("closed", err)
		return true
	}
	c.SetReadDeadline(time.Now().Add(4 * time.Second))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	c.Close()
	fmt.Println("open", strings.TrimSpace(string(buf[:n])))
	return true
}

// fromClient connects from src (an address of the client namespace) to dst.
func fromClient(t *testing.T, src, dst string) string {
	t.Helper()
	out, err := dialFromClient(src, dst)
	if err != nil {
		t.Fatalf("dial %s → %s: %v", src, dst, err)
	}
	return out
}

// openedFromClient is fromClient for a port that a service being started
// opens: a refused connection is tried again, every half second for up
// to 30 s (a container's server listens a moment after docker run -d
// returns); what the last try saw is returned.
func openedFromClient(t *testing.T, src, dst string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := fromClient(t, src, dst)
		if !strings.Contains(got, "connection refused") || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// dialFromClient is fromClient for another goroutine than the test's.
func dialFromClient(src, dst string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	c := exec.Command("ip", "netns", "exec", lanNS, self)
	c.Env = append(os.Environ(), dialEnv+"="+src+" "+dst)
	out, err := c.Output()
	return strings.TrimSpace(string(out)), err
}

// apiWatch runs on the host as root: a line "UNIXTIME up|down" every
// 0.2 s, as the Docker API answers GET /_ping with 200 or not (one
// process for the whole watch: a docker command each time would cost the
// emulated guest more than what is measured).
const apiWatch = `import socket, time
while True:
    up = False
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect("/run/docker.sock")
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        up = s.recv(64).split(b" ")[1:2] == [b"200"]
    except OSError:
        pass
    s.close()
    print("%.3f %s" % (time.time(), "up" if up else "down"), flush=True)
    time.sleep(0.2)
`

// watchedApply applies cfg (-json) while watchOutages runs, stops the
// test if the apply fails, and logs its time, its phases and the outages.
func watchedApply(t *testing.T, g *guest, what string, cfg []string) {
	t.Helper()
	start := time.Now()
	stop := watchOutages(t, g)
	r := fjord(context.Background(), append([]string{"apply", "-auto-approve", "-json"}, cfg...)...)
	outages := stop()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", what, r.code, r.out, r.err)
	}
	t.Logf("%s: applied and verified in %.1fs; phases %v; meanwhile %s", what, time.Since(start).Seconds(), parseApply(t, r.out).phases, outages)
}

// watchOutages watches, while an apply runs, what the host's users reach:
// its Docker API (on the host), and from the admin's LAN address its SSH
// port and the published port 8080. stop returns, for each, the longest
// time it did not answer ("0 s" when every sample answered; samples are
// about 0.25 s apart).
func watchOutages(t *testing.T, g *guest) (stop func() string) {
	t.Helper()
	g.runInput(t, "sudo tee /var/tmp/fjord-e2e-watch.py >/dev/null", []byte(apiWatch))
	g.run(t, "sudo sh -c 'nohup python3 /var/tmp/fjord-e2e-watch.py >/var/tmp/fjord-e2e-api.log 2>&1 </dev/null & echo $! >/var/tmp/fjord-e2e-watch.pid'")
	var mu sync.Mutex
	samples := map[string][]outageSample{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, dst := range []string{lanHost + ":22", lanHost + ":8080"} {
		wg.Add(1)
		go func(dst string) {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-time.After(250 * time.Millisecond):
				}
				out, err := dialFromClient(lanAdmin, dst)
				up := err == nil && strings.HasPrefix(out, "open ") && len(out) > len("open ")
				mu.Lock()
				samples[dst] = append(samples[dst], outageSample{time.Now(), up})
				mu.Unlock()
			}
		}(dst)
	}
	return func() string {
		close(done)
		wg.Wait()
		log := g.run(t, "sudo sh -c 'kill $(cat /var/tmp/fjord-e2e-watch.pid); cat /var/tmp/fjord-e2e-api.log; rm -f /var/tmp/fjord-e2e-watch.* /var/tmp/fjord-e2e-api.log'")
		var api []outageSample
		for _, line := range strings.Split(log, "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			sec, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				continue
			}
			api = append(api, outageSample{time.Unix(0, int64(sec*1e9)), f[1] == "up"})
		}
		return fmt.Sprintf("Docker API down at most %s (%d samples), SSH %s (%d), published port 8080 %s (%d)",
			longestOutage(api), len(api), longestOutage(samples[lanHost+":22"]), len(samples[lanHost+":22"]),
			longestOutage(samples[lanHost+":8080"]), len(samples[lanHost+":8080"]))
	}
}

type outageSample struct {
	at time.Time
	up bool
}

// longestOutage is the longest run of samples that did not answer, from
// the first of them to the next that did (or the last sample).
func longestOutage(ss []outageSample) string {
	var longest time.Duration
	var start time.Time
	for i, s := range ss {
		switch {
		case !s.up && start.IsZero():
			start = s.at
		case s.up && !start.IsZero():
			longest = max(longest, s.at.Sub(start))
			start = time.Time{}
		}
		if i == len(ss)-1 && !start.IsZero() {
			longest = max(longest, s.at.Sub(start))
		}
	}
	return fmt.Sprintf("%.1f s", longest.Seconds())
}

func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("bash", "-ec", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// lanUp builds the LAN; its cleanup removes it (after fjord's own
// cleanup, registered later, has destroyed the host).
func lanUp(t *testing.T) {
	lanDown()
	sh(t, fmt.Sprintf(`
ip netns exec %[1]s ip link add %[2]s type bridge
ip netns exec %[1]s ip addr add 10.20.0.1/24 dev %[2]s
ip netns exec %[1]s ip link set %[2]s up
ip netns add %[3]s
ip netns exec %[3]s ip link set lo up
ip link add fjlan-c0 netns %[1]s type veth peer name lan0 netns %[3]s
ip netns exec %[1]s ip link set fjlan-c0 master %[2]s up
ip netns exec %[3]s ip addr add %[4]s/24 dev lan0
ip netns exec %[3]s ip addr add %[5]s/24 dev lan0
ip netns exec %[3]s ip link set lan0 up
# The backend network is behind the host: a client that tries routes it there.
ip netns exec %[3]s ip route add %[6]s via %[7]s
`, netns, lanBridge, lanNS, lanAdmin, lanOther, lanBackendC, lanHost))
	t.Cleanup(lanDown)
}

func lanDown() {
	exec.Command("ip", "netns", "del", lanNS).Run()
	exec.Command("ip", "netns", "exec", netns, "ip", "link", "del", lanBridge).Run()
}

// probeImage is a Docker image (a tar for docker import) holding only the
// fjord-probe program, which serves a port with -serve.
func probeImage(t *testing.T) []byte {
	t.Helper()
	bin, err := os.ReadFile(filepath.Join(h.root, "canary", "probe.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "probe", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	return b.Bytes()
}

// TestLAN puts a host on a bridged LAN with a static address and an
// isolated backend NIC, and proves from a machine on that LAN what reaches
// it: SSH from an admin address only, the declared published port, not an
// undeclared one, not the Docker API, not the backend NIC; then that each
// exposure check fails when its rule is taken away on the live host.
func TestLAN(t *testing.T) {
	dir := filepath.Join(h.root, "e2e", "testdata", "lan")
	cfg := []string{"-var-file", h.varFile, dir}
	destroy := func() {
		if r := fjord(context.Background(), "destroy", "-auto-approve", "-shutdown-timeout", "1s", "-var-file", h.varFile, dir); r.code != 0 {
			t.Errorf("destroy: exit %d\n%s%s", r.code, r.out, r.err)
		}
	}
	lanUp(t)
	destroy()
	t.Cleanup(destroy)

	// A bridge the hypervisor does not have: refused by plan, naming the
	// file and line, the network, the hypervisor and the host; nothing made.
	r := fjord(context.Background(), "plan", "-var", "bridge=fjnone0", "-var-file", h.varFile, dir)
	if r.code == 0 || !strings.Contains(r.err, "main.hcl:") || !strings.Contains(r.err, `network "lan": hypervisor local has no bridge fjnone0, which hosts web`) {
		t.Fatalf("plan with a missing bridge: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if n := virsh(t, "list", "--all", "--name"); strings.Contains(n, "lan-web") {
		t.Fatalf("a domain was made: %s", n)
	}

	// The plan shows the addresses before anything boots.
	r = fjord(context.Background(), append([]string{"plan"}, cfg...)...)
	if r.code != 0 || !strings.Contains(r.out, "fj0 10.20.0.21 on lan (static)") || !strings.Contains(r.out, "fj1 192.168.71.") {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.out, r.err)
	}

	start := time.Now()
	r = fjord(context.Background(), append([]string{"apply", "-auto-approve", "-json"}, cfg...)...)
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.out, r.err)
	}
	t.Logf("apply → verified on the LAN: %.1fs", time.Since(start).Seconds())
	hostKey := ""
	for _, line := range strings.Split(r.out, "\n") {
		var ev struct {
			Result *struct {
				Hosts []struct {
					HostKey string `json:"host_key"`
					Address string `json:"address"`
				} `json:"hosts"`
			} `json:"result"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Result != nil && len(ev.Result.Hosts) == 1 {
			hostKey = ev.Result.Hosts[0].HostKey
			if ev.Result.Hosts[0].Address != lanHost {
				t.Errorf("host address = %s, want the static %s", ev.Result.Hosts[0].Address, lanHost)
			}
		}
	}
	if hostKey == "" {
		t.Fatalf("no host key in apply's result:\n%s", r.out)
	}
	g := &guest{addr: lanHost, user: "admin", hostKey: hostKey}
	if out := g.run(t, "ip -br addr show fj0; ip -br addr show fj1; ip route show default"); !strings.Contains(out, "fj0") || !strings.Contains(out, lanHost+"/24") ||
		!strings.Contains(out, "fj1") || !strings.Contains(out, "default via 10.20.0.1 dev fj0") {
		t.Errorf("the guest's interfaces:\n%s", out)
	}
	backend := strings.Fields(g.run(t, "ip -4 -br addr show fj1 | awk '{print $3}' | cut -d/ -f1"))
	if len(backend) != 1 {
		t.Fatalf("no backend address")
	}

	// SSH from the admin's address on the LAN, with the pinned key; from
	// another address on the LAN it gets no answer.
	kh := filepath.Join(h.work, "known_hosts.lan")
	os.WriteFile(kh, []byte(lanHost+" "+hostKey+"\n"), 0o600)
	ssh := func(src string) error {
		return exec.Command("ip", "netns", "exec", lanNS, "ssh", "-b", src, "-i", h.key, "-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "admin@"+lanHost, "true").Run()
	}
	if err := ssh(lanAdmin); err != nil {
		t.Errorf("ssh from the admin address %s: %v", lanAdmin, err)
	}
	if err := ssh(lanOther); err == nil {
		t.Errorf("ssh from %s, outside admin_sources, was let in", lanOther)
	}

	// Containers: 8080 is declared, 9090 is not. The guest has no
	// registry: the image is fjord-probe alone, imported over SSH.
	imp := exec.Command("ip", "netns", "exec", netns, "ssh", "-i", h.key, "-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"admin@"+lanHost, "sudo docker import - fjord-e2e-web >/dev/null")
	imp.Stdin = bytes.NewReader(probeImage(t))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	run := "sudo docker run -d --read-only --user 10001 --pids-limit 32 --name %s -p %d:8080 fjord-e2e-web /probe -serve 8080"
	g.run(t, fmt.Sprintf(run, "declared", 8080))
	g.run(t, fmt.Sprintf(run, "undeclared", 9090))
	// Both serve: the host reaches each through Docker's own DNAT.
	for _, port := range []int{8080, 9090} {
		if out := g.run(t, fmt.Sprintf("timeout 5 bash -c 'exec 3<>/dev/tcp/%s/%d; head -1 <&3'", lanHost, port)); !strings.Contains(out, "fjord-probe") {
			t.Fatalf("port %d does not serve on the host itself: %q", port, out)
		}
	}
	type reach struct {
		src, dst, want, why string
	}
	outside := []reach{
		{lanAdmin, lanHost + ":8080", "open fjord-probe", "the declared published port"},
		{lanOther, lanHost + ":8080", "open fjord-probe", "the declared published port, from anyone on the LAN"},
		{lanAdmin, lanHost + ":9090", "closed", "an undeclared published port"},
		{lanAdmin, lanHost + ":2375", "closed", "the Docker API"},
		{lanAdmin, lanHost + ":2376", "closed", "the Docker API (TLS)"},
		{lanAdmin, backend[0] + ":8080", "closed", "the published port on the backend NIC"},
		{lanOther, backend[0] + ":22", "closed", "SSH on the backend NIC"},
	}
	for _, c := range outside {
		if got := fromClient(t, c.src, c.dst); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s from %s to %s: %s, want %s", c.why, c.src, c.dst, got, c.want)
		}
	}

	// fjord verify names the undeclared published port, and the probe
	// from fjord's side of the LAN finds nothing undeclared open.
	ids := lanVerify(t, cfg)
	if strings.Join(ids, ",") != "network.published" {
		t.Errorf("with an undeclared published port (blocked by the firewall): failing %v, want [network.published]", ids)
	}

	// Each exposure check fails when its rule goes on the live host, and
	// passes again when fjord's rules are back.
	mutations := []struct {
		name, break_, want string
		reachable          reach
	}{
		{"DOCKER-USER bypassed", "sudo iptables -I DOCKER-USER -j RETURN",
			"exposure.undeclared,firewall.docker-user,network.published", reach{lanAdmin, lanHost + ":9090", "open", ""}},
		{"INPUT accepting, a service on the host", "sudo iptables -P INPUT ACCEPT && (sudo setsid -f python3 -m http.server 8000 >/dev/null 2>&1 </dev/null) && sleep 2",
			"exposure.undeclared,firewall.input,network.listeners,network.published", reach{lanOther, lanHost + ":8000", "open", ""}},
		{"Docker API port answering", "sudo iptables -I DOCKER-USER -j RETURN && sudo docker run -d --read-only --user 10001 --pids-limit 32 --name api -p 2375:8080 fjord-e2e-web /probe -serve 8080",
			"exposure.docker-api,exposure.undeclared,firewall.docker-user,network.published", reach{lanAdmin, lanHost + ":2375", "open", ""}},
	}
	for _, m := range mutations {
		g.run(t, m.break_)
		if got := openedFromClient(t, m.reachable.src, m.reachable.dst); !strings.HasPrefix(got, m.reachable.want) {
			t.Errorf("%s: %s from %s: %s (the mutation did not open it)", m.name, m.reachable.dst, m.reachable.src, got)
		}
		if ids := lanVerify(t, cfg); strings.Join(ids, ",") != m.want {
			t.Errorf("%s: failing %v, want [%s]", m.name, ids, m.want)
		}
		g.run(t, "sudo pkill -f '[h]ttp.server 8000' || true; sudo docker rm -f api >/dev/null 2>&1 || true; sudo systemctl restart fjord-firewall")
		if got := fromClient(t, m.reachable.src, m.reachable.dst); !strings.HasPrefix(got, "closed") {
			t.Errorf("%s: still reachable after fjord-firewall reloaded: %s", m.name, got)
		}
	}
	g.run(t, "sudo docker rm -f undeclared >/dev/null")
	if ids := lanVerify(t, cfg); len(ids) != 0 {
		t.Errorf("restored: failing %v", ids)
	}

	testInPlace(t, g, dir)
}

// testInPlace changes what fjord wrote on the running host — the firewall
// (one more published port), daemon.json (another log driver) and the
// authz policy (a rule relaxed) — and expects one in-place update that
// keeps a running container (same PID after Docker's restart), opens the
// port, and leaves a host that verifies and plans no changes.
//
// The same update declares a Docker network (a copy of the configuration
// with one more network block), which the next apply, back on the
// original configuration, removes.
func testInPlace(t *testing.T, g *guest, dir string) {
	vf := filepath.Join(h.work, "lan-update.fjordvars")
	os.WriteFile(vf, []byte("publish = [8080, 9090]\nlog_driver = \"local\"\nrelax = { devices = \"the e2e host lends its devices\" }\n"), 0o600)
	withNet := filepath.Join(h.work, "lan-networks")
	src, err := os.ReadFile(filepath.Join(dir, "main.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "    authz {\n      relax = var.relax"
	if !strings.Contains(string(src), anchor) {
		t.Fatalf("the LAN configuration has no %q to declare a network before", anchor)
	}
	os.MkdirAll(withNet, 0o700)
	os.WriteFile(filepath.Join(withNet, "main.hcl"), []byte(strings.Replace(string(src), anchor, "    network \"jobs\" {\n      internal = true\n    }\n"+anchor, 1)), 0o600)
	cfg := []string{"-var-file", h.varFile, "-var-file", vf, withNet}
	g.run(t, "sudo docker run -d --read-only --user 10001 --pids-limit 32 --name keeper fjord-e2e-web /probe -serve 8080 >/dev/null")
	pid := strings.TrimSpace(g.run(t, "sudo docker inspect -f '{{.State.Pid}}' keeper"))

	r := fjord(context.Background(), append([]string{"plan"}, cfg...)...)
	for _, want := range []string{"update", "firewall (IPv4) changed (in place: reloads the firewall", "daemon.json changed (in place: restarts docker; running containers kept by live-restore)",
		"authz policy changed (in place: restarts fjord-authz", "Docker networks changed (in place: creates and removes Docker networks"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s%s", want, r.out, r.err)
		}
	}
	if !strings.Contains(r.out, "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete.") {
		t.Fatalf("plan is not one update in place:\n%s", r.out)
	}
	watchedApply(t, g, "in-place update", cfg)
	if got := strings.TrimSpace(g.run(t, "sudo docker inspect -f '{{.State.Running}} {{.State.Pid}}' keeper")); got != "true "+pid {
		t.Errorf("the running container after docker's restart: %s, want true %s (live-restore)", got, pid)
	}
	if out := g.run(t, "sudo docker info --format '{{.LoggingDriver}}'"); strings.TrimSpace(out) != "local" {
		t.Errorf("log driver after the update: %s", out)
	}
	if out := g.run(t, "sudo docker network inspect -f '{{.Internal}} {{index .Labels \"fjord.network\"}}' jobs"); out != "true \n" {
		t.Errorf("the network declared in place: %q, want internal and labelled fjord.network", out)
	}
	g.run(t, "sudo docker run -d --read-only --user 10001 --pids-limit 32 --name now-declared -p 9090:8080 fjord-e2e-web /probe -serve 8080 >/dev/null")
	if got := openedFromClient(t, lanAdmin, lanHost+":9090"); !strings.HasPrefix(got, "open fjord-probe") {
		t.Errorf("9090, declared in place: %s", got)
	}
	if ids := lanVerify(t, cfg); len(ids) != 0 {
		t.Errorf("after the in-place update: failing %v", ids)
	}
	if r := fjord(context.Background(), append([]string{"plan"}, cfg...)...); !strings.Contains(r.out, "No changes") {
		t.Errorf("plan after the update:\n%s%s", r.out, r.err)
	}
	testDiskAndTuning(t, g, dir, pid)
}

// testDiskAndTuning grows both disks online and sets a sysctl and an sshd
// option in one apply while the container keeps running; then an sshd
// option sshd -t refuses is refused with the host unchanged, and a
// smaller disk is refused at plan.
func testDiskAndTuning(t *testing.T, g *guest, dir, pid string) {
	const common = "publish = [8080, 9090]\nlog_driver = \"local\"\nrelax = { devices = \"the e2e host lends its devices\" }\n"
	vars := func(name, extra string) []string {
		vf := filepath.Join(h.work, name+".fjordvars")
		os.WriteFile(vf, []byte(common+extra), 0o600)
		return []string{"-var-file", h.varFile, "-var-file", vf, dir}
	}
	g.run(t, "echo kept | sudo tee /root/marker /var/lib/docker/marker >/dev/null")
	size := func() string {
		return strings.Join(strings.Fields(g.run(t, "lsblk -bndo SIZE /dev/vda; lsblk -bndo SIZE /dev/disk/by-id/virtio-fjord-docker; sudo df -B1 --output=size / /var/lib/docker | tail -2")), " ")
	}
	t.Logf("disks before (vda, data, / fs, /var/lib/docker fs): %s", size())

	grown := vars("lan-grow", "disk = \"8GiB\"\ndata_disk = \"12GiB\"\nsysctls = { \"vm.max_map_count\" = \"262144\" }\nsshd_options = { MaxSessions = \"4\" }\n")
	r := fjord(context.Background(), append([]string{"plan"}, grown...)...)
	for _, want := range []string{"disk: 6GiB → 8GiB (in place: grows online", "docker data_disk: 10GiB → 12GiB (in place: grows online",
		"sysctls changed (in place: applies the kernel settings", "sshd drop-in changed (in place: reloads sshd", "Docker networks changed (in place", "1 to update, 0 to replace"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s%s", want, r.out, r.err)
		}
	}
	start := time.Now()
	stop := watchOutages(t, g)
	r = fjord(context.Background(), append([]string{"apply", "-auto-approve"}, grown...)...)
	outages := stop()
	if r.code != 0 {
		t.Fatalf("growing the disks: exit %d\n%s%s", r.code, r.out, r.err)
	}
	t.Logf("disks grown, sysctl and sshd option set, verified: %.1fs; meanwhile %s\n%s", time.Since(start).Seconds(), outages, r.out)
	got := strings.Fields(size())
	if len(got) != 4 || got[0] != "8589934592" || got[1] != "12884901888" {
		t.Errorf("the guest sees disks %v, want 8 GiB and 12 GiB", got)
	}
	if len(got) == 4 {
		if fs, _ := strconv.ParseUint(got[2], 10, 64); fs < 7*1<<30 {
			t.Errorf("/ is %s bytes after growing the disk to 8 GiB", got[2])
		}
		if fs, _ := strconv.ParseUint(got[3], 10, 64); fs < 11*1<<30 {
			t.Errorf("/var/lib/docker is %s bytes after growing its disk to 12 GiB", got[3])
		}
	}
	if out := g.run(t, "sudo cat /root/marker /var/lib/docker/marker"); out != "kept\nkept\n" {
		t.Errorf("markers after growing: %q", out)
	}
	if out := g.run(t, "/usr/sbin/sysctl -n vm.max_map_count; sudo sshd -T | grep ^maxsessions"); out != "262144\nmaxsessions 4\n" {
		t.Errorf("sysctl and sshd option in force: %q", out)
	}
	if got := strings.TrimSpace(g.run(t, "sudo docker inspect -f '{{.State.Running}} {{.State.Pid}}' keeper")); got != "true "+pid {
		t.Errorf("the container after growing the disks: %s, want true %s", got, pid)
	}
	if out := g.run(t, "sudo docker network ls --format '{{.Name}}'"); strings.Contains(out, "jobs") {
		t.Errorf("the network no longer declared is still there:\n%s", out)
	}

	// The declared sysctl changed at run time, and an sshd file sorting
	// before fjord's that sets the declared option first: each fails its
	// check, and nothing else does.
	g.run(t, "sudo sysctl -qw vm.max_map_count=65530 && echo 'MaxSessions 10' | sudo tee /etc/ssh/sshd_config.d/05-e2e.conf >/dev/null && sudo systemctl reload ssh")
	if ids := lanVerify(t, grown); strings.Join(ids, ",") != "ssh.declared,sysctl.declared" {
		t.Errorf("declared settings overridden: failing %v, want ssh.declared and sysctl.declared", ids)
	}
	g.run(t, "sudo sysctl -qw vm.max_map_count=262144 && sudo rm /etc/ssh/sshd_config.d/05-e2e.conf && sudo systemctl reload ssh")
	if r := fjord(context.Background(), append([]string{"plan"}, grown...)...); !strings.Contains(r.out, "No changes") {
		t.Errorf("plan after growing:\n%s%s", r.out, r.err)
	}

	// sshd -t refuses the option: nothing changes on the host.
	broken := vars("lan-broken", "disk = \"8GiB\"\ndata_disk = \"12GiB\"\nsysctls = { \"vm.max_map_count\" = \"262144\" }\nsshd_options = { MaxSessions = \"many\" }\n")
	dropIn := g.run(t, "sudo cat /etc/ssh/sshd_config.d/10-fjord.conf")
	r = fjord(context.Background(), append([]string{"apply", "-auto-approve"}, broken...)...)
	if r.code == 0 || !strings.Contains(r.err+r.out, "is refused (sshd -t); the previous file is back") {
		t.Errorf("a broken sshd option: exit %d\n%s%s", r.code, r.out, r.err)
	}
	t.Logf("broken sshd option refused:\n%s", tail(r.err, 4))
	if after := g.run(t, "sudo cat /etc/ssh/sshd_config.d/10-fjord.conf; ls -a /etc/ssh/sshd_config.d | grep fjord- || true"); after != dropIn {
		t.Errorf("the drop-in after the refused change:\n%s\nwas\n%s", after, dropIn)
	}
	if out := g.run(t, "sudo sshd -T | grep ^maxsessions"); out != "maxsessions 4\n" {
		t.Errorf("sshd after the refused change: %q", out)
	}
	if ids := lanVerify(t, grown); len(ids) != 0 {
		t.Errorf("after the refused change: failing %v", ids)
	}
	if r := fjord(context.Background(), append([]string{"plan"}, broken...)...); !strings.Contains(r.out, "sshd drop-in changed (in place") {
		t.Errorf("the refused change is not planned again:\n%s%s", r.out, r.err)
	}

	testUpgrade(t, g, grown, pid)

	// A smaller disk: refused at plan, nothing changed.
	r = fjord(context.Background(), append([]string{"apply", "-auto-approve"}, vars("lan-shrink", "disk = \"6GiB\"\ndata_disk = \"12GiB\"\n")...)...)
	if r.code == 0 || !strings.Contains(r.out+r.err, "fjord never shrinks a disk") {
		t.Errorf("a smaller disk: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if got := strings.Fields(size()); len(got) < 1 || got[0] != "8589934592" {
		t.Errorf("the root disk after the refused shrink: %v", got)
	}
}

// lanVerify runs fjord verify -json on the LAN project and returns the
// failing check IDs, sorted.
func lanVerify(t *testing.T, cfg []string) []string {
	t.Helper()
	r := fjord(context.Background(), append([]string{"verify", "-json"}, cfg...)...)
	var rep struct {
		Hosts []struct {
			Error  string `json:"error"`
			Checks []struct {
				ID, Status, Detail string
			} `json:"checks"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil || len(rep.Hosts) != 1 || rep.Hosts[0].Error != "" {
		t.Fatalf("verify -json: exit %d, %v\n%s%s", r.code, err, r.out, r.err)
	}
	var ids []string
	for _, c := range rep.Hosts[0].Checks {
		if c.Status == "fail" {
			ids = append(ids, c.ID)
			t.Logf("  %s: %s", c.ID, c.Detail)
		}
	}
	sort.Strings(ids)
	return ids
}

// testUpgrade runs a newer fjord on the host: one whose fjord-authz is
// another build (its build ID differs, as a new release's would). The
// plan must update the plugin in place and replace nothing, and the apply
// must install it, keep the running container and verify the host.
func testUpgrade(t *testing.T, g *guest, cfg []string, pid string) {
	bin := filepath.Join(h.root, "authz", "plugin", "fjord-authz.bin")
	orig, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(h.work, "fjord-next")
	build := func() error {
		c := exec.Command("go", "build", "-tags", "seccomp", "-trimpath", "-ldflags", "-s -w -buildid=fjord-e2e-next", "-o", bin, "./cmd/fjord-authz")
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := cmdErr(c, h.root); err != nil {
			return err
		}
		return cmdErr(exec.Command("go", "build", "-tags", "helpers", "-o", next, "./cmd/fjord"), h.root)
	}
	err = build()
	newPlugin, _ := os.ReadFile(bin)
	if werr := os.WriteFile(bin, orig, 0o644); werr != nil {
		t.Fatalf("putting the plugin back: %v", werr)
	}
	if err != nil {
		t.Fatalf("building the newer fjord: %v", err)
	}
	if bytes.Equal(newPlugin, orig) {
		t.Fatal("the newer fjord-authz is the same program")
	}
	sum := sha256.Sum256(newPlugin)
	current := h.bin
	h.bin = next
	defer func() { h.bin = current }()

	r := fjord(context.Background(), append([]string{"plan"}, cfg...)...)
	if !strings.Contains(r.out, "fjord-authz plugin changed (in place: restarts fjord-authz") || !strings.Contains(r.out, "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete.") {
		t.Fatalf("plan of a newer fjord:\n%s%s", r.out, r.err)
	}
	watchedApply(t, g, "a newer fjord-authz installed in place", cfg)
	if got := strings.Fields(g.run(t, "sudo sha256sum /usr/local/sbin/fjord-authz")); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("the plugin on the host: %v, want the newer one %x", got, sum)
	}
	if got := strings.TrimSpace(g.run(t, "sudo docker inspect -f '{{.State.Running}} {{.State.Pid}}' keeper")); got != "true "+pid {
		t.Errorf("the container after the upgrade: %s, want true %s", got, pid)
	}
	if r := fjord(context.Background(), append([]string{"plan"}, cfg...)...); !strings.Contains(r.out, "No changes") {
		t.Errorf("plan after the upgrade:\n%s%s", r.out, r.err)
	}
}
