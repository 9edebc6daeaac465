// Command fjord provisions hardened Docker hosts as KVM guests.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// FJORD_CPUPROFILE=FILE writes a Go CPU profile of the run (make bench
	// uses it to show where fjord's own time goes).
	var prof *os.File
	if path := os.Getenv("FJORD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			prof = f
		} else {
			fmt.Fprintf(os.Stderr, "FJORD_CPUPROFILE: cannot profile to %s\n", path)
		}
	}
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	os.Exit(code)
}
