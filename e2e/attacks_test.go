//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/authz"
	"github.com/fjord-dev/fjord/authz/corpus"
)

// sendRaw is run on the guest as root: it reads [{name, raw}] (raw in
// base64) from standard input, writes each request byte for byte to the
// Docker socket, and prints one line per request: NAME STATUS MESSAGE. A
// refusal can come before a large body has been read, so sending stops
// once the answer is there.
const sendRaw = `import base64, json, select, socket, sys
def send(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    resp = b""
    try:
        s.connect("/run/docker.sock")
        s.sendall(head + sep)
        off = 0
        while off < len(body):
            r, w, _ = select.select([s], [s], [], 20)
            if r or not w:
                break
            off += s.send(body[off:off + 65536])
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
        h, _, payload = resp.partition(b"\r\n\r\n")
        length = None
        for line in h.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while length is None or len(payload) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            payload += chunk
        resp = h + b"\r\n\r\n" + payload
    except OSError as e:
        if not resp:
            return "000", str(e)
    finally:
        s.close()
    h, _, payload = resp.partition(b"\r\n\r\n")
    status = h.split(b" ")[1].decode() if b" " in h else "000"
    try:
        msg = json.loads(payload).get("message", "")
    except Exception:
        msg = payload[:300].decode(errors="replace")
    return status, " ".join(msg.split())
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
	kh := filepath.Join(h.work, "known_hosts.guest")
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
