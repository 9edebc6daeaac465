package libvirt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/poll"
	"github.com/fjord-dev/fjord/provision"
)

// Conn is one libvirt connection. It is safe for concurrent use.
type Conn struct {
	uri   string
	c     *libvirt.Connect
	local bool // the hypervisor runs on this machine
}

var _ provision.Hypervisor = (*Conn)(nil)

// Open connects to uri. An unreachable daemon is reported as
// provision.ErrUnreachable with what to check.
func Open(uri string) (*Conn, error) {
	c, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot connect to %s: %s (is libvirtd running, and may this user open its socket?)",
			provision.ErrUnreachable, uri, message(err))
	}
	u, _ := url.Parse(uri)
	return &Conn{uri: uri, c: c, local: u == nil || u.Host == ""}, nil
}

// Close ends the connection.
func (c *Conn) Close() error {
	_, err := c.c.Close()
	return err
}

// message is libvirt's own text of an error, without the code dump.
func message(err error) string {
	var le libvirt.Error
	if errors.As(err, &le) {
		return le.Message
	}
	return err.Error()
}

// translate maps libvirt's error codes onto provision's sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var le libvirt.Error
	if errors.As(err, &le) {
		switch le.Code {
		case libvirt.ERR_NO_DOMAIN, libvirt.ERR_NO_NETWORK, libvirt.ERR_NO_STORAGE_POOL,
			libvirt.ERR_NO_STORAGE_VOL, libvirt.ERR_NO_DOMAIN_METADATA:
			return fmt.Errorf("%w: %s", provision.ErrNotFound, le.Message)
		case libvirt.ERR_NO_CONNECT, libvirt.ERR_RPC:
			return fmt.Errorf("%w: %s", provision.ErrUnreachable, le.Message)
		}
		return errors.New(le.Message)
	}
	return err
}

func notFound(err error) bool { return errors.Is(translate(err), provision.ErrNotFound) }

var domainStates = map[libvirt.DomainState]string{
	libvirt.DOMAIN_NOSTATE:     "nostate",
	libvirt.DOMAIN_RUNNING:     "running",
	libvirt.DOMAIN_BLOCKED:     "running", // blocked on I/O: still running
	libvirt.DOMAIN_PAUSED:      "paused",
	libvirt.DOMAIN_SHUTDOWN:    "shutting-down",
	libvirt.DOMAIN_SHUTOFF:     "shutoff",
	libvirt.DOMAIN_CRASHED:     "crashed",
	libvirt.DOMAIN_PMSUSPENDED: "pmsuspended",
}

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

// EnsurePool creates a directory pool with an ownership marker, or starts
// an existing pool of that name without changing it.
func (c *Conn) EnsurePool(ctx context.Context, ps provision.PoolSpec) error {
	p, err := c.c.LookupStoragePoolByName(ps.Name)
	if err == nil {
		defer p.Free()
		if active, _ := p.IsActive(); !active {
			if err := p.Create(0); err != nil {
				return fmt.Errorf("start pool %q: %w", ps.Name, translate(err))
			}
		}
		return nil
	}
	if !notFound(err) {
		return fmt.Errorf("look up pool %q: %w", ps.Name, translate(err))
	}
	x, err := (&libvirtxml.StoragePool{Type: "dir", Name: ps.Name, Target: &libvirtxml.StoragePoolTarget{Path: ps.Path}}).Marshal()
	if err != nil {
		return err
	}
	p, err = c.c.StoragePoolDefineXML(x, 0)
	if err != nil {
		return fmt.Errorf("define pool %q at %s: %w", ps.Name, ps.Path, translate(err))
	}
	defer p.Free()
	if err := p.Build(0); err != nil {
		_ = p.Undefine()
		return fmt.Errorf("create directory %s for pool %q: %w", ps.Path, ps.Name, translate(err))
	}
	if err := p.Create(0); err != nil {
		_ = p.Undefine()
		return fmt.Errorf("start pool %q: %w", ps.Name, translate(err))
	}
	_ = p.SetAutostart(true)
	// The marker is an empty volume whose name says which project made the pool.
	mx, _ := (&libvirtxml.StorageVolume{
		Name:     provision.PoolMarkerVolume(ps.Project),
		Capacity: &libvirtxml.StorageVolumeSize{Value: 0, Unit: "bytes"},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "raw"}},
	}).Marshal()
	v, err := p.StorageVolCreateXML(mx, 0)
	if err != nil {
		return fmt.Errorf("mark pool %q as fjord's: %w", ps.Name, translate(err))
	}
	v.Free()
	return nil
}

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
	x, err := (&libvirtxml.Network{
		Name:   ns.Name,
		Bridge: &libvirtxml.NetworkBridge{Name: ns.Bridge, STP: "on", Delay: "0"},
		DNS:    &libvirtxml.NetworkDNS{Enable: "no"},
		IPs:    []libvirtxml.NetworkIP{{Address: ns.Gateway, Prefix: uint(ns.Prefix), DHCP: dhcp}},
	}).Marshal()
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

// CreateVolume creates (and fills) a volume, or returns the path of an
// existing one of that name. A volume whose upload fails is deleted.
func (c *Conn) CreateVolume(ctx context.Context, vs provision.VolumeSpec) (string, error) {
	p, err := c.c.LookupStoragePoolByName(vs.Pool)
	if err != nil {
		return "", fmt.Errorf("pool %q: %w", vs.Pool, translate(err))
	}
	defer p.Free()
	if v, err := p.LookupStorageVolByName(vs.Name); err == nil {
		defer v.Free()
		path, err := v.GetPath()
		return path, translate(err)
	}
	vx := &libvirtxml.StorageVolume{
		Name:     vs.Name,
		Capacity: &libvirtxml.StorageVolumeSize{Value: vs.Capacity, Unit: "bytes"},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: vs.Format}},
	}
	upload := vs.Content != nil || vs.Source != ""
	if upload {
		// The bytes are written as they are; raw keeps libvirt from formatting the file first.
		vx.Target.Format.Type = "raw"
		vx.Allocation = &libvirtxml.StorageVolumeSize{Value: 0, Unit: "bytes"}
	}
	if vs.Backing != nil {
		vx.BackingStore = &libvirtxml.StorageVolumeBackingStore{
			Path:   vs.Backing.Path,
			Format: &libvirtxml.StorageVolumeTargetFormat{Type: vs.Backing.Format},
		}
	}
	x, err := vx.Marshal()
	if err != nil {
		return "", err
	}
	v, err := p.StorageVolCreateXML(x, 0)
	if err != nil {
		return "", fmt.Errorf("create volume %q in pool %q: %w", vs.Name, vs.Pool, translate(err))
	}
	defer v.Free()
	if upload {
		if err := c.upload(ctx, v, vs); err != nil {
			_ = v.Delete(0)
			return "", fmt.Errorf("upload volume %q to pool %q: %w", vs.Name, vs.Pool, err)
		}
	}
	path, err := v.GetPath()
	return path, translate(err)
}

func (c *Conn) upload(ctx context.Context, v *libvirt.StorageVol, vs provision.VolumeSpec) error {
	var r io.Reader
	if vs.Content != nil {
		r = bytes.NewReader(vs.Content)
	} else {
		f, err := os.Open(vs.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		r = bufio.NewReaderSize(f, 1<<20)
	}
	st, err := c.c.NewStream(0)
	if err != nil {
		return translate(err)
	}
	defer st.Free()
	if err := v.Upload(st, 0, vs.Capacity, 0); err != nil {
		return translate(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			_ = st.Abort()
			return err
		}
		n, rerr := r.Read(buf)
		for off := 0; off < n; {
			m, err := st.Send(buf[off:n])
			if err != nil {
				_ = st.Abort()
				return translate(err)
			}
			off += m
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = st.Abort()
			return rerr
		}
	}
	return translate(st.Finish())
}

// DeleteVolume removes a volume; a missing volume or pool is not an error.
func (c *Conn) DeleteVolume(ctx context.Context, pool, name string) error {
	p, err := c.c.LookupStoragePoolByName(pool)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("pool %q: %w", pool, translate(err))
	}
	defer p.Free()
	v, err := p.LookupStorageVolByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("volume %q: %w", name, translate(err))
	}
	defer v.Free()
	if err := v.Delete(0); err != nil {
		return fmt.Errorf("delete volume %q from pool %q: %w", name, pool, translate(err))
	}
	return nil
}

// DefineAndStart defines the domain with its ownership metadata, then boots it.
func (c *Conn) DefineAndStart(ctx context.Context, ds provision.DomainSpec) error {
	x, err := DomainXML(ds)
	if err != nil {
		return err
	}
	d, err := c.c.DomainDefineXML(x)
	if err != nil {
		return fmt.Errorf("define domain %q: %w", ds.Name, translate(err))
	}
	defer d.Free()
	if ds.Meta.Autostart {
		if err := d.SetAutostart(true); err != nil {
			return fmt.Errorf("set autostart of %q: %w", ds.Name, translate(err))
		}
	}
	if err := d.Create(); err != nil {
		return fmt.Errorf("start domain %q: %w", ds.Name, translate(err))
	}
	return nil
}

// StartDomain boots a defined domain.
func (c *Conn) StartDomain(ctx context.Context, name string) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	if err := d.Create(); err != nil {
		return fmt.Errorf("start domain %q: %w", name, translate(err))
	}
	return nil
}

var pausedReasons = map[int]string{
	int(libvirt.DOMAIN_PAUSED_UNKNOWN):         "unknown",
	int(libvirt.DOMAIN_PAUSED_USER):            "paused by a user",
	int(libvirt.DOMAIN_PAUSED_IOERROR):         "I/O error",
	int(libvirt.DOMAIN_PAUSED_CRASHED):         "guest crashed",
	int(libvirt.DOMAIN_PAUSED_SHUTTING_DOWN):   "shutting down",
	int(libvirt.DOMAIN_PAUSED_POSTCOPY_FAILED): "migration failed",
}

var crashedReasons = map[int]string{
	int(libvirt.DOMAIN_CRASHED_UNKNOWN):  "unknown",
	int(libvirt.DOMAIN_CRASHED_PANICKED): "guest kernel panicked",
}

var shutoffReasons = map[int]string{
	int(libvirt.DOMAIN_SHUTOFF_UNKNOWN):   "unknown",
	int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN):  "the guest shut down",
	int(libvirt.DOMAIN_SHUTOFF_DESTROYED): "forced off",
	int(libvirt.DOMAIN_SHUTOFF_CRASHED):   "the guest crashed",
	int(libvirt.DOMAIN_SHUTOFF_FAILED):    "QEMU failed to start it",
}

// DomainStatus reports state, reason and leased addresses.
func (c *Conn) DomainStatus(ctx context.Context, name string) (provision.DomainStatus, error) {
	d, err := c.domain(name)
	if err != nil {
		return provision.DomainStatus{}, err
	}
	defer d.Free()
	st, reason, err := d.GetState()
	if err != nil {
		return provision.DomainStatus{}, translate(err)
	}
	out := provision.DomainStatus{State: domainStates[st], Reason: fmt.Sprintf("reason %d", reason)}
	var table map[int]string
	switch st {
	case libvirt.DOMAIN_PAUSED:
		table = pausedReasons
	case libvirt.DOMAIN_CRASHED:
		table = crashedReasons
	case libvirt.DOMAIN_SHUTOFF:
		table = shutoffReasons
	}
	if r, ok := table[reason]; ok {
		out.Reason = r
	}
	if out.State != "running" {
		return out, nil
	}
	ifs, err := d.ListAllInterfaceAddresses(libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
	if err != nil {
		return out, nil // no lease table yet is not an error
	}
	for _, i := range ifs {
		for _, a := range i.Addrs {
			if a.Type == libvirt.IP_ADDR_TYPE_IPV4 {
				out.Addresses = append(out.Addresses, a.Addr)
			}
		}
	}
	return out, nil
}

// ConsoleTail reads the end of the console log when the hypervisor is local.
func (c *Conn) ConsoleTail(ctx context.Context, name string, lines int) string {
	if !c.local {
		return ""
	}
	b, err := os.ReadFile(ConsoleLogPath(name))
	if err != nil {
		return ""
	}
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// RemoveDomain asks the guest to power off (ACPI), forces it off after the
// timeout, then undefines it. A missing domain is not an error.
func (c *Conn) RemoveDomain(ctx context.Context, name string, opts provision.RemoveOptions) error {
	d, err := c.c.LookupDomainByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("domain %q: %w", name, translate(err))
	}
	defer d.Free()
	if err := stop(ctx, d, name, opts); err != nil {
		return err
	}
	if err := d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_NVRAM); err != nil && !notFound(err) {
		return fmt.Errorf("undefine domain %q: %w", name, translate(err))
	}
	if c.local {
		_ = os.Remove(ConsoleLogPath(name))
	}
	return nil
}

// DeletePool removes a pool fjord created once nothing but its marker is in
// it. The directory is removed too, unless it is a mount point.
func (c *Conn) DeletePool(ctx context.Context, name string) error {
	p, err := c.c.LookupStoragePoolByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("pool %q: %w", name, translate(err))
	}
	defer p.Free()
	ps, _, err := c.poolState(p, "\x00")
	if err != nil {
		return err
	}
	if ps.OwnedBy == "" {
		return fmt.Errorf("pool %q has no fjord ownership marker: left in place", name)
	}
	if ps.Volumes > 1 {
		return fmt.Errorf("pool %q still holds %d volumes besides fjord's marker: left in place", name, ps.Volumes-1)
	}
	if ps.Active {
		vols, _ := p.ListAllStorageVolumes(0)
		for i := range vols {
			_ = vols[i].Delete(0)
			vols[i].Free()
		}
		keepDir := c.local && isMountPoint(ps.Path)
		if !keepDir {
			if err := p.Destroy(); err != nil {
				return fmt.Errorf("stop pool %q: %w", name, translate(err))
			}
			if err := p.Delete(0); err != nil {
				return fmt.Errorf("remove directory of pool %q: %w", name, translate(err))
			}
		} else if err := p.Destroy(); err != nil {
			return fmt.Errorf("stop pool %q: %w", name, translate(err))
		}
	}
	if err := p.Undefine(); err != nil {
		return fmt.Errorf("undefine pool %q: %w", name, translate(err))
	}
	return nil
}

// isMountPoint reports whether path is on another device than its parent.
func isMountPoint(path string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(path, &a) != nil || syscall.Stat(filepath.Dir(path), &b) != nil {
		return false
	}
	return a.Dev != b.Dev || a.Ino == b.Ino
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

// seedTarget is the device name of the seed disk in DomainXML.
const seedTarget = "vdb"

// DetachSeed unplugs the seed disk from the running guest and removes it
// from the definition, waiting (up to 30 s) for the guest to let go of it.
func (c *Conn) DetachSeed(ctx context.Context, name string) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	disk, err := findDisk(d, seedTarget, libvirt.DOMAIN_XML_INACTIVE)
	if err != nil || disk == "" {
		return err
	}
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	active, _ := d.IsActive()
	if live, _ := findDisk(d, seedTarget, 0); active && live != "" {
		flags |= libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	if err := d.DetachDeviceFlags(disk, flags); err != nil {
		return fmt.Errorf("detach the seed disk of %q: %w", name, translate(err))
	}
	if flags&libvirt.DOMAIN_DEVICE_MODIFY_LIVE == 0 {
		return nil
	}
	return poll.Until(ctx, 250*time.Millisecond, 30*time.Second, fmt.Sprintf("the guest %q to release its seed disk", name), func() (bool, error) {
		live, _ := findDisk(d, seedTarget, 0)
		return live == "", nil
	})
}

// findDisk returns the XML of the disk with target dev, "" when absent.
func findDisk(d *libvirt.Domain, dev string, flags libvirt.DomainXMLFlags) (string, error) {
	x, err := d.GetXMLDesc(flags)
	if err != nil {
		return "", translate(err)
	}
	var dx libvirtxml.Domain
	if err := dx.Unmarshal(x); err != nil {
		return "", err
	}
	if dx.Devices == nil {
		return "", nil
	}
	for _, disk := range dx.Devices.Disks {
		if disk.Target != nil && disk.Target.Dev == dev {
			return disk.Marshal()
		}
	}
	return "", nil
}

// SetMeta replaces the domain's fjord metadata element.
func (c *Conn) SetMeta(ctx context.Context, name string, m provision.HostMeta) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	x, err := provision.MarshalMetaElement(m)
	if err != nil {
		return err
	}
	flags := libvirt.DOMAIN_AFFECT_CONFIG
	if active, _ := d.IsActive(); active {
		flags |= libvirt.DOMAIN_AFFECT_LIVE
	}
	if err := d.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, x, "fjord", provision.MetadataNamespace, flags); err != nil {
		return fmt.Errorf("update metadata of %q: %w", name, translate(err))
	}
	if err := d.SetAutostart(m.Autostart); err != nil {
		return fmt.Errorf("set autostart of %q: %w", name, translate(err))
	}
	return nil
}

// stop asks the guest to power off (ACPI) and forces it off after the
// timeout; a domain that is not running is left as it is.
func stop(ctx context.Context, d *libvirt.Domain, name string, opts provision.RemoveOptions) error {
	if active, _ := d.IsActive(); !active {
		return nil
	}
	if opts.ShutdownTimeoutSeconds > 0 && d.Shutdown() == nil {
		err := poll.Until(ctx, 500*time.Millisecond, time.Duration(opts.ShutdownTimeoutSeconds)*time.Second, fmt.Sprintf("domain %q to shut down", name), func() (bool, error) {
			active, _ := d.IsActive()
			return !active, nil
		})
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, poll.ErrTimeout):
			return err // interrupted: the guest is left to finish its shutdown, not forced off
		}
	}
	if active, _ := d.IsActive(); active {
		if err := d.Destroy(); err != nil && !notFound(err) {
			return fmt.Errorf("force off domain %q: %w", name, translate(err))
		}
	}
	return nil
}

// Reconfigure rewrites vcpu, memory and metadata in the domain's
// definition; a running guest sees them after its next start.
func (c *Conn) Reconfigure(ctx context.Context, name string, vcpu int, memoryKiB uint64, m provision.HostMeta) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return fmt.Errorf("read domain %q: %w", name, translate(err))
	}
	var dx libvirtxml.Domain
	if err := dx.Unmarshal(x); err != nil {
		return err
	}
	meta, err := provision.MarshalMeta(m)
	if err != nil {
		return err
	}
	dx.Memory = &libvirtxml.DomainMemory{Value: uint(memoryKiB), Unit: "KiB"}
	dx.CurrentMemory = nil
	dx.VCPU = &libvirtxml.DomainVCPU{Placement: "static", Value: uint(vcpu)}
	dx.Metadata = &libvirtxml.DomainMetadata{XML: meta}
	nx, err := dx.Marshal()
	if err != nil {
		return err
	}
	nd, err := c.c.DomainDefineXML(nx)
	if err != nil {
		return fmt.Errorf("redefine domain %q: %w", name, translate(err))
	}
	nd.Free()
	return nil
}

// Restart stops the guest and boots it again with its current definition.
func (c *Conn) Restart(ctx context.Context, name string, opts provision.RemoveOptions) error {
	d, err := c.domain(name)
	if err != nil {
		return err
	}
	defer d.Free()
	if err := stop(ctx, d, name, opts); err != nil {
		return err
	}
	if err := d.Create(); err != nil {
		return fmt.Errorf("start domain %q: %w", name, translate(err))
	}
	return nil
}

// domain looks a domain up by name; the caller frees it. A missing one is
// provision.ErrNotFound, named.
func (c *Conn) domain(name string) (*libvirt.Domain, error) {
	d, err := c.c.LookupDomainByName(name)
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", name, translate(err))
	}
	return d, nil
}
