// Package provision plans and applies fjord configurations. Plan is a pure
// function of desired and actual state; Apply executes a plan against
// hypervisors through the small interface defined here and reports progress
// through events, never by printing.
package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Errors the hypervisor adapter translates libvirt's error codes into.
var (
	ErrNotFound    = errors.New("not found")
	ErrUnreachable = errors.New("hypervisor unreachable")
)

// Hypervisor is what provision needs from one libvirt connection: a
// large interface made of small ones, each named for the part of fjord
// that uses it, so a user (or a fake) takes only what it needs.
type Hypervisor interface {
	InventoryReader
	Storage
	Networks
	Domains
	GuestLife
	Disks
	Close() error
}

// GuestRoute is implemented by hypervisors whose guests are reached
// through them (a remote hypervisor's isolated networks are not routed to
// fjord's machine): Via opens a connection to a guest from the
// hypervisor's side, or is nil when guests are reached directly.
type GuestRoute interface {
	Via() func(ctx context.Context, network, addr string) (net.Conn, error)
}

// RemoteFiles is implemented by hypervisors that can read their own files
// for fjord (a remote one, through fjord's pinned SSH connection).
type RemoteFiles interface {
	// RemoteSHA256 hashes a file on the hypervisor, in lower-case hex;
	// "" and no error when the hypervisor is on this machine.
	RemoteSHA256(ctx context.Context, path string) (string, error)
	// RemoteBackingDevices names the whole disks that hold path on the
	// hypervisor (its nearest existing ancestor; partitions resolved to
	// their disk, device-mapper devices to what lies beneath), as
	// BackingDevices does here; nil and no error on this machine.
	RemoteBackingDevices(ctx context.Context, path string) ([]string, error)
}

// via is hv's route to its guests, nil for a direct one.
func via(hv any) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if r, ok := hv.(GuestRoute); ok {
		return r.Via()
	}
	return nil
}

// InventoryReader reads the actual state, in bulk: what plan diffs against.
type InventoryReader interface {
	// Inventory lists, in bulk, every pool and network and the domains and
	// volumes owned by project.
	Inventory(ctx context.Context, project string) (*Inventory, error)
}

// Storage builds and removes pools and volumes.
type Storage interface {
	// EnsurePool creates and starts the pool when no pool of that name
	// exists; an existing pool is started if needed and otherwise left as is.
	EnsurePool(ctx context.Context, p PoolSpec) error
	// CreateVolume creates a volume (empty, uploaded from Content or
	// Source, or a qcow2 overlay on Backing) and returns its path. It
	// returns the path of an existing volume of that name unchanged.
	CreateVolume(ctx context.Context, v VolumeSpec) (string, error)
	// DeleteVolume removes a volume; a missing one is not an error.
	DeleteVolume(ctx context.Context, pool, name string) error
	// DeletePool removes a pool fjord created.
	DeletePool(ctx context.Context, name string) error
}

// Disks grow a host's disks while it runs.
type Disks interface {
	// GrowVolume grows volume (in pool, attached to domain) to size
	// bytes: through the running domain, whose guest sees the new size at
	// once, or on the volume when the domain is not running. A volume
	// already that size is not an error; a smaller size is refused.
	GrowVolume(ctx context.Context, domain, pool, volume string, size uint64) error
}

// Networks builds and removes isolated networks.
type Networks interface {
	// EnsureNetwork creates and starts an isolated network when none of
	// that name exists, and keeps its hosts' DHCP reservations current.
	EnsureNetwork(ctx context.Context, n NetworkSpec) error
	// DeleteNetwork removes a network fjord created.
	DeleteNetwork(ctx context.Context, name string) error
}

// Domains defines, changes and removes guests.
type Domains interface {
	// DefineAndStart defines the domain (ownership metadata included) and boots it.
	DefineAndStart(ctx context.Context, d DomainSpec) error
	// SetMeta rewrites a domain's fjord metadata, live and in its
	// definition, and sets its autostart flag to m.Autostart.
	SetMeta(ctx context.Context, name string, m HostMeta) error
	// Reconfigure redefines a domain with new vcpu, memory and metadata;
	// it takes effect at the next start.
	Reconfigure(ctx context.Context, name string, vcpu int, memoryKiB uint64, m HostMeta) error
	// DetachSeed removes the seed disk from a running domain and from its
	// definition; a domain without one is not an error.
	DetachSeed(ctx context.Context, name string) error
	// RemoveDomain shuts the domain down (ACPI, then force after timeout)
	// and undefines it. A missing domain is not an error. When ctx is done
	// while it waits for the shutdown, it returns ctx's error and leaves
	// the domain defined and shutting down, not forced off.
	RemoveDomain(ctx context.Context, name string, opts RemoveOptions) error
}

// GuestLife starts, restarts and watches running guests.
type GuestLife interface {
	// StartDomain boots a defined domain that is shut off.
	StartDomain(ctx context.Context, name string) error
	// Restart shuts the guest down (ACPI, forced after the timeout) and
	// starts it again.
	Restart(ctx context.Context, name string, opts RemoveOptions) error
	// DomainStatus reports a domain's state, the reason libvirt gives for
	// it, and the addresses its interfaces have leased.
	DomainStatus(ctx context.Context, name string) (DomainStatus, error)
	// ConsoleTail returns the last lines the domain printed on its serial
	// console (read on the hypervisor, through fjord's pinned SSH
	// connection when it is remote), or "" when that is not readable.
	ConsoleTail(ctx context.Context, name string, lines int) string
	// QueryKVM asks the running guest's QEMU whether KVM is present and in use.
	QueryKVM(ctx context.Context, name string) (KVMStatus, error)
}

// Inventory is the actual state on one hypervisor.
type Inventory struct {
	Pools    []PoolState
	Networks []NetworkState
	Domains  []DomainState // owned by the project only
	Volumes  []VolumeState // owned by the project only
	Node     NodeCapacity
}

// NodeCapacity is what the hypervisor's machine has room for, as libvirt
// reports it; placement checks new hosts against it.
type NodeCapacity struct {
	Known      bool   // false: the adapter cannot tell, nothing is checked
	CPUs       int    // logical CPUs
	MemoryFree uint64 // bytes free now
}

// PoolState is a storage pool as libvirt reports it.
type PoolState struct {
	Name   string
	Path   string
	Active bool
	// OwnedBy is the project whose ownership marker the pool holds, "" if none.
	OwnedBy string
	// Volumes counts every volume in the pool, owned or not, markers included.
	Volumes int
	// Available is the free space of an active pool in bytes (0 when
	// inactive or not known).
	Available uint64
}

// NetworkState is a network as libvirt reports it.
type NetworkState struct {
	Name   string
	Bridge string
	Active bool
	CIDR   string
	Owned  bool // created by this project
}

// DomainState is an owned domain with its metadata.
type DomainState struct {
	Name  string
	State string // running, shutoff, paused, crashed, …
	Meta  HostMeta
	// VCPU and MemoryKiB are what the domain is defined with now, which
	// differs from Meta when someone edited it outside fjord (0: unknown).
	VCPU      int
	MemoryKiB uint64
	Autostart bool // as libvirt has it now
}

// VolumeState is an owned volume.
type VolumeState struct {
	Pool string
	Name string
	Path string
}

// DomainStatus is a domain's live condition.
type DomainStatus struct {
	State     string
	Reason    string
	Addresses []string
	// Leases are the DHCP leases behind Addresses, by interface MAC.
	Leases []Lease
}

// Lease is an IPv4 address a guest interface leased.
type Lease struct {
	MAC, Addr string
}

// LeaseOf is the first address leased to the interface with mac, "" for none.
func (s DomainStatus) LeaseOf(mac string) string {
	for _, l := range s.Leases {
		if strings.EqualFold(l.MAC, mac) {
			return l.Addr
		}
	}
	return ""
}

// KVMStatus is QMP's query-kvm answer.
type KVMStatus struct {
	Enabled bool `json:"enabled"`
	Present bool `json:"present"`
}

// RemoveOptions controls how a domain is stopped before it is undefined.
type RemoveOptions struct {
	ShutdownTimeoutSeconds int
}

// PoolSpec asks for a directory pool.
type PoolSpec struct {
	Name    string
	Path    string
	Project string // written into the ownership marker when fjord creates the pool
}

// NetworkSpec asks for a libvirt network: isolated, or routed or behind NAT
// when Forward is "route" or "nat".
type NetworkSpec struct {
	Name    string
	Forward string // "" for isolated
	MTU     int
	Bridge  string
	Gateway string // address of the bridge
	Prefix  int
	// Range and Hosts are the DHCP range and per-host reservations.
	RangeStart, RangeEnd string
	Hosts                []DHCPHost
}

// DHCPHost is one DHCP reservation.
type DHCPHost struct {
	MAC, IP, Name string
}

// VolumeSpec asks for a volume.
type VolumeSpec struct {
	Pool     string
	Name     string
	Format   string // qcow2 or raw
	Capacity uint64 // bytes; for uploads the size of the content
	// Exactly one of these, or none for an empty volume:
	Content []byte // uploaded
	Source  string // local file uploaded
	// Progress, when set, is told how far an upload has got.
	Progress func(Progress)
	Backing  *Backing
}

// Backing is the base of an overlay volume.
type Backing struct {
	Path   string
	Format string
}

// DomainSpec is everything the adapter needs to define a guest.
type DomainSpec struct {
	Name      string
	VirtType  string
	VCPU      int
	MemoryKiB uint64
	DiskPath  string
	DataPath  string // "" for none; the guest sees it by serial DataDiskSerial
	SeedPath  string
	// NICs are the guest's interfaces in order, the management one first.
	NICs []DomainNIC
	Meta HostMeta
}

// DomainNIC is one guest interface: on a libvirt network (Network) or on an
// existing host bridge (Bridge).
type DomainNIC struct {
	Network string
	Bridge  string
	MAC     string
	MTU     int
}

// Names of the objects fjord creates, all derived from the project so that
// ownership can be recognised without a state file.

// DomainName is the libvirt name of a host's guest.
func DomainName(project, host string) string { return project + "-" + host }

// VolumePrefix starts the name of every volume a project owns.
func VolumePrefix(project string) string { return "fjord-" + project + "-" }

// OverlayVolume is a host's root disk.
func OverlayVolume(project, host string) string { return VolumePrefix(project) + host + ".qcow2" }

// DataVolume is the disk a host's /var/lib/docker lives on.
func DataVolume(project, host string) string { return VolumePrefix(project) + host + "-docker.qcow2" }

// SeedVolume is a host's cloud-init seed.
func SeedVolume(project, host string) string { return VolumePrefix(project) + host + "-seed.iso" }

// ImageVolume is a base image imported into a pool.
func ImageVolume(project, image, sha string, format string) string {
	return fmt.Sprintf("%simage-%s-%s.%s", VolumePrefix(project), image, sha[:min(12, len(sha))], format)
}

// PoolMarkerVolume marks a pool created by project.
func PoolMarkerVolume(project string) string { return VolumePrefix(project) + "pool.owner" }

// NetworkBridge is the bridge name of a network fjord creates; it doubles as
// the ownership mark (Linux limits bridge names to 15 characters).
func NetworkBridge(project, network string) string {
	sum := sha256.Sum256([]byte(project + "\x00" + network))
	return "fj" + hex.EncodeToString(sum[:])[:10]
}
