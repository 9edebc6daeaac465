//go:build crashhook

package main

import (
	"os"
	"syscall"

	"github.com/fjord-dev/fjord/provision"
)

// crashHook, in builds with the crashhook tag (the e2e suite's), kills
// fjord with SIGKILL at the event FJORD_CRASH_AT names, OBJECT/PHASE:STATUS
// such as "host.node/boot:done": the way to prove that an apply or destroy
// interrupted at any point leaves state the next run converges from.
func crashHook() func(provision.Event) {
	at := os.Getenv("FJORD_CRASH_AT")
	if at == "" {
		return nil
	}
	return func(e provision.Event) {
		if e.Object+"/"+e.Phase+":"+e.Status == at {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}
