// Command fjord-probe runs inside fjord's canary container and reports what
// the kernel enforces on it: the user-namespace mapping, seccomp, no new
// privileges, effective capabilities, the AppArmor label and whether the
// root filesystem is writable. It is built static (no cgo) and imported as
// the only file of a Docker image, so the guest needs no registry.
//
// With -serve PORT it is instead a TCP service that answers every
// connection with "fjord-probe\n": what tests publish to see which ports
// reach a container from outside a host.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/fjord-dev/fjord/canary/probe"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve" {
		serve(os.Args[2])
		return
	}
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

func serve(port string) {
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		c.Write([]byte("fjord-probe\n"))
		c.Close()
	}
}
