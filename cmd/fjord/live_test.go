package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fjord-dev/fjord/provision"
)

// screen plays what was written on a terminal that knows the footer's
// sequences ("ESC[nA" up n lines, "\r", "ESC[J" clear below) and returns
// the lines left on it.
func screen(out string) []string {
	var lines []string
	for len(out) > 0 {
		switch {
		case strings.HasPrefix(out, "\x1b["):
			end := strings.IndexAny(out, "AJ")
			if out[end] == 'A' {
				up, _ := strconv.Atoi(out[2:end])
				lines = lines[:len(lines)-up] // everything below is cleared next
			}
			out = out[end+1:]
		case out[0] == '\r':
			out = out[1:]
		default:
			i := strings.IndexByte(out, '\n')
			if i < 0 {
				return append(lines, out)
			}
			lines, out = append(lines, out[:i]), out[i+1:]
		}
	}
	return lines
}

func TestLiveStatusKeepsALinePerWaitingHost(t *testing.T) {
	var buf bytes.Buffer
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	l := newLiveStatus(&buf, func() time.Time { return now })
	ev := func(obj, phase, status string) {
		l.event(provision.Event{Object: obj, Phase: phase, Status: status, Time: now}, obj, obj+" "+phase+" "+status+"\n")
	}
	ev("host.a", "address", "start")
	now = t0.Add(2 * time.Second)
	ev("host.b", "cloud-init", "start")
	now = t0.Add(12 * time.Second)
	l.mu.Lock()
	l.redraw()
	l.mu.Unlock()
	got := screen(buf.String())
	want := []string{
		"host.a address start",
		"host.b cloud-init start",
		"  host.a                   waiting for an address… 12s",
		"  host.b                   waiting for cloud-init… 10s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ev("host.a", "address", "done")
	l.close()
	got = screen(buf.String())
	want = []string{"host.a address start", "host.b cloud-init start", "host.a address done"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after close:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The redraw loop and events share the screen safely (run under -race).
func TestLiveStatusRedrawsConcurrently(t *testing.T) {
	var buf bytes.Buffer
	l := newLiveStatus(&buf, time.Now)
	l.start(time.Millisecond)
	for i := 0; i < 50; i++ {
		l.event(provision.Event{Object: "host.a", Phase: "ssh", Status: "start", Time: time.Now()}, "host.a", "start\n")
		time.Sleep(100 * time.Microsecond)
		l.event(provision.Event{Object: "host.a", Phase: "ssh", Status: "done", Time: time.Now()}, "host.a", "done\n")
	}
	l.close()
	got := screen(buf.String())
	if len(got) != 100 || got[99] != "done" {
		t.Errorf("screen ends with %d lines, last %q", len(got), got[len(got)-1])
	}
}
