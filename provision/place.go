package provision

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fjord-dev/fjord/model"
)

// Placement is where a host is, or is to be created, and why.
type Placement struct {
	Host       string
	Hypervisor string
	// Existing: the host's domain is there already; a host stays where it
	// is until it is replaced.
	Existing bool
	// Candidates are the hypervisors the host could have gone to, and Load
	// how many hosts of its block each had when it was placed (existing
	// and newly placed ones), in the order of Candidates.
	Candidates []string
	Load       []int
}

// Shortfall is what one hypervisor lacks for a host.
type Shortfall struct {
	Hypervisor string
	Resource   string // "memory", "vcpu", "pool <name>"
	Need, Free uint64 // bytes, or CPUs for vcpu
}

func (s Shortfall) String() string {
	if s.Resource == "vcpu" {
		return fmt.Sprintf("%s has %d CPUs, the host asks for %d vCPUs", s.Hypervisor, s.Free, s.Need)
	}
	return fmt.Sprintf("%s has %s of %s free, the host needs %s (%s short)", s.Hypervisor,
		gib(s.Free), s.Resource, gib(s.Need), gib(s.Need-s.Free))
}

// gib renders bytes in GiB with one decimal, as free space is rarely round.
func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/float64(model.GiB)) }

// PlacementError says that a new host fits on none of its hypervisors,
// with what each lacks.
type PlacementError struct {
	Host       string
	Shortfalls []Shortfall
}

func (e *PlacementError) Error() string {
	parts := make([]string, len(e.Shortfalls))
	for i, s := range e.Shortfalls {
		parts[i] = s.String()
	}
	return fmt.Sprintf("host %q fits on none of its hypervisors: %s", e.Host, strings.Join(parts, "; "))
}

// Place decides the hypervisor of every host from the inventories read
// (keyed by hypervisor name) and records it in cfg's hosts. It is a pure
// function of the configuration and the inventories, so plan and apply
// agree:
//
//   - a host whose domain exists on one of its candidates stays there;
//   - each new host, in configuration order, goes to the candidate with
//     the fewest hosts of its block that has room for it (free memory
//     less what hosts placed before it take, vCPUs no more than the
//     machine's CPUs, its disks within the pool's free space), the first
//     listed among equals.
//
// Adding a hypervisor or raising count therefore never moves a host.
// Hypervisors without an inventory (not connected) take no new hosts;
// a host with no candidate left keeps Hypervisor "" and plans nothing.
// The error lists every new host that fits nowhere, with the shortfalls.
func Place(cfg *model.Config, invs map[string]*Inventory) (map[string]Placement, error) {
	out := map[string]Placement{}
	load := map[string]map[string]int{} // block → hypervisor → hosts
	count := func(base, hv string) {
		if load[base] == nil {
			load[base] = map[string]int{}
		}
		load[base][hv]++
	}
	isNew := make([]bool, len(cfg.Hosts))
	for i := range cfg.Hosts {
		h := &cfg.Hosts[i]
		name := DomainName(cfg.Project, h.Name)
		isNew[i] = true
		for _, hv := range h.Candidates() {
			if inv := invs[hv]; inv != nil {
				if _, ok := findDomain(inv, name); ok {
					h.Hypervisor, isNew[i] = hv, false
					count(h.Base, hv)
					out[h.Name] = Placement{Host: h.Name, Hypervisor: hv, Existing: true, Candidates: h.Candidates()}
					break
				}
			}
		}
	}
	// What new hosts placed so far take from each hypervisor.
	memTaken := map[string]uint64{}
	poolTaken := map[string]uint64{} // hypervisor/pool
	var errs []error
	for i := range cfg.Hosts {
		if !isNew[i] {
			continue
		}
		h := &cfg.Hosts[i]
		cands := h.Candidates()
		p := Placement{Host: h.Name, Candidates: cands, Load: make([]int, len(cands))}
		var short []Shortfall
		best := -1
		for j, hv := range cands {
			p.Load[j] = load[h.Base][hv]
			inv := invs[hv]
			if inv == nil {
				continue
			}
			if s := shortfalls(hv, inv, *h, memTaken[hv], poolTaken[hv+"/"+h.Pool]); len(s) > 0 {
				short = append(short, s...)
				continue
			}
			if best < 0 || p.Load[j] < p.Load[best] {
				best = j
			}
		}
		if best < 0 {
			if len(short) > 0 {
				errs = append(errs, &PlacementError{Host: h.Name, Shortfalls: short})
			}
			h.Hypervisor = ""
			continue
		}
		hv := cands[best]
		h.Hypervisor, p.Hypervisor = hv, hv
		count(h.Base, hv)
		memTaken[hv] += uint64(h.Memory)
		poolTaken[hv+"/"+h.Pool] += hostDisks(*h)
		out[h.Name] = p
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// hostDisks is the most a new host's volumes can grow to in its pool.
func hostDisks(h model.Host) uint64 { return uint64(h.Disk) + uint64(h.Docker.DataDisk) }

// shortfalls is what hv lacks for h once memTaken and poolTaken bytes are
// given to hosts placed before it; nothing when the node's capacity is not
// known.
func shortfalls(hv string, inv *Inventory, h model.Host, memTaken, poolTaken uint64) []Shortfall {
	if !inv.Node.Known {
		return nil
	}
	var s []Shortfall
	if h.VCPU > inv.Node.CPUs {
		s = append(s, Shortfall{Hypervisor: hv, Resource: "vcpu", Need: uint64(h.VCPU), Free: uint64(inv.Node.CPUs)})
	}
	if free := sub(inv.Node.MemoryFree, memTaken); uint64(h.Memory) > free {
		s = append(s, Shortfall{Hypervisor: hv, Resource: "memory", Need: uint64(h.Memory), Free: free})
	}
	// A pool that does not exist yet is made at apply; its space is the
	// filesystem's, which libvirt reports only once the pool exists.
	if ps, ok := findPool(inv, h.Pool); ok && ps.Active {
		if free := sub(ps.Available, poolTaken); hostDisks(h) > free {
			s = append(s, Shortfall{Hypervisor: hv, Resource: "pool " + h.Pool, Need: hostDisks(h), Free: free})
		}
	}
	return s
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
