package model

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Network kinds.
const (
	// NetIsolated is a libvirt network without forwarding, NAT or DNS:
	// only its hypervisor and the guests on it reach each other.
	NetIsolated = "isolated"
	// NetBridge attaches guests to a bridge that already exists on the
	// hypervisor (the LAN, a VLAN): fjord checks it is there and never
	// creates, changes or deletes it. Addresses are static.
	NetBridge = "bridge"
	// NetRoute and NetNAT are libvirt networks that forward to the
	// hypervisor's other networks, routed or behind NAT: an explicit
	// opt-in, because guests on them reach beyond their hypervisor.
	NetRoute = "route"
	NetNAT   = "nat"
)

// Managed reports whether libvirt makes the network (and hands out its
// addresses by DHCP reservation), as opposed to a bridge fjord only attaches to.
func (n Network) Managed() bool { return n.Mode != NetBridge }

// HypervisorAddress is the address a libvirt-managed network's bridge takes
// on the hypervisor: the first usable one. It is the guests' gateway on a
// route or nat network.
func (n Network) HypervisorAddress() netip.Addr { return n.CIDR.Masked().Addr().Next() }

// Router is the default gateway guests on the network get: the declared
// gateway of a bridge network, the hypervisor on route and nat networks,
// none (the zero Addr) on an isolated one.
func (n Network) Router() netip.Addr {
	switch n.Mode {
	case NetBridge:
		return n.Gateway
	case NetRoute, NetNAT:
		return n.HypervisorAddress()
	}
	return netip.Addr{}
}

// reserved reports whether a is an address of the network no host may take:
// network and broadcast addresses, the hypervisor's on a managed network,
// the gateway and DNS servers on a bridge.
func (n Network) reserved(a netip.Addr) bool {
	if a == n.CIDR.Masked().Addr() || a == broadcast(n.CIDR) {
		return true
	}
	if n.Managed() {
		return a == n.HypervisorAddress()
	}
	if a == n.Gateway {
		return true
	}
	for _, d := range n.DNS {
		if a == d {
			return true
		}
	}
	return false
}

// allocatable is the prefix fjord hands out addresses from when a host
// declares none: the whole range on a managed network, Allocate on a bridge
// (a LAN has other machines: fjord takes only the part it is given).
func (n Network) allocatable() (netip.Prefix, bool) {
	if n.Managed() {
		return n.CIDR, true
	}
	return n.Allocate, n.Allocate.IsValid()
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// NIC is one of a host's network interfaces, in the order of the host's
// networks: the first is the management interface, the one fjord and
// admins reach the host on.
type NIC struct {
	Network string
	MAC     string
	IP      netip.Addr
	// Name is the interface's name in the guest (fj0, fj1, …): cloud-init
	// renames the interface with MAC to it, so rules and admins can rely on it.
	Name string
}

// Port is a container port a host publishes to the outside.
type Port struct {
	Number uint16
	Proto  string // "tcp" or "udp"
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Number, p.Proto) }

// ParsePort reads "80", "80/tcp" or "53/udp".
func ParsePort(s string) (Port, error) {
	num, proto, hasProto := strings.Cut(strings.TrimSpace(s), "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return Port{}, fmt.Errorf("%q: the protocol is tcp or udp, not %q", s, proto)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return Port{}, fmt.Errorf("%q is not a port: a number from 1 to 65535, optionally /tcp or /udp", s)
	}
	return Port{Number: uint16(n), Proto: proto}, nil
}

// Ports fjord itself needs on a host, and the Docker API's, which is never
// reachable over the network: none may be published.
var reservedPorts = map[Port]string{
	{22, "tcp"}:   "fjord and admins reach the host's SSH on it (admin_sources says who may)",
	{2375, "tcp"}: "it is the Docker API's plain port, which is never reachable over the network",
	{2376, "tcp"}: "it is the Docker API's TLS port, which is never reachable over the network",
}

// ManagementNetwork is the name of the network the host is reached on.
func (h Host) ManagementNetwork() string {
	if len(h.Networks) == 0 {
		return ""
	}
	return h.Networks[0]
}

// AdminSources are the prefixes SSH is accepted from: the declared ones, or
// the management network.
func (h Host) AdminSources(c *Config) []netip.Prefix {
	if h.Docker.AdminSources != nil {
		return h.Docker.AdminSources
	}
	if n, ok := c.Network(h.ManagementNetwork()); ok && n.CIDR.IsValid() {
		return []netip.Prefix{n.CIDR.Masked()}
	}
	return nil
}

// validateNetwork checks one network block's own attributes.
func validateNetwork(n Network, add func(field, format string, args ...any)) {
	switch n.Mode {
	case "", NetIsolated, NetRoute, NetNAT:
		if n.Bridge != "" {
			add("bridge", "bridge names an existing host bridge, which only a network of mode %q uses; set mode = %q or leave bridge out", NetBridge, NetBridge)
		}
		switch {
		case n.Gateway.IsValid() && (n.Mode == NetRoute || n.Mode == NetNAT):
			add("gateway", "a %s network's gateway is its hypervisor (%s); gateway is for bridge networks", n.Mode, n.HypervisorAddress())
		case n.Gateway.IsValid():
			add("gateway", "an isolated network has no gateway (its guests reach only their hypervisor, at %s); gateway is for bridge networks, mode = \"route\" or \"nat\" forwards through the hypervisor", n.HypervisorAddress())
		}
		if n.Allocate.IsValid() {
			add("allocate", "fjord allocates from the whole range of a network libvirt manages; allocate is for bridge networks")
		}
	case NetBridge:
		if !validIfName(n.Bridge) {
			add("bridge", "%q is not an interface name: 1 to 15 characters, no '/', ':' or blanks", n.Bridge)
		}
	default:
		add("mode", "must be %q, %q, %q or %q, not %q", NetIsolated, NetBridge, NetRoute, NetNAT, n.Mode)
	}
	if !n.CIDR.Addr().Is4() {
		add("cidr", "must be an IPv4 prefix such as 192.168.150.0/24")
		return
	}
	if n.CIDR.Bits() > 29 {
		add("cidr", "/%d leaves no room for hosts; use /29 or larger", n.CIDR.Bits())
		return
	}
	inside := func(field string, a netip.Addr) {
		if !n.CIDR.Contains(a) {
			add(field, "%s is outside the network's cidr %s", a, n.CIDR)
		} else if a == n.CIDR.Masked().Addr() || a == broadcast(n.CIDR) {
			add(field, "%s is the network's own or broadcast address", a)
		}
	}
	if n.Gateway.IsValid() {
		inside("gateway", n.Gateway)
	}
	if n.Allocate.IsValid() && (!n.CIDR.Contains(n.Allocate.Addr()) || n.Allocate.Bits() < n.CIDR.Bits()) {
		add("allocate", "%s is not inside the network's cidr %s", n.Allocate, n.CIDR)
	}
	if n.MTU != 0 && (n.MTU < 576 || n.MTU > 9216) {
		add("mtu", "must be between 576 and 9216, got %d", n.MTU)
	}
}

func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n")
}

// validateNICs checks every expanded host's networks and addresses: each
// network once, addresses inside their network, free of its reserved
// addresses and of every other host's.
func (c *Config) validateNICs(add func(kind, name, field, format string, args ...any)) {
	nets := map[string]Network{}
	for _, n := range c.Networks {
		nets[n.Name] = n
	}
	taken := map[string]map[netip.Addr]string{} // network → address → host
	reported := map[string]bool{}
	once := func(h Host, key string) bool {
		k := h.Base + "\x00" + key
		if reported[k] {
			return false
		}
		reported[k] = true
		return true
	}
	for _, h := range c.Hosts {
		seen := map[string]bool{}
		for _, name := range h.Networks {
			if seen[name] && once(h, "dup "+name) {
				add("host", h.Base, "networks", "network %q is listed twice", name)
			}
			seen[name] = true
		}
		if len(h.Networks) > 8 && once(h, "many") {
			add("host", h.Base, "networks", "a host may have at most 8 networks, got %d", len(h.Networks))
		}
		keys := make([]string, 0, len(h.Addresses))
		for k := range h.Addresses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, name := range keys {
			a := h.Addresses[name]
			n, ok := nets[name]
			switch {
			case !seen[name]:
				if once(h, "addr-net "+name) {
					add("host", h.Base, "address", "%s is for network %q, which the host is not on (networks = %s)", a, name, quoteList(h.Networks))
				}
				continue
			case !ok || !n.CIDR.Addr().Is4() || n.CIDR.Bits() > 29:
				continue // reported with the network
			case !n.CIDR.Contains(a):
				add("host", h.Base, "address", "host %s: %s is outside network %q (%s)", h.Name, a, name, n.CIDR)
				continue
			case n.reserved(a):
				add("host", h.Base, "address", "host %s: %s is reserved on network %q (its network, broadcast, gateway, DNS or hypervisor address)", h.Name, a, name)
				continue
			}
			if taken[name] == nil {
				taken[name] = map[netip.Addr]string{}
			}
			if other, dup := taken[name][a]; dup {
				add("host", h.Base, "address", "host %s: %s on network %q is host %s's address too; give each host its own", h.Name, a, name, other)
				continue
			}
			taken[name][a] = h.Name
		}
		for _, name := range h.Networks {
			n, ok := nets[name]
			if !ok || h.Addresses[name].IsValid() {
				continue
			}
			if _, can := n.allocatable(); !can && once(h, "alloc "+name) {
				add("host", h.Base, "address", "network %q is a bridge fjord allocates no addresses on; give the host an address on it (address = { %s = \"…\" }) or the network an allocate range", name, name)
			}
		}
	}
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// resolveNICs gives every host one NIC per network: the MAC derived from
// the project, host and network names (the first NIC's from the project
// and host names alone, as before hosts had several), the declared address
// or one allocated from the network's range, stable per host name.
// Declared addresses are taken first, so allocation never lands on one.
func (c *Config) resolveNICs() {
	nets := map[string]Network{}
	for _, n := range c.Networks {
		nets[n.Name] = n
	}
	taken := map[string]map[netip.Addr]bool{}
	take := func(net string, a netip.Addr) {
		if taken[net] == nil {
			taken[net] = map[netip.Addr]bool{}
		}
		taken[net][a] = true
	}
	for _, h := range c.Hosts {
		for net, a := range h.Addresses {
			take(net, a)
		}
	}
	idx := make([]int, len(c.Hosts))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return c.Hosts[idx[a]].Name < c.Hosts[idx[b]].Name })
	for _, i := range idx {
		h := &c.Hosts[i]
		h.NICs = nil
		for k, name := range h.Networks {
			key := c.Project + "\x00" + h.Name
			if k > 0 {
				key += "\x00" + name
			}
			sum := sha256.Sum256([]byte(key))
			nic := NIC{Network: name, MAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", sum[0], sum[1], sum[2]), Name: fmt.Sprintf("fj%d", k)}
			if a, ok := h.Addresses[name]; ok {
				nic.IP = a
			} else if n, ok := nets[name]; ok {
				nic.IP = allocate(n, binary.BigEndian.Uint32(sum[4:8]), taken[name])
				if nic.IP.IsValid() {
					take(name, nic.IP)
				}
			}
			h.NICs = append(h.NICs, nic)
		}
		if len(h.NICs) > 0 {
			h.MAC, h.IP = h.NICs[0].MAC, h.NICs[0].IP
		}
	}
}

// allocate picks the free address at offset off (mod the room) in the
// network's allocatable range, or the next free one after it. On a managed
// network the range is every address after the hypervisor's and before the
// broadcast address, as it has always been, so hosts keep their addresses.
func allocate(n Network, off uint32, taken map[netip.Addr]bool) netip.Addr {
	p, ok := n.allocatable()
	if !ok || !p.Addr().Is4() || !n.CIDR.Addr().Is4() || n.CIDR.Bits() > 29 || p.Bits() > 30 {
		return netip.Addr{}
	}
	base := p.Masked().Addr().As4()
	first := binary.BigEndian.Uint32(base[:])
	room := uint32(1) << (32 - p.Bits())
	if n.Managed() {
		first, room = first+2, uint32(usable(p))
	}
	for tries := uint32(0); tries < room; tries++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], first+(off+tries)%room)
		a := netip.AddrFrom4(b)
		if !taken[a] && !n.reserved(a) {
			return a
		}
	}
	return netip.Addr{}
}

// validatePorts checks a host's publish list and admin sources.
func (d Docker) validatePorts(add func(field, format string, args ...any)) {
	seen := map[Port]bool{}
	for _, p := range d.Publish {
		if why, ok := reservedPorts[p]; ok {
			add("docker.publish", "%s cannot be published: %s", p, why)
		}
		if seen[p] {
			add("docker.publish", "%s is listed twice", p)
		}
		seen[p] = true
	}
	if d.AdminSources != nil && len(d.AdminSources) == 0 {
		add("docker.admin_sources", "admin_sources is empty: nobody could reach the host's SSH, fjord included; list the prefixes admins and fjord connect from, or leave it out for the management network")
	}
	for _, s := range d.AdminSources {
		if s.Bits() == 0 {
			add("docker.admin_sources", "%s admits every address; list the networks admins and fjord connect from", s)
		}
	}
}
