// Command fjord-probe runs inside fjord's canary container and reports what
// the kernel enforces on it: the user-namespace mapping, seccomp, no new
// privileges, effective capabilities, the AppArmor label and whether the
// root filesystem is writable. It is built static (no cgo) and imported as
// the only file of a Docker image, so the guest needs no registry.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"

	"github.com/fjord-dev/fjord/canary/probe"
)

func main() {
	r := probe.Report{UID: os.Getuid()}
	if b, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		r.UIDMap = strings.Join(strings.Fields(string(b)), " ")
	}
	if f, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k {
			case "Seccomp":
				r.Seccomp = strings.TrimSpace(v)
			case "NoNewPrivs":
				r.NoNewPrivs = strings.TrimSpace(v)
			case "CapEff":
				r.CapEff = strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/self/attr/current"); err == nil {
		r.AppArmor = strings.TrimRight(string(b), "\x00\n")
	}
	if f, err := os.Create("/fjord-probe-write"); err != nil {
		r.RootWrite = "refused: " + err.Error()
	} else {
		f.Close()
		os.Remove("/fjord-probe-write")
		r.RootWrite = "allowed"
	}
	json.NewEncoder(os.Stdout).Encode(r)
}
