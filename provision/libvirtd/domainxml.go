// Package libvirtd is fjord's adapter over libvirt (libvirt.org/go/libvirt,
// cgo). It implements provision.Hypervisor, builds every XML document from
// libvirtxml structs and translates libvirt's errors into provision's.
package libvirtd

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/provision"
)

// ConsoleLogDir is where the serial console of each guest is logged (by
// virtlogd, on the hypervisor).
const ConsoleLogDir = "/var/log/libvirt/qemu"

// ConsoleLogPath is the serial console log of a domain.
func ConsoleLogPath(domain string) string { return ConsoleLogDir + "/" + domain + "-console.log" }

// DomainXML renders the domain definition of a host.
//
// The root disk and the cloud-init seed are virtio disks: the Debian cloud
// kernel has no AHCI driver, so a seed on a SATA CD would be invisible and
// cloud-init would silently fall back to no datasource. The serial console
// is a pty whose output virtlogd also writes to ConsoleLogPath.
func DomainXML(d provision.DomainSpec) (string, error) {
	meta, err := provision.MarshalMeta(d.Meta)
	if err != nil {
		return "", err
	}
	port := uint(0)
	dom := &libvirtxml.Domain{
		Type:        d.VirtType,
		Name:        d.Name,
		Description: fmt.Sprintf("fjord host %s of project %s", d.Meta.Host, d.Meta.Project),
		Metadata:    &libvirtxml.DomainMetadata{XML: meta},
		Memory:      &libvirtxml.DomainMemory{Value: uint(d.MemoryKiB), Unit: "KiB"},
		VCPU:        &libvirtxml.DomainVCPU{Placement: "static", Value: uint(d.VCPU)},
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			BootDevices: []libvirtxml.DomainBootDevice{{Dev: "hd"}},
		},
		Features: &libvirtxml.DomainFeatureList{
			ACPI: &libvirtxml.DomainFeature{},
			APIC: &libvirtxml.DomainFeatureAPIC{},
		},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{
				{
					Device: "disk",
					Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Discard: "unmap"},
					Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.DiskPath}},
					Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
				},
				{
					Device:   "disk",
					Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
					Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.SeedPath}},
					Target:   &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: "virtio"},
					ReadOnly: &libvirtxml.DomainDiskReadOnly{},
				},
			},
			Interfaces: interfaces(d.NICs),
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port},
				Log:    &libvirtxml.DomainChardevLog{File: ConsoleLogPath(d.Name), Append: "off"},
			}},
			Consoles: []libvirtxml.DomainConsole{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
			}},
			Channels: []libvirtxml.DomainChannel{{
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
				Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"}},
			}},
			RNGs: []libvirtxml.DomainRNG{{
				Model:   "virtio",
				Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "virtio"},
		},
	}
	if d.DataPath != "" {
		dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Discard: "unmap"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.DataPath}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vdc", Bus: "virtio"},
			Serial: cloudinit.DataDiskSerial,
		})
	}
	if d.VirtType == "kvm" {
		dom.CPU = &libvirtxml.DomainCPU{Mode: "host-passthrough"}
	}
	return dom.Marshal()
}

// interfaces are the guest's NICs, virtio each, on a libvirt network or an
// existing host bridge.
func interfaces(nics []provision.DomainNIC) []libvirtxml.DomainInterface {
	out := make([]libvirtxml.DomainInterface, 0, len(nics))
	for _, n := range nics {
		ifc := libvirtxml.DomainInterface{
			MAC:   &libvirtxml.DomainInterfaceMAC{Address: n.MAC},
			Model: &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		}
		if n.Bridge != "" {
			ifc.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}}
		} else {
			ifc.Source = &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: n.Network}}
		}
		if n.MTU != 0 {
			ifc.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(n.MTU)}
		}
		out = append(out, ifc)
	}
	return out
}
