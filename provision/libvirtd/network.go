package libvirtd

import (
	"context"
	"fmt"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/provision"
)

// EnsureNetwork creates an isolated network (no <forward>: no NAT, no
// routing; DNS off) with a DHCP reservation per host. On an existing network
// that fjord created, missing reservations are added; a network fjord did
// not create is only started if it is down.
func (c *Conn) EnsureNetwork(ctx context.Context, ns provision.NetworkSpec) error {
	n, err := c.c.LookupNetworkByName(ns.Name)
	if err == nil {
		defer n.Free()
		x, err := n.GetXMLDesc(0)
		if err != nil {
			return fmt.Errorf("read network %q: %w", ns.Name, translate(err))
		}
		var nx libvirtxml.Network
		if err := nx.Unmarshal(x); err != nil {
			return err
		}
		if nx.Bridge != nil && nx.Bridge.Name == ns.Bridge {
			if err := addReservations(n, &nx, ns); err != nil {
				return err
			}
		}
		if active, _ := n.IsActive(); !active {
			if err := n.Create(); err != nil {
				return fmt.Errorf("start network %q: %w", ns.Name, translate(err))
			}
		}
		return nil
	}
	if !notFound(err) {
		return fmt.Errorf("look up network %q: %w", ns.Name, translate(err))
	}
	dhcp := &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: ns.RangeStart, End: ns.RangeEnd}}}
	for _, h := range ns.Hosts {
		dhcp.Hosts = append(dhcp.Hosts, libvirtxml.NetworkDHCPHost{MAC: h.MAC, IP: h.IP, Name: h.Name})
	}
	nx := &libvirtxml.Network{
		Name:   ns.Name,
		Bridge: &libvirtxml.NetworkBridge{Name: ns.Bridge, STP: "on", Delay: "0"},
		DNS:    &libvirtxml.NetworkDNS{Enable: "no"},
		IPs:    []libvirtxml.NetworkIP{{Address: ns.Gateway, Prefix: uint(ns.Prefix), DHCP: dhcp}},
	}
	if ns.Forward != "" {
		// Routed or NAT: libvirt's bridge is the guests' gateway (DHCP
		// gives it as their router); still no DNS.
		nx.Forward = &libvirtxml.NetworkForward{Mode: ns.Forward}
	}
	if ns.MTU != 0 {
		nx.MTU = &libvirtxml.NetworkMTU{Size: uint(ns.MTU)}
	}
	x, err := nx.Marshal()
	if err != nil {
		return err
	}
	n, err = c.c.NetworkDefineXML(x)
	if err != nil {
		return fmt.Errorf("define network %q: %w", ns.Name, translate(err))
	}
	defer n.Free()
	if err := n.Create(); err != nil {
		_ = n.Undefine()
		return fmt.Errorf("start network %q: %w", ns.Name, translate(err))
	}
	_ = n.SetAutostart(true)
	return nil
}

func addReservations(n *libvirt.Network, nx *libvirtxml.Network, ns provision.NetworkSpec) error {
	have := map[string]bool{}
	for _, ip := range nx.IPs {
		if ip.DHCP != nil {
			for _, h := range ip.DHCP.Hosts {
				have[strings.ToLower(h.MAC)] = true
			}
		}
	}
	flags := libvirt.NETWORK_UPDATE_AFFECT_CONFIG
	if active, _ := n.IsActive(); active {
		flags |= libvirt.NETWORK_UPDATE_AFFECT_LIVE
	}
	for _, h := range ns.Hosts {
		if have[strings.ToLower(h.MAC)] {
			continue
		}
		hx, err := (&libvirtxml.NetworkDHCPHost{MAC: h.MAC, IP: h.IP, Name: h.Name}).Marshal()
		if err != nil {
			return err
		}
		if err := n.Update(libvirt.NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.NETWORK_SECTION_IP_DHCP_HOST, -1, hx, flags); err != nil {
			return fmt.Errorf("add DHCP reservation %s → %s to network %q: %w", h.MAC, h.IP, ns.Name, translate(err))
		}
	}
	return nil
}

// DeleteNetwork removes a network fjord created, unless a domain still uses it.
func (c *Conn) DeleteNetwork(ctx context.Context, name string) error {
	n, err := c.c.LookupNetworkByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("network %q: %w", name, translate(err))
	}
	defer n.Free()
	users, err := c.networkUsers(name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("network %q is still used by %s: left in place", name, strings.Join(users, ", "))
	}
	if active, _ := n.IsActive(); active {
		if err := n.Destroy(); err != nil {
			return fmt.Errorf("stop network %q: %w", name, translate(err))
		}
	}
	if err := n.Undefine(); err != nil {
		return fmt.Errorf("undefine network %q: %w", name, translate(err))
	}
	return nil
}

func (c *Conn) networkUsers(network string) ([]string, error) {
	doms, err := c.c.ListAllDomains(0)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", translate(err))
	}
	var users []string
	for i := range doms {
		x, err := doms[i].GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
		doms[i].Free()
		if err != nil {
			continue
		}
		var dx libvirtxml.Domain
		if dx.Unmarshal(x) != nil || dx.Devices == nil {
			continue
		}
		for _, ifc := range dx.Devices.Interfaces {
			if ifc.Source != nil && ifc.Source.Network != nil && ifc.Source.Network.Network == network {
				users = append(users, "domain "+dx.Name)
				break
			}
		}
	}
	return users, nil
}
