//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/authz"
	"github.com/fjord-dev/fjord/authz/corpus"
	"github.com/fjord-dev/fjord/verify"
)

// sendRaw is run on the guest as root: it reads [{name, raw}] (raw in
// base64) from standard input, writes each request byte for byte to the
// Docker socket with the verifier's own client, and prints one line per
// request: NAME STATUS MESSAGE.
const sendRaw = verify.SocketClient + `
for req in json.load(sys.stdin):
    status, msg = send(base64.b64decode(req["raw"]))
    print(req["name"], status, msg, flush=True)
`

// traces is what a request that got through would leave on the host: the
// containers, volumes and networks the corpus names, and the mounts.
const traces = `echo containers $(docker ps -aq --filter label=fjord-attack | wc -l); ` +
	`echo volumes $(docker volume ls -q | grep -c ^fjord-attack); ` +
	`echo networks $(docker network ls -q --filter name=fjord-attack | wc -l); ` +
	`echo mounts $(wc -l < /proc/1/mountinfo)`

// testAttacksLive sends every live request of fjord-authz's adversarial
// corpus to the guest's daemon, raw, through its socket: each must come
// back refused by fjord-authz, naming the corpus's rule, and the host must
// show nothing of them afterwards.
func testAttacksLive(t *testing.T, g *guest) {
	as, err := corpus.Attacks()
	if err != nil {
		t.Fatal(err)
	}
	type req struct {
		Name string `json:"name"`
		Raw  string `json:"raw"`
	}
	var reqs []req
	want := map[string][]string{}
	for _, a := range as {
		if a.Live {
			reqs = append(reqs, req{a.Name, base64.StdEncoding.EncodeToString(a.Raw())})
			want[a.Name] = a.Refusals()
		}
	}
	in, _ := json.Marshal(reqs)
	before := g.run(t, "sudo sh -c '"+traces+"'")
	out := g.runInput(t, "sudo python3 -c '"+sendRaw+"'", in)
	after := g.run(t, "sudo sh -c '"+traces+"'")

	answered := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 2 {
			continue
		}
		rules, ok := want[f[0]]
		if !ok {
			continue
		}
		answered++
		msg := ""
		if len(f) == 3 {
			msg = f[2]
		}
		refused := false
		for _, rule := range rules {
			refusal := "fjord policy rule " + rule + ";"
			if rule == authz.RuleUnreadable {
				refusal = "the fjord-authz plugin cannot read it"
			}
			refused = refused || f[1] == "403" && strings.Contains(msg, "authorization denied by plugin fjord-authz") && strings.Contains(msg, refusal)
		}
		if !refused {
			t.Errorf("%s: HTTP %s %s, want a refusal by fjord-authz rule %s", f[0], f[1], msg, strings.Join(rules, " or "))
		}
	}
	if answered != len(reqs) {
		t.Errorf("%d of %d requests answered:\n%s", answered, len(reqs), out)
	}
	t.Logf("%d raw requests of the corpus sent to the live daemon, each refused by its rule; the host before and after: %s / %s",
		len(reqs), strings.Join(strings.Fields(before), " "), strings.Join(strings.Fields(after), " "))
	if strings.Join(strings.Fields(after), " ") != strings.Join(strings.Fields(before), " ") ||
		!strings.Contains(after, "containers 0") || !strings.Contains(after, "volumes 0") || !strings.Contains(after, "networks 0") {
		t.Errorf("the requests left traces on the host: before %q, after %q", before, after)
	}
}

// runInput runs cmd on the guest with stdin as its standard input.
func (g *guest) runInput(t *testing.T, cmd string, stdin []byte) string {
	t.Helper()
	kh, err := g.knownHosts()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("ip", "netns", "exec", netns, "ssh", "-i", h.key, "-o", "UserKnownHostsFile="+kh,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
		g.user+"@"+g.addr, cmd)
	c.Stdin = strings.NewReader(string(stdin))
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %.80q: %v\n%s", cmd, err, out)
	}
	return string(out)
}
