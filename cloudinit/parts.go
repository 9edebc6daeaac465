package cloudinit

import (
	"crypto/sha256"
	"encoding/hex"
)

// A Part is a file the seed writes that fjord can change later on the
// live host, in place: written atomically over the pinned SSH connection,
// checked before anything restarts, the previous version kept and put
// back if the service does not come back.
type Part struct {
	Name    string // "sshd", "sysctl", "firewall-v4", "firewall-v6", "authz-policy", "daemon-json", "docker-networks"
	Label   string // in words: "the sshd drop-in"
	Path    string
	Mode    string // octal, as write_files has it
	Content string
	// Check validates the new file ($new) before it replaces the old one,
	// and Verify the configuration with it in place; either failing
	// leaves the host as it was. Apply puts it into force, and Restarts
	// says in words what that restarts.
	Check, Verify, Apply string
	Restarts             string
}

// partSpecs say how each part is checked and put into force. Docker's
// unit allows three starts a minute (StartLimitBurst=3): a change, its
// rollback and the next apply within a minute would leave the daemon
// down, so a restart fjord asks for first clears that count.
var partSpecs = []Part{
	{Name: "sysctl", Label: "sysctls", Path: SysctlPath, Apply: "sysctl -q -p " + SysctlPath, Restarts: "applies the kernel settings (nothing restarts)"},
	{Name: "sshd", Label: "sshd drop-in", Path: SSHDropInPath, Verify: "sshd -t", Apply: "systemctl reload ssh.service", Restarts: "reloads sshd (open sessions are kept)"},
	{Name: "firewall-v4", Label: "firewall (IPv4)", Path: FirewallV4Path, Check: `iptables-restore --test --noflush "$new"`, Apply: "systemctl restart fjord-firewall.service", Restarts: "reloads the firewall (connections are kept)"},
	{Name: "firewall-v6", Label: "firewall (IPv6)", Path: FirewallV6Path, Check: `ip6tables-restore --test --noflush "$new"`, Apply: "systemctl restart fjord-firewall.service", Restarts: "reloads the firewall (connections are kept)"},
	{Name: "authz-policy", Label: "authz policy", Path: AuthzPolicyPath, Check: `/usr/local/sbin/fjord-authz -check -policy "$new"`, Apply: "systemctl restart fjord-authz.service", Restarts: "restarts fjord-authz (Docker requests wait for it)"},
	{Name: "daemon-json", Label: "daemon.json", Path: DaemonJSONPath, Apply: "systemctl reset-failed docker.service; systemctl restart docker.service && timeout 60 docker version >/dev/null", Restarts: "restarts docker; running containers kept by live-restore"},
	{Name: "docker-networks", Label: "Docker networks", Path: NetworksPath, Apply: networksToolPath + ` "$f"`, Restarts: "creates and removes Docker networks (nothing restarts; a network a container uses is not removed)"},
}

// Parts are the host's files that can change in place, with the content
// the seed writes.
func Parts(in Input) ([]Part, error) {
	p, err := build(in)
	if err != nil {
		return nil, err
	}
	return partsOf(p.cc), nil
}

func partsOf(cc cloudConfig) []Part {
	byPath := map[string]writeFile{}
	for _, f := range cc.WriteFiles {
		byPath[f.Path] = f
	}
	var out []Part
	for _, spec := range partSpecs {
		f, ok := byPath[spec.Path]
		if !ok {
			continue
		}
		spec.Mode, spec.Content = f.Permissions, f.Content
		out = append(out, spec)
	}
	return out
}

// Hash identifies a part's content.
func (p Part) Hash() string {
	sum := sha256.Sum256([]byte(p.Path + "\x00" + p.Mode + "\x00" + p.Content))
	return hex.EncodeToString(sum[:12])
}

// isPart reports whether path is one of the in-place files.
func isPart(path string) bool {
	for _, s := range partSpecs {
		if s.Path == path {
			return true
		}
	}
	return false
}

// Digest is Hash(in) and the hash of each part, from one rendering.
func Digest(in Input) (string, map[string]string, error) {
	p, err := build(in)
	if err != nil {
		return "", nil, err
	}
	h, err := seedHash(p.md, p.nc, p.cc, pluginSum(in))
	if err != nil {
		return "", nil, err
	}
	parts := map[string]string{}
	for _, pt := range partsOf(p.cc) {
		parts[pt.Name] = pt.Hash()
	}
	return h, parts, nil
}

// PartSpec is the part called name, without its content.
func PartSpec(name string) (Part, bool) {
	for _, s := range partSpecs {
		if s.Name == name {
			return s, true
		}
	}
	return Part{}, false
}

// PartNames are the in-place parts in the order they are applied.
func PartNames() []string {
	out := make([]string, len(partSpecs))
	for i, s := range partSpecs {
		out[i] = s.Name
	}
	return out
}
