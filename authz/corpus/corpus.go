// Package corpus is fjord-authz's adversarial corpus: requests a client
// can send to the Docker socket of a fjord host, each with why it is
// dangerous (and the rule that must refuse it) or why it must be allowed.
// The unit tests send each through the daemon's own forwarding and
// decoders; e2e sends the dangerous ones to the live daemon.
package corpus

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed attacks.json
var attacksJSON []byte

// Allow is the Want of a request no rule may refuse.
const Allow = "allow"

// Attack is one request of the corpus.
type Attack struct {
	Name        string `json:"name"`
	Why         string `json:"why"`
	Method      string `json:"method"`
	URI         string `json:"uri"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
	Chunked     bool   `json:"chunked,omitempty"`
	// Pad grows the body with spaces to this many bytes.
	Pad int `json:"pad,omitempty"`
	// Want is the rule that must refuse the request, or Allow, when the
	// daemon forwards it as upstream Docker 20.10.24 does.
	Want string `json:"want"`
	// WantForwarded, when set, is the rule that refuses it on a daemon
	// with the CVE-2024-41110 fix (Debian's 20.10.24+dfsg1-1+deb12u1),
	// which forwards chunked bodies and judges /auth by the path: the
	// plugin then reads the body it could not read before.
	WantForwarded string `json:"want_forwarded,omitempty"`
	// Live requests are sent to the daemon of a live host by e2e: each
	// must be refused and leave nothing behind.
	Live bool `json:"live"`
}

// Attacks returns the corpus.
func Attacks() ([]Attack, error) {
	var as []Attack
	if err := json.Unmarshal(attacksJSON, &as); err != nil {
		return nil, fmt.Errorf("attacks.json: %w", err)
	}
	return as, nil
}

// Refusals are the rules that may refuse the request on some daemon fjord
// supports.
func (a Attack) Refusals() []string {
	if a.WantForwarded != "" {
		return []string{a.Want, a.WantForwarded}
	}
	return []string{a.Want}
}

// Raw is the request as a client writes it on the Docker socket: HTTP/1.1,
// with a Content-Length, or chunked.
func (a Attack) Raw() []byte {
	body := []byte(a.Body)
	if a.Pad > len(body) {
		body = append(body, bytes.Repeat([]byte(" "), a.Pad-len(body))...)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: docker\r\n", a.Method, a.URI)
	if a.ContentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", a.ContentType)
	}
	if a.Chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 4096)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.Bytes()
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}
