package libvirtd

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/fjord-dev/fjord/provision"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDomainXMLGolden(t *testing.T) {
	spec := provision.DomainSpec{
		Name: "demo-web", VirtType: "kvm", VCPU: 2, MemoryKiB: 2 << 20,
		DiskPath: "/pool/fjord-demo-web.qcow2", SeedPath: "/pool/fjord-demo-web-seed.iso",
		DataPath: "/pool/fjord-demo-web-docker.qcow2",
		NICs:     []provision.DomainNIC{{Network: "lab", MAC: "52:54:00:12:34:56"}},
		Meta:     provision.HostMeta{Project: "demo", Host: "web", Version: "test", SeedHash: "0123", HostKey: "ssh-ed25519 AAAA", VCPU: 2, Memory: 2 << 30},
	}
	got, err := DomainXML(spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "domain-kvm.xml")
	if *update {
		os.WriteFile(path, []byte(got+"\n"), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got+"\n" != string(want) {
		t.Errorf("domain XML differs from %s (go test ./provision/libvirt -update):\n%s", path, got)
	}
	// The facts that matter, checked on the parsed document as well.
	var d libvirtxml.Domain
	if err := d.Unmarshal(got); err != nil {
		t.Fatal(err)
	}
	if d.Type != "kvm" || d.CPU == nil || d.CPU.Mode != "host-passthrough" {
		t.Errorf("kvm domain without host CPU: %+v", d.CPU)
	}
	for _, disk := range d.Devices.Disks {
		if disk.Target.Bus != "virtio" {
			t.Errorf("disk %s on bus %s: the cloud kernel sees virtio only", disk.Target.Dev, disk.Target.Bus)
		}
	}
	if len(d.Devices.Disks) != 3 || d.Devices.Disks[2].Serial != "fjord-docker" {
		t.Error("the docker data disk is missing or has no serial the guest can find it by")
	}
	if d.Devices.Disks[1].ReadOnly == nil {
		t.Error("seed disk is writable")
	}
	if len(d.Devices.Channels) != 1 || d.Devices.Channels[0].Target.VirtIO.Name != "org.qemu.guest_agent.0" {
		t.Error("no guest agent channel")
	}
	if d.Devices.Serials[0].Log == nil || d.Devices.Serials[0].Log.File != ConsoleLogPath("demo-web") {
		t.Error("serial console is not logged")
	}
	if !strings.Contains(d.Metadata.XML, "<seed-hash>0123</seed-hash>") {
		t.Errorf("metadata = %s", d.Metadata.XML)
	}

	spec.VirtType = "qemu"
	q, _ := DomainXML(spec)
	if strings.Contains(q, "host-passthrough") {
		t.Error("software-emulated domain asks for the host CPU")
	}
}
