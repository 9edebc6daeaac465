package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCancelledContextStopsAWaitAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	t0 := time.Now()
	err := Until(ctx, time.Hour, time.Hour, "the guest", func() (bool, error) { return false, nil })
	if !errors.Is(err, context.Canceled) || time.Since(t0) > time.Second {
		t.Fatalf("Until returned %v after %s", err, time.Since(t0))
	}
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
}

func TestUntilSaysWhatTimedOut(t *testing.T) {
	calls := 0
	err := Until(context.Background(), time.Millisecond, 20*time.Millisecond, "the seed disk to be released", func() (bool, error) {
		calls++
		return false, nil
	})
	if !errors.Is(err, ErrTimeout) || err.Error() != "the seed disk to be released: timed out after 20ms" || calls < 2 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	boom := errors.New("boom")
	if err := Until(context.Background(), time.Millisecond, time.Second, "x", func() (bool, error) { return false, boom }); err != boom {
		t.Fatalf("a failing condition: %v", err)
	}
	if err := Until(context.Background(), time.Hour, time.Hour, "x", func() (bool, error) { return true, nil }); err != nil {
		t.Fatalf("a condition met at once: %v", err)
	}
}
