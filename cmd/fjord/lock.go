package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fjord-dev/fjord/poll"
)

// projectLock serialises apply and destroy of one project on this machine.
// It is an flock, so the kernel releases it when the holder dies, even by
// kill -9; the file names the holder for whoever has to wait.
type projectLock struct{ f *os.File }

// lockProject takes the project's lock, waiting up to timeout (0: do not
// wait) and failing with the holder's description.
func lockProject(ctx context.Context, getenv func(string) string, project, what string, timeout time.Duration) (*projectLock, error) {
	dir, err := projectStateDir(getenv, project)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "lock")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) || poll.Sleep(ctx, min(200*time.Millisecond, time.Until(deadline))) != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, fmt.Errorf("project %q is locked by %s (lock file %s); wait for it, or pass -lock-timeout to wait longer",
				project, strings.TrimSpace(string(holder)), path)
		}
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("fjord %s, pid %d on %s, since %s\n", what, os.Getpid(), host, time.Now().Format(time.RFC3339))), 0)
	return &projectLock{f: f}, nil
}

func (l *projectLock) release() {
	_ = l.f.Truncate(0)
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}
