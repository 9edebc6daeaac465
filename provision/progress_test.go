package provision

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// A transfer reports once per interval of its own clock and once at the
// end, with the rate so far and the time the rest should take.
func TestMeterReportsRateAndTimeLeft(t *testing.T) {
	clock := time.Unix(0, 0)
	var got []Progress
	m := metered(bytes.NewReader(make([]byte, 10<<20)), "download", 10<<20, func(p Progress) { got = append(got, p) }).(*meter)
	m.now = func() time.Time { return clock }
	m.start, m.last = clock, clock
	buf := make([]byte, 1<<20)
	for {
		clock = clock.Add(500 * time.Millisecond) // 1 MiB every half second: 2 MiB/s
		if _, err := m.Read(buf); err == io.EOF {
			break
		}
	}
	if len(got) < 5 || len(got) > 7 {
		t.Fatalf("%d reports for 10 reads a second apart each two: %+v", len(got), got)
	}
	first := got[0]
	if first.Done != 2<<20 || first.Rate != 2<<20 || first.Left != 4*time.Second || first.Fraction() != 0.2 {
		t.Errorf("first report = %+v", first)
	}
	if last := got[len(got)-1]; last.Done != 10<<20 || last.Left != 0 || last.Step != "download" {
		t.Errorf("last report = %+v", last)
	}
	if metered(bytes.NewReader(nil), "x", 0, nil) == nil {
		t.Error("no reader without a report func")
	}
}
