package hardening

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeDocker keeps networks as files in $NETS (NAME holding "internal
// label"), and refuses to remove a network for which $NETS/NAME.used
// exists, as dockerd refuses one with active endpoints. It answers only
// the calls fjord-host networks makes.
const fakeDocker = `#!/bin/sh
set -eu
[ "$1" = network ] || { echo "unexpected: $*" >&2; exit 2; }
shift
case "$1" in
ls) for f in "$NETS"/*; do [ -f "$f" ] || continue; case "$f" in *.used) continue;; esac
      read -r internal label <"$f"; [ "$label" = fjord ] && basename "$f"; done; true ;;
inspect) name=$4; [ -f "$NETS/$name" ] || { echo "Error: No such network: $name" >&2; exit 1; }
      read -r internal label <"$NETS/$name"; echo "$internal" ;;
rm) [ -f "$NETS/$2.used" ] && { echo "Error response from daemon: error while removing network: network $2 id 0123 has active endpoints" >&2; exit 1; }
      rm "$NETS/$2" ;;
create) internal=false; [ "$2" = --internal ] && { internal=true; shift; }
      [ "$2" = --label ] && [ "$3" = fjord.network ] || { echo "unexpected: create $*" >&2; exit 2; }
      echo "$internal fjord" >"$NETS/$4" ;;
*) echo "unexpected: network $*" >&2; exit 2 ;;
esac
`

func TestHostToolNetworks(t *testing.T) {
	dir := t.TempDir()
	bin, nets := filepath.Join(dir, "bin"), filepath.Join(dir, "nets")
	os.Mkdir(bin, 0o755)
	os.Mkdir(nets, 0o755)
	os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeDocker), 0o755)
	script := filepath.Join(dir, "fjord-host")
	// The script sets its own PATH: the fake docker goes first on it.
	body := strings.Replace(string(Must("fjord-host.sh")), "PATH=/usr/local/sbin", "PATH="+bin+":/usr/local/sbin", 1)
	os.WriteFile(script, []byte(body), 0o755)

	run := func(declared string) (string, error) {
		f := filepath.Join(dir, "declared")
		os.WriteFile(f, []byte(declared), 0o644)
		c := exec.Command("sh", script, "networks", f)
		c.Env = append(os.Environ(), "NETS="+nets)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	state := func() string {
		ents, _ := os.ReadDir(nets)
		var s []string
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(nets, e.Name()))
			s = append(s, e.Name()+"="+strings.TrimSpace(string(b)))
		}
		sort.Strings(s)
		return strings.Join(s, " ")
	}
	// bridge is Docker's own network: never touched.
	os.WriteFile(filepath.Join(nets, "bridge"), []byte("false docker\n"), 0o644)

	if out, err := run("backend internal\nfrontend bridge\n"); err != nil {
		t.Fatalf("first boot: %v %s", err, out)
	}
	if got := state(); got != "backend=true fjord bridge=false docker frontend=false fjord" {
		t.Errorf("after first boot: %s", got)
	}
	// Run again with nothing changed: nothing changes.
	if out, err := run("backend internal\nfrontend bridge\n"); err != nil || state() != "backend=true fjord bridge=false docker frontend=false fjord" {
		t.Errorf("again: %v %s %s", err, out, state())
	}
	// frontend made internal, backend no longer declared, jobs added.
	if out, err := run("frontend internal\njobs bridge\n"); err != nil {
		t.Fatalf("changed: %v %s", err, out)
	}
	if got := state(); got != "bridge=false docker frontend=true fjord jobs=false fjord" {
		t.Errorf("after the change: %s", got)
	}
	// A network a container uses is not removed: the run fails saying so.
	os.WriteFile(filepath.Join(nets, "jobs.used"), nil, 0o644)
	out, err := run("frontend internal\n")
	if err == nil || !strings.Contains(out, "network jobs id 0123 has active endpoints") {
		t.Errorf("removing a network in use: %v %q", err, out)
	}
	if !strings.Contains(state(), "jobs=false fjord") {
		t.Errorf("the network in use was removed: %s", state())
	}
}

// fjord-host audit keeps the watches on paths that exist, moves the
// watches under /run into containerd's drop-in (and adds the ones whose
// path exists now), and loads the rest with augenrules.
func TestHostToolAudit(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	calls := filepath.Join(dir, "calls")
	for _, tool := range []string{"augenrules", "auditctl"} {
		os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\necho "+tool+" \"$@\" >>"+calls+"\n"), 0o755)
	}
	exists := filepath.Join(dir, "dockerd")
	os.WriteFile(exists, nil, 0o644)
	dropin := filepath.Join(dir, "containerd.service.d", "10-fjord-audit.conf")
	body := strings.Replace(string(Must("fjord-host.sh")), "PATH=/usr/local/sbin", "PATH="+bin+":/usr/local/sbin", 1)
	body = strings.Replace(body, "/etc/systemd/system/containerd.service.d/10-fjord-audit.conf", dropin, 1)
	// auditctl in the drop-in is /sbin/auditctl; here it is the fake.
	body = strings.Replace(body, "ExecStartPost=-/sbin/auditctl", "ExecStartPost=-"+filepath.Join(bin, "auditctl"), 1)
	script := filepath.Join(dir, "fjord-host")
	os.WriteFile(script, []byte(body), 0o755)
	// A /run path that exists here, and one that does not.
	ents, _ := os.ReadDir("/run")
	if len(ents) == 0 {
		t.Skip("nothing under /run here")
	}
	run := "/run/" + ents[0].Name()
	rules := filepath.Join(dir, "fjord-docker.rules")
	os.WriteFile(rules, []byte("# Written by fjord\n-w "+exists+" -p rwxa -k docker\n-w "+filepath.Join(dir, "missing")+" -p rwxa -k docker\n"+
		"-w "+run+" -p rwxa -k docker\n-w /run/fjord-test-none.sock -p rwxa -k docker\n"), 0o640)
	out, err := exec.Command("sh", script, "audit", rules).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	kept, _ := os.ReadFile(rules)
	if string(kept) != "# Written by fjord\n-w "+exists+" -p rwxa -k docker\n" {
		t.Errorf("rules left to load from rules.d:\n%s", kept)
	}
	d, _ := os.ReadFile(dropin)
	if !strings.Contains(string(d), "[Service]\nExecStartPost=-"+filepath.Join(bin, "auditctl")+" -w "+run+" -p rwxa -k docker\n") ||
		!strings.Contains(string(d), "-w /run/fjord-test-none.sock -p rwxa -k docker") {
		t.Errorf("containerd's drop-in:\n%s", d)
	}
	c, _ := os.ReadFile(calls)
	if string(c) != "augenrules --load\nauditctl -w "+run+" -p rwxa -k docker\n" {
		t.Errorf("calls: %q", c)
	}
}
