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

// An image import's progress is on its footer line on a terminal, and off
// one a line every 10 s and at each step's end.
func TestImportProgressIsShown(t *testing.T) {
	var buf bytes.Buffer
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	l := newLiveStatus(&buf, func() time.Time { return now })
	l.event(provision.Event{Object: "image.bookworm", Phase: "import", Status: "start", Time: now}, "image.bookworm", "image.bookworm import…\n")
	now = t0.Add(30 * time.Second)
	l.progress(provision.Event{Object: "image.bookworm", Phase: "import", Status: "progress", Time: now,
		Progress: &provision.Progress{Step: "upload", Done: 120 << 20, Total: 300 << 20, Rate: 4 << 20, Left: 45 * time.Second}})
	got := screen(buf.String())
	if want := "  image.bookworm           importing the image… upload 120.0 MiB of 300.0 MiB (40%), 4.0 MiB/s, 45s left, 30s"; got[len(got)-1] != want {
		t.Errorf("footer:\n%s\nwant %s", strings.Join(got, "\n"), want)
	}

	var out bytes.Buffer
	a := &app{stdout: &out}
	print := a.eventPrinter(false, false, nil)
	for i := 0; i <= 25; i++ {
		p := provision.Progress{Step: "download", Done: int64(i) << 20, Total: 25 << 20, Rate: 1 << 20}
		print(provision.Event{Object: "image.bookworm", Phase: "import", Status: "progress", Time: t0.Add(time.Duration(i) * time.Second), Progress: &p})
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[3], "download 25.0 MiB of 25.0 MiB (100%)") || !strings.Contains(lines[1], "download 10.0 MiB of 25.0 MiB (40%), 1.0 MiB/s") {
		t.Errorf("plain progress lines:\n%s", out.String())
	}
}

func TestProgressTextOfAStage(t *testing.T) {
	if got := progressText(provision.Progress{Step: "build", Stage: "installing docker.io"}); got != "build: installing docker.io" {
		t.Errorf("a build's stage reads %q", got)
	}
	if got := progressText(provision.Progress{Step: "upload", Done: 1 << 20, Total: 4 << 20, Rate: 1 << 20}); !strings.HasPrefix(got, "upload 1.0 MiB of 4.0 MiB (25%)") {
		t.Errorf("an upload reads %q", got)
	}
}
