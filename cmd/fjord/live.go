package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fjord-dev/fjord/provision"
)

// liveStatus keeps, below the event lines on a terminal, one line per
// object with a phase under way: what it is waiting for and for how long,
// redrawn every second. Off a terminal nothing but the event lines is
// written (logs stay plain).
type liveStatus struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	active map[string]liveLine // object → the phase under way
	drawn  int                 // footer lines on screen
	stop   chan struct{}       // closed to end the redraw loop
	done   chan struct{}       // closed when it has ended
}

type liveLine struct {
	label    string // object, with its hypervisor when there are several
	phase    string
	since    time.Time
	progress *provision.Progress // the transfer under way, if any
}

func newLiveStatus(w io.Writer, now func() time.Time) *liveStatus {
	return &liveStatus{w: w, now: now, active: map[string]liveLine{}}
}

// start redraws the footer every interval until close.
func (l *liveStatus) start(interval time.Duration) {
	stop, done := make(chan struct{}), make(chan struct{})
	l.stop, l.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				l.mu.Lock()
				l.redraw()
				l.mu.Unlock()
			}
		}
	}()
}

// close stops redrawing and erases the footer.
func (l *liveStatus) close() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
}

// event prints line (the event's own line) above the footer and updates
// the footer with e.
func (l *liveStatus) event(e provision.Event, label, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
	fmt.Fprint(l.w, line)
	if e.Status == "start" {
		l.active[e.Object] = liveLine{label: label, phase: e.Phase, since: e.Time}
	} else {
		delete(l.active, e.Object)
	}
	l.draw()
}

// progress shows a transfer's progress on its object's line.
func (l *liveStatus) progress(e provision.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.active[e.Object]
	if !ok {
		return
	}
	p := *e.Progress
	a.progress = &p
	l.active[e.Object] = a
	l.redraw()
}

func (l *liveStatus) erase() {
	if l.drawn > 0 {
		// Up to the footer's first line, then clear to the end of the screen.
		fmt.Fprintf(l.w, "\x1b[%dA\r\x1b[J", l.drawn)
		l.drawn = 0
	}
}

func (l *liveStatus) redraw() {
	l.erase()
	l.draw()
}

func (l *liveStatus) draw() {
	objs := make([]string, 0, len(l.active))
	for o := range l.active {
		objs = append(objs, o)
	}
	sort.Strings(objs)
	for _, o := range objs {
		a := l.active[o]
		if a.progress != nil {
			fmt.Fprintf(l.w, "  %-24s %s %s, %s\n", a.label, waitingFor(a.phase), progressText(*a.progress), l.now().Sub(a.since).Round(time.Second))
			continue
		}
		fmt.Fprintf(l.w, "  %-24s %s %s\n", a.label, waitingFor(a.phase), l.now().Sub(a.since).Round(time.Second))
	}
	l.drawn = len(objs)
}

// waitingFor says in words what a phase waits for.
func waitingFor(phase string) string {
	switch phase {
	case "address":
		return "waiting for an address…"
	case "ssh":
		return "waiting for SSH…"
	case "cloud-init":
		return "waiting for cloud-init…"
	case "verify":
		return "verifying…"
	case "import":
		return "importing the image…"
	}
	return strings.ReplaceAll(phase, "-", " ") + "…"
}

// progressText is a transfer's progress in words: "upload 120.0 MiB of
// 300.0 MiB (40%), 4.2 MiB/s, 43s left".
func progressText(p provision.Progress) string {
	if p.Stage != "" {
		return p.Step + ": " + p.Stage
	}
	s := p.Step + " " + bytesText(float64(p.Done))
	if p.Total > 0 {
		s += fmt.Sprintf(" of %s (%.0f%%)", bytesText(float64(p.Total)), 100*p.Fraction())
	}
	s += fmt.Sprintf(", %s/s", bytesText(p.Rate))
	if p.Left > 0 {
		s += fmt.Sprintf(", %s left", p.Left.Round(time.Second))
	}
	return s
}

func bytesText(n float64) string {
	for _, u := range []struct {
		name string
		size float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			return fmt.Sprintf("%.1f %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%.0f B", n)
}
