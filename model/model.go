// Package model is fjord's typed model of desired state: hypervisors, storage
// pools, networks, base images and hosts. It knows nothing of HCL syntax; the
// loader in package config fills it, and Validate reports semantic problems by
// object and field so the loader can point at the offending source range.
package model

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Virtualization types a hypervisor block may ask for.
const (
	VirtKVM  = "kvm"  // hardware virtualization (the default)
	VirtQEMU = "qemu" // software emulation (TCG)
)

// DefaultURI is the libvirt connection a hypervisor block gets when it names none.
const DefaultURI = "qemu:///system"

// Config is the whole desired state of one fjord project.
type Config struct {
	Project     string
	Hypervisors []Hypervisor
	Pools       []Pool
	Networks    []Network
	Images      []Image
	Hosts       []Host
	// Where says where kind.name's field was written ("main.hcl:12"), for
	// problems found after loading (on a hypervisor, say); nil or "" when
	// unknown.
	Where func(kind, name, field string) string `json:"-"`
}

// Location is c.Where(kind, name, field), "" when c does not know.
func (c *Config) Location(kind, name, field string) string {
	if c.Where == nil {
		return ""
	}
	return c.Where(kind, name, field)
}

// Hypervisor is one libvirt connection.
type Hypervisor struct {
	Name     string
	URI      string
	VirtType string
	// HostKey is the hypervisor's SSH host key (authorized_keys form) for
	// a URI over SSH: fjord makes that connection itself, accepting only
	// this key, and carries libvirt over it.
	HostKey string
	// KnownHosts, instead of HostKey, is an OpenSSH known_hosts file whose
	// entries for the hypervisor's address are the keys accepted.
	KnownHosts string
	// SSHKeyFile is the client key fjord connects to it with; "" for the
	// keys of the SSH agent (SSH_AUTH_SOCK).
	SSHKeyFile string
}

// OverSSH reports whether the hypervisor's URI reaches libvirt over SSH
// (qemu+ssh, qemu+libssh, qemu+libssh2).
func (h Hypervisor) OverSSH() bool {
	u, err := url.Parse(h.URI)
	if err != nil {
		return false
	}
	_, transport, _ := strings.Cut(u.Scheme, "+")
	return transport == "ssh" || transport == "libssh" || transport == "libssh2"
}

// Pool is a directory storage pool.
type Pool struct {
	Name string
	// Hypervisor is the one hypervisor the pool is on; "" when it is made
	// on every hypervisor a host using it is placed on.
	Hypervisor  string
	Path        string
	RequireNVMe bool
}

// Network is a network hosts are attached to: by default an isolated
// libvirt network (no forwarding, no NAT, addresses by DHCP reservation);
// see the Net* modes for the others.
type Network struct {
	Name string
	// Hypervisor is the one hypervisor the network is on; "" when it is
	// made (or, for a bridge, looked for) on every hypervisor a host using
	// it is placed on (each its own network with the same range: addresses
	// stay unique across them).
	Hypervisor string
	Mode       string // NetIsolated, NetBridge, NetRoute or NetNAT
	CIDR       netip.Prefix
	// Bridge is the existing host bridge a NetBridge network attaches to.
	Bridge string
	// Gateway is a bridge network's default route ("" for none).
	Gateway netip.Addr
	// DNS are the resolvers hosts on the network are given.
	DNS []netip.Addr
	// MTU of the hosts' interfaces on the network, 0 for the default.
	MTU int
	// Allocate is the part of a bridge network's range fjord hands out
	// addresses from to hosts that declare none; invalid for none.
	Allocate netip.Prefix
}

// Image is a base cloud image, imported once into each pool that uses it.
type Image struct {
	Name   string
	Path   string // local file, or
	URL    string // downloaded once, then verified
	SHA256 string // lower-case hex, required (for a built image: its recipe's hash, set by provision)
	Format string // qcow2 or raw
	// VirtualSize is the size of the disk the image holds, read by the
	// loader from the file's header (for a built image: its base's); zero
	// when not known before apply (an image downloaded from URL).
	VirtualSize Size
	// AptMirror is the Debian mirror guests on this image install
	// packages from (Docker, when the image lacks it, at first boot; a
	// build's packages); "" for the image's own sources. AptUnsigned
	// trusts a mirror whose Release file is not signed (a local
	// repository).
	AptMirror   string
	AptUnsigned bool
	// Build makes this image from another one (a golden image); Path,
	// URL and SHA256 are then not set in HCL.
	Build *ImageBuild
}

// ImageBuild is the recipe of a golden image: booted once from From, with
// Docker and what the hardening needs installed, cleaned of everything
// per-instance, and kept as a base volume.
type ImageBuild struct {
	From     string   // the base image's name
	Packages []string // extra packages baked in
	// Network is the network the builder guest is attached to (where the
	// mirror is reached); "" for the management network of the first host
	// on the image.
	Network string
}

// SSH is how fjord and the admin reach a host.
type SSH struct {
	User           string
	AuthorizedKeys []string
	PrivateKeyFile string
	// SSHDOptions are sshd_config settings of this host's own, written
	// after fjord's hardening in its drop-in (SSHDOptionProblem says which
	// keywords may be set).
	SSHDOptions map[string]string
}

// Host is one guest. Hosts declared with count are expanded into one Host
// each, named BASE-INDEX.
type Host struct {
	Name  string
	Base  string // the host block's label
	Index int    // position within count, 0 without count
	// Hypervisors are the ones the host may be placed on, in the order
	// given; Hypervisor is the one it is on, set by the loader when there
	// is one candidate and by placement (provision.Place) otherwise.
	Hypervisors []string
	Hypervisor  string
	Image       string
	Pool        string
	// Networks the host is attached to, one interface each; the first is
	// the management network.
	Networks []string
	// Addresses are the declared addresses, by network name; a network
	// without one gets an address allocated by Resolve.
	Addresses map[string]netip.Addr
	VCPU      int
	Memory    Size
	Disk      Size
	SSH       SSH
	Docker    Docker
	Protect   bool // refuse destroy and replace
	Autostart bool // libvirt starts the guest when the hypervisor boots
	// Sysctls are kernel settings of this host's own, beside fjord's
	// hardening (SysctlProblem says which may be set).
	Sysctls map[string]string

	// Filled by Resolve: one NIC per network; MAC and IP are the first's.
	NICs []NIC
	MAC  string
	IP   netip.Addr
}

// Candidates are the hypervisors the host may be on: Hypervisors, or
// the one it is on when only that is set.
func (h Host) Candidates() []string {
	if len(h.Hypervisors) == 0 && h.Hypervisor != "" {
		return []string{h.Hypervisor}
	}
	return h.Hypervisors
}

// Problem is a semantic error found by Validate, located by object and field.
type Problem struct {
	Kind   string // "host", "pool", "network", "image", "hypervisor", "fjord"
	Name   string // the object's label (for hosts the block label)
	Field  string // attribute name, "" for the whole block
	Detail string
}

func (p Problem) Error() string {
	if p.Field == "" {
		return fmt.Sprintf("%s %q: %s", p.Kind, p.Name, p.Detail)
	}
	return fmt.Sprintf("%s %q %s: %s", p.Kind, p.Name, p.Field, p.Detail)
}

// Limits on sizes that make no sense for a Docker host.
const (
	MinMemory = 256 * MiB
	MaxMemory = 4 * TiB
	MinDisk   = 1 * GiB
	MaxDisk   = 64 * TiB
	MaxVCPU   = 512
)

// Validate checks references and sizes across the whole config and reports
// every problem it finds, not only the first.
func (c *Config) Validate() []Problem {
	var ps []Problem
	add := func(kind, name, field, format string, args ...any) {
		ps = append(ps, Problem{Kind: kind, Name: name, Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	hvs := map[string]bool{}
	for _, h := range c.Hypervisors {
		hvs[h.Name] = true
		if h.VirtType != VirtKVM && h.VirtType != VirtQEMU {
			add("hypervisor", h.Name, "virt_type", "must be %q or %q, not %q", VirtKVM, VirtQEMU, h.VirtType)
		}
		if why := checkURI(h.URI); why != "" {
			add("hypervisor", h.Name, "uri", "%q is not a libvirt URI fjord can use: %s", h.URI, why)
		}
		switch {
		case h.OverSSH() && h.HostKey == "" && h.KnownHosts == "":
			add("hypervisor", h.Name, "uri", "%q would reach libvirt over SSH without a pinned host key (the system ssh trusts whatever known_hosts says, or nothing); set host_key (fjord hypervisor-key %s prints it), or known_hosts to a file that lists it", h.URI, h.Name)
		case h.HostKey != "" && h.KnownHosts != "":
			add("hypervisor", h.Name, "known_hosts", "set host_key or known_hosts, not both: one source of trust per hypervisor")
		case h.HostKey != "" && !h.OverSSH():
			add("hypervisor", h.Name, "host_key", "host_key pins an SSH connection, but %q does not go over SSH (qemu+ssh://USER@HOST/system)", h.URI)
		case h.KnownHosts != "" && !h.OverSSH():
			add("hypervisor", h.Name, "known_hosts", "known_hosts pins an SSH connection, but %q does not go over SSH (qemu+ssh://USER@HOST/system)", h.URI)
		}
		if h.HostKey != "" {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey)); err != nil {
				add("hypervisor", h.Name, "host_key", "%q is not an SSH public key (fjord hypervisor-key %s prints the line to paste): %v", shortText(h.HostKey), h.Name, err)
			}
		}
	}
	checkHV := func(kind, name, hv string) {
		if hv != "" && !hvs[hv] {
			add(kind, name, "hypervisor", "no hypervisor block named %q", hv)
		}
	}
	pools := map[string]Pool{}
	for _, p := range c.Pools {
		pools[p.Name] = p
		checkHV("pool", p.Name, p.Hypervisor)
		if p.Path == "" || p.Path[0] != '/' {
			add("pool", p.Name, "path", "must be an absolute path, got %q", p.Path)
		}
	}
	nets := map[string]Network{}
	for _, n := range c.Networks {
		nets[n.Name] = n
		checkHV("network", n.Name, n.Hypervisor)
		validateNetwork(n, func(field, format string, args ...any) { add("network", n.Name, field, format, args...) })
	}
	// Two networks of one hypervisor that overlap would route one address
	// to two bridges.
	for i, n := range c.Networks {
		for _, m := range c.Networks[:i] {
			shared := m.Hypervisor == n.Hypervisor || m.Hypervisor == "" || n.Hypervisor == ""
			if shared && m.CIDR.IsValid() && n.CIDR.IsValid() && m.CIDR.Overlaps(n.CIDR) {
				add("network", n.Name, "cidr", "%s overlaps network %q (%s) on hypervisor %q; give each network its own range", n.CIDR, m.Name, m.CIDR, n.Hypervisor)
			}
		}
	}
	imgs := map[string]bool{}
	for _, im := range c.Images {
		imgs[im.Name] = true
		if im.AptMirror != "" && !strings.HasPrefix(im.AptMirror, "http://") && !strings.HasPrefix(im.AptMirror, "https://") {
			add("image", im.Name, "apt_mirror", "must be an http:// or https:// URL of a Debian mirror, got %q", im.AptMirror)
		}
		if b := im.Build; b != nil {
			base, ok := c.Image(b.From)
			switch {
			case b.From == "":
				add("image", im.Name, "build.from", "name the image to build from")
			case !ok:
				add("image", im.Name, "build.from", "no image block named %q", b.From)
			case base.Build != nil:
				add("image", im.Name, "build.from", "image %q is built itself; build from a downloaded or local image", b.From)
			}
			for _, p := range b.Packages {
				if !debPackage.MatchString(p) {
					add("image", im.Name, "build.packages", "%q is not a Debian package name", p)
				}
			}
			if b.Network != "" {
				if _, ok := c.Network(b.Network); !ok {
					add("image", im.Name, "build.network", "no network block named %q", b.Network)
				}
			}
			continue
		}
		if (im.Path == "") == (im.URL == "") {
			add("image", im.Name, "", "set exactly one of path or url")
		}
		if !isSHA256(im.SHA256) {
			add("image", im.Name, "sha256", "must be 64 hexadecimal characters, got %q", im.SHA256)
		}
		if im.Format != "qcow2" && im.Format != "raw" {
			add("image", im.Name, "format", "must be \"qcow2\" or \"raw\", not %q", im.Format)
		}
	}
	// Every host becomes a domain named after it, with a MAC derived from
	// the name: a counted block's NAME-I must not be another block's name.
	owner := map[string]string{}
	for _, h := range c.Hosts {
		if b, ok := owner[h.Name]; ok && b != h.Base {
			add("host", h.Base, "", "host name %q is taken by host block %q too (count expands NAME to NAME-0, NAME-1, …): the two would share a domain name and a MAC; rename one", h.Name, b)
		} else if !ok {
			owner[h.Name] = h.Base
		}
	}
	seenBase := map[string]bool{}
	perNet := map[string]int{}
	for _, h := range c.Hosts {
		for _, n := range h.Networks {
			if !h.Addresses[n].IsValid() {
				perNet[n]++
			}
		}
		if seenBase[h.Base] {
			continue // one report per host block is enough
		}
		seenBase[h.Base] = true
		h.Hypervisors = h.Candidates()
		field := "hypervisor"
		if len(h.Hypervisors) > 1 {
			field = "hypervisors"
		}
		seenHV := map[string]bool{}
		for _, hv := range h.Hypervisors {
			if !hvs[hv] {
				add("host", h.Base, field, "no hypervisor block named %q", hv)
			} else if seenHV[hv] {
				add("host", h.Base, field, "hypervisor %q is listed twice", hv)
			}
			seenHV[hv] = true
		}
		if len(h.Hypervisors) == 0 {
			add("host", h.Base, "hypervisor", "the configuration has several hypervisor blocks: name the host's hypervisor, or list several in hypervisors for placement")
		}
		if !imgs[h.Image] {
			add("host", h.Base, "image", "no image block named %q", h.Image)
		}
		// A pool or network bound to one hypervisor serves only hosts
		// that can be nowhere else.
		onlyOn := func(field, kind, name, hv string) {
			switch {
			case hv == "":
			case len(h.Hypervisors) > 1:
				add("host", h.Base, field, "%s %q is only on hypervisor %q, and the host may be placed on %s; leave out the %s's hypervisor attribute so it is made wherever its hosts are", kind, name, hv, strings.Join(h.Hypervisors, ", "), kind)
			case len(h.Hypervisors) == 1 && hv != h.Hypervisors[0]:
				add("host", h.Base, field, "%s %q is on hypervisor %q, the host on %q", kind, name, hv, h.Hypervisors[0])
			}
		}
		if p, ok := pools[h.Pool]; !ok {
			add("host", h.Base, "pool", "no pool block named %q", h.Pool)
		} else {
			onlyOn("pool", "pool", h.Pool, p.Hypervisor)
		}
		field = "network"
		if len(h.Networks) > 1 {
			field = "networks"
		}
		if len(h.Networks) == 0 {
			add("host", h.Base, "networks", "networks must list at least one network block")
		}
		for _, name := range h.Networks {
			if n, ok := nets[name]; !ok {
				add("host", h.Base, field, "no network block named %q", name)
			} else {
				onlyOn(field, "network", name, n.Hypervisor)
			}
		}
		if h.VCPU < 1 || h.VCPU > MaxVCPU {
			add("host", h.Base, "vcpu", "must be between 1 and %d, got %d", MaxVCPU, h.VCPU)
		}
		if h.Memory < MinMemory || h.Memory > MaxMemory {
			add("host", h.Base, "memory", "must be between %s and %s, got %s", MinMemory, MaxMemory, h.Memory)
		}
		if h.Disk < MinDisk || h.Disk > MaxDisk {
			add("host", h.Base, "disk", "must be between %s and %s, got %s", MinDisk, MaxDisk, h.Disk)
		}
		switch {
		case h.SSH.User == "" || h.SSH.User == "root":
			add("host", h.Base, "ssh.user", "user must be set and must not be root")
		case !validLogin(h.SSH.User):
			add("host", h.Base, "ssh.user", "%q is not a login name: up to 32 lower-case letters, digits, _ or -, starting with a letter or _", h.SSH.User)
		}
		if len(h.SSH.AuthorizedKeys) == 0 {
			add("host", h.Base, "ssh.authorized_keys", "authorized_keys must hold at least one public key")
		}
		for i, k := range h.SSH.AuthorizedKeys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				add("host", h.Base, "ssh.authorized_keys", "key %d (%q) is not an OpenSSH public key: %v", i+1, shortText(k), err)
			}
		}
		if h.SSH.PrivateKeyFile == "" {
			add("host", h.Base, "ssh.private_key_file", "private_key_file must name the key fjord connects with")
		}
		h.Docker.validate(func(field, format string, args ...any) { add("host", h.Base, field, format, args...) })
	}
	c.validateNICs(add)
	for name, count := range perNet {
		n, ok := nets[name]
		if !ok || !n.CIDR.Addr().Is4() || n.CIDR.Bits() > 29 {
			continue
		}
		p, can := n.allocatable()
		if !can {
			continue // each host without an address is reported
		}
		free := usable(p)
		if !n.Managed() {
			free = 1 << (32 - p.Bits())
		}
		if count > free {
			add("network", name, "cidr", "%s has room for %d hosts, but %d hosts use it without a declared address", p, free, count)
		}
	}
	return ps
}

// validLogin is a name useradd takes without --badname.
func validLogin(s string) bool {
	if len(s) == 0 || len(s) > 32 || !(s[0] == '_' || s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func shortText(s string) string {
	if len(s) > 40 {
		return s[:37] + "…"
	}
	return s
}

// checkURI says why uri is not a libvirt URI of a driver fjord drives
// (qemu, or libvirt's test driver), "" when it is.
func checkURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return err.Error()
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	switch {
	case u.Scheme == "":
		return "it has no scheme, such as qemu:///system or qemu+ssh://user@host/system"
	case driver != "qemu" && driver != "test":
		return fmt.Sprintf("driver %q: fjord drives QEMU guests (qemu://, qemu+ssh://, …)", driver)
	}
	switch transport {
	case "", "unix", "ssh", "libssh", "libssh2", "tls", "tcp", "ext":
	default:
		return fmt.Sprintf("transport %q: libvirt knows unix, ssh, libssh, libssh2, tls, tcp and ext", transport)
	}
	if driver == "qemu" && u.Path != "/system" && u.Path != "/session" {
		return fmt.Sprintf("path %q: a QEMU connection is /system or /session", u.Path)
	}
	return ""
}

// usable counts the host addresses of an IPv4 prefix that fjord may hand
// out: all but the network, broadcast and gateway addresses.
func usable(p netip.Prefix) int {
	return 1<<(32-p.Bits()) - 3
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// Resolve assigns each host its NICs: MAC and IP address per network. Both
// are derived from the project and host name, so they stay the same across
// runs and do not move when other hosts are added or removed (unless two
// names collide, when the later name in sorted order takes the next free
// address).
func (c *Config) Resolve() { c.resolveNICs() }

// Lookup helpers.

// Hypervisor returns the hypervisor named name.
func (c *Config) Hypervisor(name string) (Hypervisor, bool) {
	for _, h := range c.Hypervisors {
		if h.Name == name {
			return h, true
		}
	}
	return Hypervisor{}, false
}

// Pool returns the pool named name.
func (c *Config) Pool(name string) (Pool, bool) {
	for _, p := range c.Pools {
		if p.Name == name {
			return p, true
		}
	}
	return Pool{}, false
}

// Network returns the network named name.
func (c *Config) Network(name string) (Network, bool) {
	for _, n := range c.Networks {
		if n.Name == name {
			return n, true
		}
	}
	return Network{}, false
}

var debPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// Image returns the image named name.
func (c *Config) Image(name string) (Image, bool) {
	for _, im := range c.Images {
		if im.Name == name {
			return im, true
		}
	}
	return Image{}, false
}
