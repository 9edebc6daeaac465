package provision

import (
	"io"
	"sync"
	"time"
)

// Progress is how far a long transfer has got: an image downloaded,
// hashed or uploaded to a pool.
type Progress struct {
	Step  string  `json:"step"` // "download", "checksum", "upload" or "build"
	Done  int64   `json:"done_bytes"`
	Total int64   `json:"total_bytes,omitempty"` // 0 when unknown
	Rate  float64 `json:"bytes_per_second"`
	// Left is the time the rest should take at the rate so far; 0 when
	// unknown.
	Left time.Duration `json:"remaining_ns,omitempty"`
	// Stage, for a long wait that moves no bytes (an image build), is
	// what it is doing now, as the guest reports it; reported when it
	// changes.
	Stage string `json:"stage,omitempty"`
}

// Fraction is how much is done, 0 to 1; -1 when the total is unknown.
func (p Progress) Fraction() float64 {
	if p.Total <= 0 {
		return -1
	}
	return float64(p.Done) / float64(p.Total)
}

// progressInterval is how often a transfer reports.
const progressInterval = time.Second

// meter counts the bytes read through it and reports at most once per
// interval, and once more at the end (EOF), so a slow transfer is visibly
// moving and a fast one costs one report.
type meter struct {
	r      io.Reader
	step   string
	total  int64
	report func(Progress)
	now    func() time.Time
	every  time.Duration

	mu    sync.Mutex
	start time.Time
	last  time.Time
	done  int64
	ended bool
}

// Metered wraps r so that report hears how far reading it has got: at most
// once a second and at the end. report may be nil (r is returned).
func Metered(r io.Reader, step string, total int64, report func(Progress)) io.Reader {
	return metered(r, step, total, report)
}

// metered wraps r; report may be nil (no reports).
func metered(r io.Reader, step string, total int64, report func(Progress)) io.Reader {
	if report == nil {
		return r
	}
	m := &meter{r: r, step: step, total: total, report: report, now: time.Now, every: progressInterval}
	m.start = m.now()
	m.last = m.start
	return m
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.mu.Lock()
	m.done += int64(n)
	now := m.now()
	var send *Progress
	if (err == io.EOF && !m.ended) || now.Sub(m.last) >= m.every {
		m.ended = m.ended || err == io.EOF
		m.last = now
		pr := m.progress(now)
		send = &pr
	}
	m.mu.Unlock()
	if send != nil {
		m.report(*send)
	}
	return n, err
}

func (m *meter) progress(now time.Time) Progress {
	p := Progress{Step: m.step, Done: m.done, Total: m.total}
	if el := now.Sub(m.start).Seconds(); el > 0 {
		p.Rate = float64(m.done) / el
	}
	if p.Rate > 0 && m.total > m.done {
		p.Left = time.Duration(float64(m.total-m.done) / p.Rate * float64(time.Second))
	}
	return p
}
