package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fjord-dev/fjord/firewall"
)

// DialFunc opens a TCP connection, from wherever fjord reaches the host.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ProbeResult is what connecting to a host's addresses from outside found.
type ProbeResult struct {
	// Open lists, per address, the TCP ports that accepted a connection.
	Open map[netip.Addr][]uint16
	// Unreachable are addresses no port could be tried on (no route from
	// here), with why.
	Unreachable map[netip.Addr]string
}

// ProbeTimeout is how long one connection attempt may take: a port the
// firewall drops never answers, so this bounds the probe.
const ProbeTimeout = 2 * time.Second

// Probe connects to every port on every address, a few dozen at a time,
// and records which accepted. A refused or timed-out connection is closed.
func Probe(ctx context.Context, dial DialFunc, addrs []netip.Addr, ports []uint16) ProbeResult {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	res := ProbeResult{Open: map[netip.Addr][]uint16{}, Unreachable: map[netip.Addr]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, a := range addrs {
		for _, p := range ports {
			wg.Add(1)
			sem <- struct{}{}
			go func(a netip.Addr, p uint16) {
				defer wg.Done()
				defer func() { <-sem }()
				cctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
				defer cancel()
				c, err := dial(cctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(int(p))))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					c.Close()
					res.Open[a] = append(res.Open[a], p)
				case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
					res.Unreachable[a] = err.Error()
				}
			}(a, p)
		}
	}
	wg.Wait()
	for a := range res.Open {
		sort.Slice(res.Open[a], func(i, j int) bool { return res.Open[a][i] < res.Open[a][j] })
	}
	return res
}

// ProbedPorts are the ports probed on a host: SSH, the declared ones and
// firewall.Probed.
func ProbedPorts(e Expect) []uint16 {
	seen := map[uint16]bool{22: true}
	out := []uint16{22}
	add := func(p uint16) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range e.Docker.Publish {
		if p.Proto == "tcp" {
			add(p.Number)
		}
	}
	for _, p := range firewall.Probed {
		add(p)
	}
	return out
}

// Exposure checks, judged from a probe made from where fjord runs.
const (
	ExposureDockerAPIID  = "exposure.docker-api"
	ExposureUndeclaredID = "exposure.undeclared"
)

// ExposureChecks are the checks made by probing the host from outside.
func ExposureChecks() []Check {
	return []Check{
		{ID: ExposureDockerAPIID, Reference: "CIS 2.7", Title: "The Docker API (2375, 2376) does not answer from outside the host", Severity: High, Source: "probe",
			Hint: "the daemon must listen on its unix socket only, and the host firewall drop everything undeclared: fjord verify names the rule that differs (firewall.input)"},
		{ID: ExposureUndeclaredID, Reference: "fjord segregation", Title: "From outside, only SSH and the declared publish ports answer", Severity: High, Source: "probe",
			Hint: "declare the port in docker.publish if it is meant to be reachable; otherwise stop what listens on it, and check firewall.input and firewall.docker-user"},
	}
}

// Exposure judges a probe of the host against its declared ports.
func Exposure(r ProbeResult, e Expect) []Outcome {
	declared := map[uint16]bool{22: true}
	for _, p := range e.Docker.Publish {
		if p.Proto == "tcp" {
			declared[p.Number] = true
		}
	}
	addrs := make([]netip.Addr, 0, len(r.Open))
	for a := range r.Open {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	var api, undeclared, seen []string
	for _, a := range addrs {
		for _, p := range r.Open[a] {
			at := net.JoinHostPort(a.String(), strconv.Itoa(int(p)))
			seen = append(seen, at)
			switch {
			case p == 2375 || p == 2376:
				api = append(api, at)
			case !declared[p]:
				undeclared = append(undeclared, at)
			}
		}
	}
	var notes []string
	for a, why := range r.Unreachable {
		notes = append(notes, fmt.Sprintf("%s not reachable from here (%s)", a, why))
	}
	sort.Strings(notes)
	observed := "answering: " + orEmpty(strings.Join(seen, ", "))
	if len(notes) > 0 {
		observed += "; " + strings.Join(notes, "; ")
	}
	judgeOf := map[string]string{}
	if len(api) > 0 {
		judgeOf[ExposureDockerAPIID] = "the Docker API answers at " + strings.Join(api, ", ")
	}
	if len(undeclared) > 0 {
		judgeOf[ExposureUndeclaredID] = "undeclared ports answer: " + strings.Join(undeclared, ", ")
	}
	checks := ExposureChecks()
	for i := range checks {
		msg := judgeOf[checks[i].ID]
		checks[i].Judge = func(Output, Expect) string { return msg }
		checks[i].Observe = func(Output) string { return observed }
	}
	return judge(checks, map[string]Output{}, e)
}
