package libvirtd

import (
	"context"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/provision"
)

// Inventory lists pools, networks and the project's domains and volumes.
// Domains are listed in one call and only those named for the project are
// inspected further.
func (c *Conn) Inventory(ctx context.Context, project string) (*provision.Inventory, error) {
	inv := &provision.Inventory{}
	pools, err := c.c.ListAllStoragePools(0)
	if err != nil {
		return nil, fmt.Errorf("list pools on %s: %w", c.uri, translate(err))
	}
	prefix := provision.VolumePrefix(project)
	for i := range pools {
		p := &pools[i]
		ps, vols, err := c.poolState(p, prefix)
		p.Free()
		if err != nil {
			return nil, err
		}
		inv.Pools = append(inv.Pools, ps)
		inv.Volumes = append(inv.Volumes, vols...)
	}
	nets, err := c.c.ListAllNetworks(0)
	if err != nil {
		return nil, fmt.Errorf("list networks on %s: %w", c.uri, translate(err))
	}
	for i := range nets {
		n := &nets[i]
		x, err := n.GetXMLDesc(0)
		active, _ := n.IsActive()
		n.Free()
		if err != nil {
			return nil, fmt.Errorf("read network: %w", translate(err))
		}
		var nx libvirtxml.Network
		if err := nx.Unmarshal(x); err != nil {
			return nil, fmt.Errorf("parse network XML: %w", err)
		}
		ns := provision.NetworkState{Name: nx.Name, Active: active}
		if nx.Bridge != nil {
			ns.Bridge = nx.Bridge.Name
		}
		if len(nx.IPs) > 0 {
			ns.CIDR = fmt.Sprintf("%s/%d", nx.IPs[0].Address, nx.IPs[0].Prefix)
		}
		ns.Owned = ns.Bridge == provision.NetworkBridge(project, nx.Name)
		inv.Networks = append(inv.Networks, ns)
	}
	doms, err := c.domains(project)
	if err != nil {
		return nil, err
	}
	inv.Domains = doms
	// libvirt's test driver describes a fictional machine (3 MiB free, or
	// no memory at all with a custom node file): its figures are no
	// capacity to place hosts by, and are not read.
	if typ, err := c.c.GetType(); err == nil && typ == "TEST" {
		return inv, nil
	}
	node, err := c.c.GetNodeInfo()
	if err != nil {
		return nil, fmt.Errorf("read node info on %s: %w", c.uri, translate(err))
	}
	free, err := c.c.GetFreeMemory()
	if err != nil {
		return nil, fmt.Errorf("read free memory on %s: %w", c.uri, translate(err))
	}
	inv.Node = provision.NodeCapacity{Known: true, CPUs: int(node.Cpus), MemoryFree: free}
	return inv, nil
}

// domains reads the project's domains with a number of libvirt calls that
// does not grow with the number of hosts, except for one definition read
// per domain named for the project (libvirt has no bulk read of XML or
// metadata): one listing, one of the autostarted, three by state.
// (virConnectGetAllDomainStats would do for the states, but the Go binding
// asks each domain for its vCPU count while decoding the answer.)
func (c *Conn) domains(project string) ([]provision.DomainState, error) {
	all, err := c.c.ListAllDomains(0)
	if err != nil {
		return nil, fmt.Errorf("list domains on %s: %w", c.uri, translate(err))
	}
	var named []*libvirt.Domain
	defer func() {
		for _, d := range named {
			d.Free()
		}
	}()
	for i := range all {
		if name, err := all[i].GetName(); err == nil && strings.HasPrefix(name, project+"-") {
			named = append(named, &all[i])
			continue
		}
		all[i].Free()
	}
	if len(named) == 0 {
		return nil, nil
	}
	auto, err := c.c.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_AUTOSTART)
	if err != nil {
		return nil, fmt.Errorf("list autostarted domains on %s: %w", c.uri, translate(err))
	}
	autostart := map[string]bool{}
	for i := range auto {
		if name, err := auto[i].GetName(); err == nil {
			autostart[name] = true
		}
		auto[i].Free()
	}
	state, err := c.states()
	if err != nil {
		return nil, err
	}
	// Definitions are read a few at a time: each read is a round trip,
	// and the daemon answers several at once.
	type read struct {
		ds  provision.DomainState
		ok  bool
		err error
	}
	reads := make([]read, len(named))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(definitionReaders, len(named)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				reads[i].ds, reads[i].ok, reads[i].err = domainState(named[i], project)
			}
		}()
	}
	for i := range named {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []provision.DomainState
	for i, r := range reads {
		if r.err != nil {
			return nil, r.err
		}
		if !r.ok {
			continue
		}
		ds := r.ds
		ds.State, ds.Autostart = state[ds.Name], autostart[ds.Name]
		if ds.State == "" { // crashed, suspended, shutting down: rare, asked one by one
			st, _, err := named[i].GetState()
			if err != nil {
				return nil, fmt.Errorf("state of %q: %w", ds.Name, translate(err))
			}
			ds.State = domainStates[st]
		}
		out = append(out, ds)
	}
	return out, nil
}

func (c *Conn) poolState(p *libvirt.StoragePool, prefix string) (provision.PoolState, []provision.VolumeState, error) {
	x, err := p.GetXMLDesc(0)
	if err != nil {
		return provision.PoolState{}, nil, fmt.Errorf("read pool: %w", translate(err))
	}
	var px libvirtxml.StoragePool
	if err := px.Unmarshal(x); err != nil {
		return provision.PoolState{}, nil, fmt.Errorf("parse pool XML: %w", err)
	}
	ps := provision.PoolState{Name: px.Name}
	if px.Target != nil {
		ps.Path = px.Target.Path
	}
	ps.Active, _ = p.IsActive()
	if !ps.Active {
		return ps, nil, nil
	}
	_ = p.Refresh(0) // pick up files removed behind libvirt's back
	if info, err := p.GetInfo(); err == nil {
		ps.Available = info.Available
	}
	vols, err := p.ListAllStorageVolumes(0)
	if err != nil {
		return ps, nil, fmt.Errorf("list volumes of pool %q: %w", px.Name, translate(err))
	}
	var owned []provision.VolumeState
	ps.Volumes = len(vols)
	for i := range vols {
		v := &vols[i]
		name, _ := v.GetName() // held by the object: no call to the daemon
		if proj, ok := strings.CutSuffix(name, "-pool.owner"); ok && strings.HasPrefix(proj, "fjord-") {
			ps.OwnedBy = strings.TrimPrefix(proj, "fjord-")
		}
		if strings.HasPrefix(name, prefix) {
			var path string
			if px.Type == "dir" && ps.Path != "" {
				path = filepath.Join(ps.Path, name) // a directory pool's volumes are its files
			} else {
				path, _ = v.GetPath()
			}
			owned = append(owned, provision.VolumeState{Pool: px.Name, Name: name, Path: path})
		}
		v.Free()
	}
	return ps, owned, nil
}

// definitionReaders is how many domain definitions one inventory reads at once.
const definitionReaders = 4

// states lists running, paused and shut-off domains by name, one call each.
func (c *Conn) states() (map[string]string, error) {
	state := map[string]string{}
	for _, s := range []struct {
		flag libvirt.ConnectListAllDomainsFlags
		name string
	}{
		{libvirt.CONNECT_LIST_DOMAINS_RUNNING, "running"},
		{libvirt.CONNECT_LIST_DOMAINS_PAUSED, "paused"},
		{libvirt.CONNECT_LIST_DOMAINS_SHUTOFF, "shutoff"},
	} {
		doms, err := c.c.ListAllDomains(s.flag)
		if err != nil {
			return nil, fmt.Errorf("list %s domains on %s: %w", s.name, c.uri, translate(err))
		}
		for i := range doms {
			if name, err := doms[i].GetName(); err == nil {
				state[name] = s.name
			}
			doms[i].Free()
		}
	}
	return state, nil
}

// domainDef is the part of a domain definition an inventory needs.
type domainDef struct {
	Name   string `xml:"name"`
	VCPU   uint   `xml:"vcpu"`
	Memory struct {
		Value uint64 `xml:",chardata"`
		Unit  string `xml:"unit,attr"`
	} `xml:"memory"`
	Metadata struct {
		Host *provision.HostMeta `xml:"https://fjord.dev/xmlns/host/1 host"`
	} `xml:"metadata"`
}

// domainState reads a domain's persistent definition (one call) and its
// fjord metadata; ok is false for domains the project does not own. The
// persistent definition is what fjord wrote and what a later start boots,
// so a change made with virsh edit or setmaxmem --config is seen at once.
func domainState(d *libvirt.Domain, project string) (provision.DomainState, bool, error) {
	x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		if notFound(err) {
			return provision.DomainState{}, false, nil // undefined meanwhile
		}
		return provision.DomainState{}, false, fmt.Errorf("read domain: %w", translate(err))
	}
	var def domainDef
	if err := xml.Unmarshal([]byte(x), &def); err != nil {
		return provision.DomainState{}, false, fmt.Errorf("parse domain XML: %w", err)
	}
	meta := def.Metadata.Host
	if meta == nil || meta.Project != project {
		return provision.DomainState{}, false, nil // same prefix, not ours
	}
	mem, err := toKiB(def.Memory.Value, def.Memory.Unit)
	if err != nil {
		return provision.DomainState{}, false, fmt.Errorf("domain %q: %w", def.Name, err)
	}
	meta.XMLName, meta.NS = xml.Name{}, ""
	return provision.DomainState{Name: def.Name, Meta: *meta, VCPU: int(def.VCPU), MemoryKiB: mem}, true, nil
}

// toKiB converts a libvirt memory amount to KiB.
func toKiB(v uint64, unit string) (uint64, error) {
	switch unit {
	case "", "k", "KiB":
		return v, nil
	case "b", "bytes":
		return v / 1024, nil
	case "KB":
		return v * 1000 / 1024, nil
	case "M", "MiB":
		return v << 10, nil
	case "MB":
		return v * 1000 * 1000 / 1024, nil
	case "G", "GiB":
		return v << 20, nil
	case "GB":
		return v * 1000 * 1000 * 1000 / 1024, nil
	case "T", "TiB":
		return v << 30, nil
	}
	return 0, fmt.Errorf("unknown memory unit %q", unit)
}
