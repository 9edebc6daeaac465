package verify

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

func TestPublishedPortsNameContainerAndPort(t *testing.T) {
	h := goodHost(t)
	b := mustRead(t, "testdata/containers/published")
	h.out["containers"] = Output{Text: b}
	e := expect()
	e.Docker.Publish = []model.Port{{Number: 443, Proto: "tcp"}}
	m := run(t, h, e)
	o := m["network.published"]
	if o.Status != Fail || !strings.Contains(o.Detail, "container web (9b1c44e0a2d7) publishes 80/tcp as 8080/tcp") || strings.Contains(o.Detail, "443") {
		t.Errorf("network.published = %+v", o)
	}
	e.Docker.Publish = append(e.Docker.Publish, model.Port{Number: 8080, Proto: "tcp"})
	if o := run(t, h, e)["network.published"]; o.Status != Pass || !strings.Contains(o.Detail, "web 443/tcp → 443/tcp") {
		t.Errorf("declared ports: %+v", o)
	}
}

// Each probe finding fails exactly its check, naming the address and port.
func TestExposureJudgesWhatAnswered(t *testing.T) {
	a := netip.MustParseAddr("10.20.0.21")
	tests := []struct {
		open []uint16
		want []string
		text string
	}{
		{[]uint16{22, 443}, nil, ""},
		{[]uint16{22, 443, 8080}, []string{ExposureUndeclaredID}, "10.20.0.21:8080"},
		{[]uint16{22, 2375}, []string{ExposureDockerAPIID}, "10.20.0.21:2375"},
	}
	e := expect()
	e.Docker.Publish = []model.Port{{Number: 443, Proto: "tcp"}}
	for _, tc := range tests {
		outs := Exposure(ProbeResult{Open: map[netip.Addr][]uint16{a: tc.open}}, e)
		var failed []string
		for _, o := range outs {
			if o.Status == Fail {
				failed = append(failed, o.ID)
				if !strings.Contains(o.Detail, tc.text) || o.Hint == "" {
					t.Errorf("%v: %s detail %q", tc.open, o.ID, o.Detail)
				}
			}
		}
		if strings.Join(failed, ",") != strings.Join(tc.want, ",") {
			t.Errorf("open %v: failed %v, want %v", tc.open, failed, tc.want)
		}
	}
	e.Docker.Waive = map[string]string{ExposureUndeclaredID: "a lab host"}
	for _, o := range Exposure(ProbeResult{Open: map[netip.Addr][]uint16{a: {8080}}}, e) {
		if o.ID == ExposureUndeclaredID && o.Status != Waived {
			t.Errorf("waiver not applied: %+v", o)
		}
	}
}

// Probe connects for real: a listener on loopback is found open, a closed
// port is not.
func TestProbeFindsAListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := uint16(l.Addr().(*net.TCPAddr).Port)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	shut := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	r := Probe(context.Background(), nil, []netip.Addr{lo}, []uint16{open, shut})
	if got := r.Open[lo]; len(got) != 1 || got[0] != open {
		t.Errorf("open ports = %v, want [%d]", got, open)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
