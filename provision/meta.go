package provision

import (
	"encoding/xml"
	"fmt"
	"github.com/fjord-dev/fjord/cloudinit"
)

// MetadataNamespace is the XML namespace of fjord's domain metadata.
const MetadataNamespace = "https://fjord.dev/xmlns/host/1"

// HostMeta is fjord's ownership record, stored in each domain's <metadata>.
// It is written when the domain is defined, before the guest boots, so an
// interrupted apply leaves a domain the next run recognises as its own.
type HostMeta struct {
	XMLName xml.Name `xml:"host"`
	// NS declares the fjord prefix: libvirt keeps only metadata elements
	// that carry a namespace prefix, and drops a default-namespace element.
	NS       string `xml:"xmlns:fjord,attr,omitempty"`
	Project  string `xml:"project"`
	Host     string `xml:"name"`
	Version  string `xml:"version"`
	SeedHash string `xml:"seed-hash"`
	HostKey  string `xml:"host-key"` // pinned public key, authorized_keys form

	// The fields a plan compares, as they were when the domain was made.
	Hypervisor string `xml:"hypervisor"`
	VCPU       int    `xml:"vcpu"`
	Memory     uint64 `xml:"memory"`
	Disk       uint64 `xml:"disk"`
	DataDisk   uint64 `xml:"docker-disk"`
	Image      string `xml:"image"`
	ImageSHA   string `xml:"image-sha256"`
	Pool       string `xml:"pool"`
	Network    string `xml:"network"` // the management NIC's
	MAC        string `xml:"mac"`
	IP         string `xml:"ip"`
	// NICs are the interfaces after the management one.
	NICs []MetaNIC `xml:"nic"`
	// Parts are the hashes of the files fjord changes in place (sshd
	// drop-in, sysctls, firewall, authz policy, daemon.json), as applied.
	Parts     []MetaPart `xml:"part"`
	User      string     `xml:"user"`
	Protect   bool       `xml:"protect"`
	Autostart bool       `xml:"autostart"`
}

// MetaPart is one in-place file's hash, as applied.
type MetaPart struct {
	Name string `xml:"name,attr"`
	Hash string `xml:"hash,attr"`
}

// PartHashes are the recorded part hashes by name.
func (m HostMeta) PartHashes() map[string]string {
	out := map[string]string{}
	for _, p := range m.Parts {
		out[p.Name] = p.Hash
	}
	return out
}

// metaParts records hashes in the order cloud-init's parts have.
func metaParts(hashes map[string]string) []MetaPart {
	var out []MetaPart
	for _, name := range cloudinit.PartNames() {
		if h, ok := hashes[name]; ok {
			out = append(out, MetaPart{Name: name, Hash: h})
		}
	}
	return out
}

// MetaNIC is one more interface of a host, as it was made.
type MetaNIC struct {
	Network string `xml:"network,attr"`
	MAC     string `xml:"mac,attr"`
	IP      string `xml:"ip,attr"`
}

func (n MetaNIC) String() string { return n.Network + " " + n.IP + " " + n.MAC }

// MarshalMeta renders the metadata element.
func MarshalMeta(m HostMeta) (string, error) {
	b, err := xml.Marshal(metaDoc{XMLName: xml.Name{Local: "fjord:host"}, NS: MetadataNamespace, HostMeta: m})
	if err != nil {
		return "", fmt.Errorf("encode host metadata: %w", err)
	}
	return string(b), nil
}

// MarshalMetaElement renders the element without its namespace, the form
// virDomainSetMetadata takes (libvirt adds the namespace and prefix).
func MarshalMetaElement(m HostMeta) (string, error) {
	b, err := xml.Marshal(metaDoc{XMLName: xml.Name{Local: "host"}, HostMeta: m})
	if err != nil {
		return "", fmt.Errorf("encode host metadata: %w", err)
	}
	return string(b), nil
}

// UnmarshalMeta parses a metadata element written by MarshalMeta. libvirt
// may return the element with its namespace declared or with a prefix; both
// are accepted.
func UnmarshalMeta(s string) (HostMeta, error) {
	var d metaDoc
	if err := xml.Unmarshal([]byte(s), &d); err != nil {
		return HostMeta{}, fmt.Errorf("decode host metadata: %w", err)
	}
	return d.HostMeta, nil
}

// metaDoc is the metadata element. libvirt keeps only metadata elements
// that carry a namespace prefix (a default-namespace element is dropped),
// so the element is written as <fjord:host xmlns:fjord="…">.
type metaDoc struct {
	XMLName xml.Name
	NS      string `xml:"xmlns:fjord,attr,omitempty"`
	HostMeta
}
