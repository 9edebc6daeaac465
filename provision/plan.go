package provision

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/fjord-dev/fjord/authz/plugin"
	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/model"
)

// Action is what a change does to one object.
type Action string

// The actions a plan can hold.
const (
	NoOp    Action = "no-op"
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace"
	Delete  Action = "delete"
)

// Object kinds.
const (
	KindPool    = "pool"
	KindNetwork = "network"
	KindImage   = "image"
	KindHost    = "host"
	KindVolume  = "volume"
)

// Change is one planned action with the reasons for it.
type Change struct {
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Hypervisor string   `json:"hypervisor"`
	Action     Action   `json:"action"`
	Reasons    []Reason `json:"reasons,omitempty"`
	// Pool holds a volume's pool, for volume and image changes.
	Pool string `json:"pool,omitempty"`
	// Reconfigure marks a host update that changes vcpu or memory in
	// place: the domain is redefined and restarted, its disks kept.
	Reconfigure bool `json:"reconfigure,omitempty"`
	// Owned marks a pool or network that exists and carries the
	// project's ownership: fjord created it, and may change or delete it.
	// One that exists without it is used as it is and never touched.
	Owned bool `json:"owned,omitempty"`
	// Addresses are the interfaces of a host being created or replaced.
	Addresses []NICAddress `json:"addresses,omitempty"`
	// InPlace names the files of a host update written on the running
	// host (cloudinit.Parts), in the order they are applied.
	InPlace []string `json:"in_place,omitempty"`
}

// Plan is the list of changes that would bring actual state to desired state.
type Plan struct {
	Project string   `json:"project"`
	Changes []Change `json:"changes"`
	// Refused lists changes the plan may not make (protected hosts); a plan
	// with refusals must not be applied.
	Refused []Refusal `json:"refused,omitempty"`
}

// PlanOptions narrow or force a plan.
type PlanOptions struct {
	// Replace names hosts to replace even if nothing changed ("web" or "host.web").
	Replace []string
	// Target limits the plan to these hosts and what they need.
	Target []string
	// Images limits the plan to building these golden images (by name)
	// and the pools, networks and base images the builds need: no host
	// is touched. "*" stands for every image with a build block.
	Images []string
}

func hostSet(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[strings.TrimPrefix(n, "host.")] = true
	}
	return m
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != NoOp {
			return true
		}
	}
	return false
}

// Count returns how many changes have action a.
func (p *Plan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// DesiredHost is a host of the configuration with the metadata fjord would
// record for it (everything but the host key, which is made at create time).
type DesiredHost struct {
	Spec model.Host
	Meta HostMeta
}

// Desired is the configuration prepared for planning.
type Desired struct {
	Config *model.Config
	Hosts  []DesiredHost
	// Known are the names of volumes fjord may have made for this project,
	// from the configuration's hosts and images: a volume that only carries
	// the project's prefix is not enough to be deleted as fjord's.
	Known map[string]bool
	// Placements are where Place put each host, for the plan to show.
	Placements map[string]Placement
}

// knownVolumes lists the volume names fjord would give cfg's hosts and
// images (any checksum of a configured image counts: an image whose
// sha256 changed leaves its old volume to clean up).
func knownVolumes(cfg *model.Config) map[string]bool {
	k := map[string]bool{PoolMarkerVolume(cfg.Project): true}
	for _, h := range cfg.Hosts {
		for _, v := range hostVolumes(cfg.Project, h.Name) {
			k[v] = true
		}
	}
	return k
}

func hostVolumes(project, host string) []string {
	return []string{OverlayVolume(project, host), SeedVolume(project, host), DataVolume(project, host)}
}

// isImageVolume reports whether name is an image volume of a configured image.
func isImageVolume(cfg *model.Config, name string) bool {
	for _, im := range cfg.Images {
		prefix := fmt.Sprintf("%simage-%s-", VolumePrefix(cfg.Project), im.Name)
		rest, ok := strings.CutPrefix(name, prefix)
		if ok && len(rest) >= 12+1+len(im.Format) && isHex(rest[:12]) && (rest[12:] == "."+im.Format || im.Build != nil && rest[12:] == "."+im.Format+".manifest") {
			return true
		}
	}
	return false
}

// currentImage reports whether name is the volume of a configured image
// at its configured checksum, and which image.
func currentImage(cfg *model.Config, name string) (string, bool) {
	for _, im := range cfg.Images {
		if name == ImageVolume(cfg.Project, im.Name, im.SHA256, im.Format) || im.Build != nil && name == ManifestVolume(cfg.Project, im.Name, im.SHA256, im.Format) {
			return im.Name, true
		}
	}
	return "", false
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// SeedInput is the cloud-init input for host h of cfg, without its host key.
func SeedInput(cfg *model.Config, h model.Host) cloudinit.Input {
	bin, sum := authzPlugin()
	// A built image has Docker; another may not, and gets it from its mirror.
	var mirror string
	var unsigned bool
	im, _ := cfg.Image(h.Image)
	golden := im.Build != nil
	if !golden {
		mirror, unsigned = im.AptMirror, im.AptUnsigned
	}
	return cloudinit.Input{
		Project:        cfg.Project,
		Host:           h.Name,
		NICs:           seedNICs(cfg, h),
		Firewall:       firewall.For(cfg, h),
		MAC:            h.MAC,
		AdminUser:      h.SSH.User,
		AuthorizedKeys: h.SSH.AuthorizedKeys,
		Docker:         h.Docker,
		HostBlock:      h.Base,
		AuthzPlugin:    bin,
		AuthzPluginSum: &sum,
		SSHDOptions:    h.SSH.SSHDOptions,
		Sysctls:        h.Sysctls,
		AptMirror:      mirror,
		AptUnsigned:    unsigned,
		Golden:         golden,
	}
}

// seedNICs are the host's interfaces as cloud-init configures them: DHCP
// (from fjord's reservation) on networks libvirt manages, static on
// bridges; the default route through the first network that has a router.
func seedNICs(cfg *model.Config, h model.Host) []cloudinit.NIC {
	out := make([]cloudinit.NIC, 0, len(h.NICs))
	routed := false
	for _, nic := range h.NICs {
		n, _ := cfg.Network(nic.Network)
		c := cloudinit.NIC{Name: nic.Name, MAC: nic.MAC, DHCP: n.Managed(), DNS: n.DNS, MTU: n.MTU}
		if !n.Managed() {
			c.Address = netip.PrefixFrom(nic.IP, n.CIDR.Bits())
			if gw := n.Router(); gw.IsValid() && !routed {
				c.Gateway, routed = gw, true
			}
		} else if n.Router().IsValid() {
			routed = true // DHCP gives the hypervisor as router
		}
		out = append(out, c)
	}
	return out
}

// authzPlugin is the fjord-authz program every seed carries, with its
// SHA-256, read once; the program is nil in builds without it, which can
// plan but not create hosts.
var authzPlugin = sync.OnceValues(func() ([]byte, [sha256.Size]byte) {
	b, _ := plugin.Binary()
	return b, sha256.Sum256(b)
})

// Prepare computes each host's metadata, seed hash included.
func Prepare(cfg *model.Config, version string) (*Desired, error) {
	resolveImages(cfg)
	d := &Desired{Config: cfg, Known: knownVolumes(cfg)}
	for _, h := range cfg.Hosts {
		hash, parts, err := cloudinit.Digest(SeedInput(cfg, h))
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", h.Name, err)
		}
		im, _ := cfg.Image(h.Image)
		d.Hosts = append(d.Hosts, DesiredHost{Spec: h, Meta: HostMeta{
			Project: cfg.Project, Host: h.Name, Version: version, SeedHash: hash,
			Hypervisor: h.Hypervisor, VCPU: h.VCPU, Memory: uint64(h.Memory), Disk: uint64(h.Disk),
			Image: h.Image, ImageSHA: im.SHA256, Pool: h.Pool, Network: h.ManagementNetwork(),
			MAC: h.MAC, IP: h.IP.String(), NICs: metaNICs(h), Parts: metaParts(parts), User: h.SSH.User, DataDisk: uint64(h.Docker.DataDisk), Protect: h.Protect, Autostart: h.Autostart,
		}})
	}
	return d, nil
}

// metaNICs records a host's interfaces after the management one.
func metaNICs(h model.Host) []MetaNIC {
	var out []MetaNIC
	for i, n := range h.NICs {
		if i > 0 {
			out = append(out, MetaNIC{Network: n.Network, MAC: n.MAC, IP: n.IP.String()})
		}
	}
	return out
}

// Empty is the desired state of nothing: planning against it destroys
// everything the project owns. cfg (the configuration being destroyed)
// names the volumes fjord may have made.
func Empty(cfg *model.Config) *Desired {
	return &Desired{Config: &model.Config{Project: cfg.Project, Images: cfg.Images}, Known: knownVolumes(cfg)}
}

// MakePlan diffs desired against the actual state of each hypervisor (keyed
// by hypervisor name). It is a pure function. Objects the project does not
// own are only ever no-ops.
func MakePlan(d *Desired, actual map[string]*Inventory, opts PlanOptions) *Plan {
	cfg := d.Config
	p := &Plan{Project: cfg.Project}
	add := func(c Change) { p.Changes = append(p.Changes, c) }
	replace := hostSet(opts.Replace)

	hvNames := make([]string, 0, len(actual))
	for n := range actual {
		hvNames = append(hvNames, n)
	}
	sort.Strings(hvNames)

	for _, hv := range hvNames {
		inv := actual[hv]
		wantPools, wantNets, wantVols := map[string]bool{}, map[string]bool{}, map[string]bool{}

		// Pools and networks bound to no hypervisor are made wherever a
		// host using them is placed.
		usedPools, usedNets := map[string]bool{}, map[string]bool{}
		for _, h := range d.Hosts {
			if h.Spec.Hypervisor == hv {
				usedPools[h.Spec.Pool] = true
				for _, n := range h.Spec.Networks {
					usedNets[n] = true
				}
			}
		}
		for _, sp := range cfg.Pools {
			if sp.Hypervisor != hv && (sp.Hypervisor != "" || !usedPools[sp.Name]) {
				continue
			}
			wantPools[sp.Name] = true
			if ps, ok := findPool(inv, sp.Name); ok {
				owned := ps.OwnedBy == cfg.Project
				add(Change{Kind: KindPool, Name: sp.Name, Hypervisor: hv, Action: NoOp, Owned: owned, Reasons: []Reason{{Code: ReasonExists, Owned: owned}}})
			} else {
				add(Change{Kind: KindPool, Name: sp.Name, Hypervisor: hv, Action: Create, Reasons: []Reason{{Code: ReasonAbsent, Field: "pool", Object: hv}}})
			}
		}
		for _, sn := range cfg.Networks {
			if sn.Hypervisor != hv && (sn.Hypervisor != "" || !usedNets[sn.Name]) {
				continue
			}
			wantNets[sn.Name] = true
			if !sn.Managed() {
				// CheckBridges has made sure it is there; fjord never touches it.
				add(Change{Kind: KindNetwork, Name: sn.Name, Hypervisor: hv, Action: NoOp, Reasons: []Reason{{Code: ReasonHostBridge, Object: sn.Bridge}}})
				continue
			}
			if ns, ok := findNetwork(inv, sn.Name); ok {
				add(Change{Kind: KindNetwork, Name: sn.Name, Hypervisor: hv, Action: NoOp, Owned: ns.Owned, Reasons: []Reason{{Code: ReasonExists, Owned: ns.Owned}}})
			} else {
				add(Change{Kind: KindNetwork, Name: sn.Name, Hypervisor: hv, Action: Create, Reasons: []Reason{{Code: ReasonAbsent, Field: "network", Object: hv}}})
			}
		}

		// Base images, one per pool that a host on this hypervisor uses.
		imgSeen := map[string]bool{}
		for _, h := range d.Hosts {
			if h.Spec.Hypervisor != hv {
				continue
			}
			im, _ := cfg.Image(h.Spec.Image)
			vol := ImageVolume(cfg.Project, im.Name, im.SHA256, im.Format)
			wantVols[h.Spec.Pool+"/"+vol] = true
			wantVols[h.Spec.Pool+"/"+OverlayVolume(cfg.Project, h.Spec.Name)] = true
			wantVols[h.Spec.Pool+"/"+SeedVolume(cfg.Project, h.Spec.Name)] = true
			if h.Spec.Docker.DataDisk > 0 {
				wantVols[h.Spec.Pool+"/"+DataVolume(cfg.Project, h.Spec.Name)] = true
			}
			key := h.Spec.Pool + "/" + vol
			if imgSeen[key] {
				continue
			}
			imgSeen[key] = true
			if im.Build != nil {
				// A golden image: its base first (the golden volume is an
				// overlay on it), then the build, done when its manifest is.
				base, _ := cfg.Image(im.Build.From)
				bvol := ImageVolume(cfg.Project, base.Name, base.SHA256, base.Format)
				wantVols[h.Spec.Pool+"/"+bvol] = true
				wantVols[h.Spec.Pool+"/"+ManifestVolume(cfg.Project, im.Name, im.SHA256, im.Format)] = true
				if bkey := h.Spec.Pool + "/" + bvol; !imgSeen[bkey] {
					imgSeen[bkey] = true
					bc := Change{Kind: KindImage, Name: base.Name, Hypervisor: hv, Pool: h.Spec.Pool}
					if _, ok := findVolume(inv, h.Spec.Pool, bvol); ok {
						bc.Action, bc.Reasons = NoOp, []Reason{{Code: ReasonImported, Object: bvol}}
					} else {
						bc.Action, bc.Reasons = Create, []Reason{{Code: ReasonImport, Field: h.Spec.Pool, Object: bvol}}
					}
					add(bc)
				}
				c := Change{Kind: KindImage, Name: im.Name, Hypervisor: hv, Pool: h.Spec.Pool}
				_, built := findVolume(inv, h.Spec.Pool, ManifestVolume(cfg.Project, im.Name, im.SHA256, im.Format))
				_, there := findVolume(inv, h.Spec.Pool, vol)
				switch {
				case built && there:
					c.Action, c.Reasons = NoOp, []Reason{{Code: ReasonBuilt, Object: vol}}
				case there:
					c.Action, c.Reasons = Create, []Reason{{Code: ReasonBuild, Field: h.Spec.Pool, Object: vol, Old: base.Name, New: "unfinished"}}
				default:
					c.Action, c.Reasons = Create, []Reason{{Code: ReasonBuild, Field: h.Spec.Pool, Object: vol, Old: base.Name}}
				}
				add(c)
				continue
			}
			c := Change{Kind: KindImage, Name: im.Name, Hypervisor: hv, Pool: h.Spec.Pool}
			if _, ok := findVolume(inv, h.Spec.Pool, vol); ok {
				c.Action, c.Reasons = NoOp, []Reason{{Code: ReasonImported, Object: vol}}
			} else {
				c.Action, c.Reasons = Create, []Reason{{Code: ReasonImport, Field: h.Spec.Pool, Object: vol}}
			}
			add(c)
		}

		wantDomains := map[string]bool{}
		for _, h := range d.Hosts {
			if h.Spec.Hypervisor != hv {
				continue
			}
			name := DomainName(cfg.Project, h.Spec.Name)
			wantDomains[name] = true
			c := planHost(cfg.Project, hv, h, inv)
			if pl, ok := d.Placements[h.Spec.Name]; ok && c.Action == Create && len(pl.Candidates) > 1 {
				c.Reasons = append(c.Reasons, placedReason(pl))
			}
			if replace[h.Spec.Name] && (c.Action == NoOp || c.Action == Update) {
				c.Action, c.Reasons = Replace, []Reason{{Code: ReasonReplaceRequested}}
			}
			if replace[h.Spec.Name] && c.Action == Replace {
				// Asked for: a smaller disk comes with the new guest.
				for i, r := range c.Reasons {
					if r.Effect == EffectRefused {
						c.Reasons[i].Effect, c.Reasons[i].Object = EffectReplace, ""
					}
				}
			}
			add(c)
		}

		// What the project owns here but no longer wants.
		for _, ds := range inv.Domains {
			if !wantDomains[ds.Name] {
				add(Change{Kind: KindHost, Name: ds.Meta.Host, Hypervisor: hv, Action: Delete, Reasons: []Reason{{Code: ReasonNotConfigured}}})
			}
		}
		// A protected host may be neither replaced nor deleted. For a host in
		// the configuration its protect setting decides; for one dropped from
		// it, the protection recorded in its domain does.
		protected := map[string]bool{}
		for _, h := range d.Hosts {
			protected[h.Spec.Name] = h.Spec.Protect
		}
		for _, c := range p.Changes {
			if c.Kind != KindHost || c.Hypervisor != hv || (c.Action != Replace && c.Action != Delete) {
				continue
			}
			prot, inConfig := protected[c.Name]
			if !inConfig {
				ds, _ := findDomain(inv, DomainName(cfg.Project, c.Name))
				prot = ds.Meta.Protect
			}
			if prot {
				p.Refused = append(p.Refused, Refusal{Host: c.Name, Action: c.Action, Reasons: c.Reasons})
			}
		}
		for _, c := range p.Changes {
			if c.Kind != KindHost || c.Hypervisor != hv || c.Action != Replace || replace[c.Name] {
				continue
			}
			var shrink []Reason
			for _, r := range c.Reasons {
				if r.Effect == EffectRefused {
					shrink = append(shrink, r)
				}
			}
			if len(shrink) > 0 {
				p.Refused = append(p.Refused, Refusal{Host: c.Name, Action: c.Action, Reasons: shrink, Shrink: true})
			}
		}
		// Volumes of the project's domains are fjord's too, even when the
		// host has left the configuration.
		known := map[string]bool{}
		for k := range d.Known {
			known[k] = true
		}
		for _, ds := range inv.Domains {
			for _, v := range hostVolumes(cfg.Project, ds.Meta.Host) {
				known[v] = true
			}
		}
		for _, vs := range inv.Volumes {
			if wantVols[vs.Pool+"/"+vs.Name] || vs.Name == PoolMarkerVolume(cfg.Project) {
				continue
			}
			// An imported image stays in its pool while both are in the
			// configuration, so scaling to no hosts and back (a pipeline's
			// disposable hosts) does not import it again.
			if im, ok := currentImage(cfg, vs.Name); ok && wantPools[vs.Pool] {
				add(Change{Kind: KindImage, Name: im, Hypervisor: hv, Pool: vs.Pool, Action: NoOp,
					Reasons: []Reason{{Code: ReasonKeptImage, Field: vs.Pool, Object: vs.Name}}})
				continue
			}
			if !known[vs.Name] && !isImageVolume(cfg, vs.Name) {
				continue // named like fjord's, but not one fjord makes for this configuration: never touched
			}
			add(Change{Kind: KindVolume, Name: vs.Name, Pool: vs.Pool, Hypervisor: hv, Action: Delete, Reasons: []Reason{{Code: ReasonNoLongerUsed, Object: cfg.Project}}})
		}
		for _, ns := range inv.Networks {
			if ns.Owned && !wantNets[ns.Name] {
				add(Change{Kind: KindNetwork, Name: ns.Name, Hypervisor: hv, Action: Delete, Reasons: []Reason{{Code: ReasonOrphaned}}})
			}
		}
		for _, ps := range inv.Pools {
			if ps.OwnedBy == cfg.Project && !wantPools[ps.Name] {
				add(Change{Kind: KindPool, Name: ps.Name, Hypervisor: hv, Action: Delete, Reasons: []Reason{{Code: ReasonOrphaned}}})
			}
		}
	}
	if len(opts.Target) > 0 {
		p.target(d, hostSet(opts.Target))
	}
	if len(opts.Images) > 0 {
		p.onlyImages(d, opts.Images)
	}
	p.addresses(d)
	return p
}

// NICAddress is one interface of a host a plan creates or replaces.
type NICAddress struct {
	Interface string `json:"interface"`
	Network   string `json:"network"`
	Address   string `json:"address"`
	MAC       string `json:"mac"`
	Static    bool   `json:"static"` // configured in the guest, not leased from libvirt
}

// addresses records, on each host being made, the addresses it will have.
func (p *Plan) addresses(d *Desired) {
	for i, c := range p.Changes {
		if c.Kind != KindHost || (c.Action != Create && c.Action != Replace) {
			continue
		}
		h := d.host(c.Name)
		for _, n := range h.Spec.NICs {
			net, _ := d.Config.Network(n.Network)
			p.Changes[i].Addresses = append(p.Changes[i].Addresses, NICAddress{Interface: n.Name, Network: n.Network, Address: n.IP.String(), MAC: n.MAC, Static: !net.Managed()})
		}
	}
}

func (d *Desired) host(name string) DesiredHost {
	for _, h := range d.Hosts {
		if h.Spec.Name == name {
			return h
		}
	}
	return DesiredHost{}
}

// onlyImages keeps the builds of the named images, their base images and
// the pools and networks of the hosts on them.
func (p *Plan) onlyImages(d *Desired, names []string) {
	want := map[string]bool{}
	for _, im := range d.Config.Images {
		if im.Build != nil && (slices.Contains(names, im.Name) || slices.Contains(names, "*")) {
			want[KindImage+"/"+im.Name], want[KindImage+"/"+im.Build.From] = true, true
			for _, h := range d.Hosts {
				if h.Spec.Image == im.Name {
					want[KindPool+"/"+h.Spec.Pool] = true
					for _, n := range h.Spec.Networks {
						want[KindNetwork+"/"+n] = true
					}
				}
			}
		}
	}
	var kept []Change
	for _, c := range p.Changes {
		if want[c.Kind+"/"+c.Name] && c.Action != Delete {
			kept = append(kept, c)
		}
	}
	p.Changes, p.Refused = kept, nil
}

// target keeps only the targeted hosts' changes and the pools, networks and
// images those hosts use.
func (p *Plan) target(d *Desired, hosts map[string]bool) {
	need := map[string]bool{}
	for _, h := range d.Hosts {
		if hosts[h.Spec.Name] {
			need[KindPool+"/"+h.Spec.Pool] = true
			for _, n := range h.Spec.Networks {
				need[KindNetwork+"/"+n] = true
			}
			need[KindImage+"/"+h.Spec.Image] = true
		}
	}
	var kept []Change
	for _, c := range p.Changes {
		if (c.Kind == KindHost && hosts[c.Name]) || need[c.Kind+"/"+c.Name] {
			kept = append(kept, c)
		}
	}
	p.Changes = kept
}

// planHost compares one desired host with the domain found for it.
func planHost(project, hv string, h DesiredHost, inv *Inventory) Change {
	c := Change{Kind: KindHost, Name: h.Spec.Name, Hypervisor: hv}
	name := DomainName(project, h.Spec.Name)
	ds, ok := findDomain(inv, name)
	if !ok {
		c.Action, c.Reasons = Create, []Reason{{Code: ReasonAbsent, Object: name}}
		return c
	}
	restart, inplace, reasons := diffMeta(ds.Meta, h.Meta)
	// Edited outside fjord (virsh setvcpus, setmaxmem, edit): restore.
	if ds.VCPU != 0 && ds.VCPU != h.Meta.VCPU && ds.Meta.VCPU == h.Meta.VCPU {
		restart = append(restart, Reason{Code: ReasonEditedOutside, Field: "vcpu", Old: fmt.Sprint(ds.VCPU), New: fmt.Sprint(h.Meta.VCPU), Effect: EffectRestart})
	}
	if ds.MemoryKiB != 0 && absDiff(ds.MemoryKiB*1024, h.Meta.Memory) >= uint64(model.MiB) && ds.Meta.Memory == h.Meta.Memory { // libvirt may round to its alignment
		restart = append(restart, Reason{Code: ReasonEditedOutside, Field: "memory", Old: model.Size(ds.MemoryKiB * 1024).String(), New: model.Size(h.Meta.Memory).String(), Effect: EffectRestart})
	}
	if _, ok := findVolume(inv, h.Spec.Pool, OverlayVolume(project, h.Spec.Name)); !ok {
		reasons = append(reasons, Reason{Code: ReasonVolumeMissing, Object: OverlayVolume(project, h.Spec.Name)})
	}
	switch {
	case len(reasons) > 0:
		c.Action, c.Reasons = Replace, append(append(reasons, restart...), inplace...)
	case (len(restart) > 0 || len(inplace) > 0) && (ds.State == "running" || ds.State == "shutoff") && !seedLeft(inv, project, h):
		c.Action, c.Reasons, c.Reconfigure = Update, append(restart, inplace...), len(restart) > 0
		for _, r := range inplace {
			c.InPlace = append(c.InPlace, r.Part)
		}
	case ds.State == "shutoff":
		c.Action, c.Reasons = Update, []Reason{{Code: ReasonShutOff}}
	case ds.State != "running":
		c.Action, c.Reasons = Replace, []Reason{{Code: ReasonState, Object: ds.State}}
	case seedLeft(inv, project, h):
		// The seed goes only after verification: an apply stopped before
		// that left a host nobody has verified, with its key on a disk.
		c.Action, c.Reasons = Update, []Reason{{Code: ReasonUnsealed}}
	default:
		c.Action, c.Reasons = NoOp, []Reason{{Code: ReasonMatches}}
	}
	var meta []Reason
	if ds.Meta.Protect != h.Meta.Protect {
		meta = append(meta, Reason{Code: ReasonChanged, Field: "protect", Old: fmt.Sprint(ds.Meta.Protect), New: fmt.Sprint(h.Meta.Protect), Effect: EffectMetadata})
	}
	if ds.Autostart != h.Meta.Autostart {
		meta = append(meta, Reason{Code: ReasonChanged, Field: "autostart", Old: fmt.Sprint(ds.Autostart), New: fmt.Sprint(h.Meta.Autostart), Effect: EffectInPlace})
	}
	if len(meta) > 0 && c.Action != Replace {
		if c.Action == NoOp {
			c.Action, c.Reasons = Update, nil
		}
		c.Reasons = append(c.Reasons, meta...)
	}
	return c
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

func seedLeft(inv *Inventory, project string, h DesiredHost) bool {
	_, ok := findVolume(inv, h.Spec.Pool, SeedVolume(project, h.Spec.Name))
	return ok
}

// diffMeta lists, field by field, how the recorded metadata differs from
// the desired one: changes libvirt can make in place with a restart (vcpu,
// memory), and changes that need a new guest.
//
// inplace are the files fjord changes on the running host (Parts): each a
// reason whose Object says what it restarts.
func diffMeta(old, want HostMeta) (restart, inplace, r []Reason) {
	changed := func(field, a, b string, e Effect) Reason {
		return Reason{Code: ReasonChanged, Field: field, Old: a, New: b, Effect: e}
	}
	str := func(field, a, b string) {
		if a != b {
			r = append(r, changed(field, a, b, EffectReplace))
		}
	}
	if old.VCPU != want.VCPU {
		restart = append(restart, changed("vcpu", fmt.Sprint(old.VCPU), fmt.Sprint(want.VCPU), EffectRestart))
	}
	if old.Memory != want.Memory {
		restart = append(restart, changed("memory", model.Size(old.Memory).String(), model.Size(want.Memory).String(), EffectRestart))
	}
	// Disks grow online, first among the in-place changes; a disk added
	// or removed needs a new guest; one that would shrink is refused.
	disk := func(field, part string, a, b uint64) {
		switch {
		case a == b:
		case a == 0 || b == 0:
			r = append(r, changed(field, model.Size(a).String(), model.Size(b).String(), EffectReplace))
		case b > a:
			grow := changed(field, model.Size(a).String(), model.Size(b).String(), EffectInPlace)
			grow.Object, grow.Part = "grows online, the filesystem with it (nothing restarts)", part
			inplace = append(inplace, grow)
		default:
			shrink := changed(field, model.Size(a).String(), model.Size(b).String(), EffectRefused)
			shrink.Object = "a disk is never made smaller"
			r = append(r, shrink)
		}
	}
	disk("disk", PartDisk, old.Disk, want.Disk)
	disk("docker data_disk", PartDataDisk, old.DataDisk, want.DataDisk)
	str("image", old.Image, want.Image)
	if old.Image == want.Image && old.ImageSHA != want.ImageSHA {
		r = append(r, changed("image sha256", "", "", EffectReplace))
	}
	str("pool", old.Pool, want.Pool)
	str("network", old.Network, want.Network)
	str("mac", old.MAC, want.MAC)
	str("ip", old.IP, want.IP)
	str("networks", nicList(old.NICs), nicList(want.NICs))
	if old.SeedHash != want.SeedHash {
		r = append(r, changed("user-data", "", "", EffectReplace))
	}
	have := old.PartHashes()
	for _, p := range want.Parts {
		if have[p.Name] != p.Hash {
			spec, _ := cloudinit.PartSpec(p.Name)
			inplace = append(inplace, Reason{Code: ReasonChanged, Field: spec.Label, Effect: EffectInPlace, Object: spec.Restarts, Part: p.Name})
		}
	}
	return restart, inplace, r
}

func nicList(ns []MetaNIC) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.String()
	}
	return strings.Join(s, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func findPool(inv *Inventory, name string) (PoolState, bool) {
	for _, p := range inv.Pools {
		if p.Name == name {
			return p, true
		}
	}
	return PoolState{}, false
}

func findNetwork(inv *Inventory, name string) (NetworkState, bool) {
	for _, n := range inv.Networks {
		if n.Name == name {
			return n, true
		}
	}
	return NetworkState{}, false
}

func findDomain(inv *Inventory, name string) (DomainState, bool) {
	for _, d := range inv.Domains {
		if d.Name == name {
			return d, true
		}
	}
	return DomainState{}, false
}

func findVolume(inv *Inventory, pool, name string) (VolumeState, bool) {
	for _, v := range inv.Volumes {
		if v.Pool == pool && v.Name == name {
			return v, true
		}
	}
	return VolumeState{}, false
}

func hasReason(rs []Reason, code ReasonCode) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}
