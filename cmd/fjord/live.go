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
	label string // object, with its hypervisor when there are several
	phase string
	since time.Time
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
