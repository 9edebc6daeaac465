package model

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"2GiB": 2 * GiB, "512MiB": 512 * MiB, "1TiB": TiB, "1G": 1000 * 1000 * 1000} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "10 parsecs", "-1GiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestCheckURI(t *testing.T) {
	for uri, ok := range map[string]bool{
		"qemu:///system": true, "qemu+ssh://root@hv2/system": true, "qemu+libssh2://hv/system?known_hosts=/k": true,
		"test:///default": true, "test+unix:///tmp/hv.xml": true, "qemu:///session": true,
		"kvm://localhost": false, "qemu:///sytem": false, "qemu+telnet://h/system": false, "/system": false,
	} {
		if why := checkURI(uri); (why == "") != ok {
			t.Errorf("checkURI(%q) = %q, want ok %v", uri, why, ok)
		}
	}
}

// Validate finds every cross-object collision, each once.
func TestValidateCollisions(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"
	host := func(name, base, pool string) Host {
		return Host{Name: name, Base: base, Hypervisor: "a", Image: "img", Pool: pool, Networks: []string{"lab"}, VCPU: 1, Memory: GiB, Disk: 4 * GiB,
			SSH: SSH{User: "admin", AuthorizedKeys: []string{key}, PrivateKeyFile: "/k"}, Docker: HardenedDocker()}
	}
	c := &Config{Project: "p",
		Hypervisors: []Hypervisor{{Name: "a", URI: "qemu:///system", VirtType: VirtKVM}, {Name: "b", URI: "qemu+ssh://hv2/system", VirtType: VirtKVM, HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8", SSHKeyFile: "/k"}},
		Pools:       []Pool{{Name: "pa", Hypervisor: "a", Path: "/p"}, {Name: "pb", Hypervisor: "b", Path: "/p"}},
		Networks: []Network{{Name: "lab", Hypervisor: "a", CIDR: netip.MustParsePrefix("10.0.0.0/16")},
			{Name: "inner", Hypervisor: "a", CIDR: netip.MustParsePrefix("10.0.5.0/24")},
			{Name: "far", Hypervisor: "b", CIDR: netip.MustParsePrefix("10.0.0.0/16")}},
		Images: []Image{{Name: "img", Path: "/i", SHA256: strings.Repeat("a", 64), Format: "qcow2"}},
		Hosts:  []Host{host("w-0", "w", "pa"), host("w-1", "w", "pa"), host("w-1", "w-1", "pa"), host("db", "db", "pb")},
	}
	var got []string
	for _, p := range c.Validate() {
		got = append(got, p.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`network "inner" cidr: 10.0.5.0/24 overlaps network "lab"`,
		`host "w-1": host name "w-1" is taken by host block "w" too`,
		`host "db" pool: pool "pb" is on hypervisor "b", the host on "a"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d problems, want 3 (the same range on another hypervisor is fine):\n%s", len(got), all)
	}
}
