// Package poll is fjord's one way of waiting: every wait honours its
// context at once (Ctrl-C stops it mid-sleep, not after), and a wait that
// runs out says what it waited for.
package poll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout is returned by Until when its timeout passed first.
var ErrTimeout = errors.New("timed out")

// Sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx's error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Until calls cond every interval until it reports done or fails, ctx is
// done, or timeout passes. cond runs once at once. It returns nil when
// cond was done, cond's error, ctx's error, or an error wrapping
// ErrTimeout that names what was waited for.
func Until(ctx context.Context, interval, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		done, err := cond()
		if err != nil || done {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s: %w after %s", what, ErrTimeout, timeout)
		}
		if err := Sleep(ctx, min(interval, left)); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
	}
}
