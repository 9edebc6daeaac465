package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
)

// A Part is a file the seed writes (or, for the fjord-authz program, puts
// on the seed image) that fjord can change later on the live host, in
// place: written atomically over the pinned SSH connection, checked before
// anything restarts, the previous version kept and put back if the service
// does not come back. Every file fjord keeps on a host after its first boot
// is a part, so neither a changed setting nor a newer fjord replaces a
// host for what can be changed where it runs.
type Part struct {
	Name    string // "sysctl", "sshd", "daemon-json", "authz-plugin", … (PartNames)
	Label   string // in words: "sshd drop-in"
	Path    string
	Mode    string // octal, as write_files has it
	Content string
	// Data is the content of a binary part (the plugin), instead of
	// Content; sum is its SHA-256, computed once for many hosts.
	Data []byte
	sum  *[32]byte
	// Check validates the new file ($new) before it replaces the old one,
	// and Verify the configuration with it in place; either failing
	// leaves the host as it was. Apply puts it into force, and Restarts
	// says in words what that restarts.
	Check, Verify, Apply string
	Restarts             string
}

// restartDocker restarts the daemon. Docker's unit allows three starts a
// minute (StartLimitBurst=3): a change, its rollback and the next apply
// within a minute would leave the daemon down, so a restart fjord asks
// for first clears that count.
const restartDocker = "systemctl reset-failed docker.service; systemctl restart docker.service && timeout 60 docker version >/dev/null"

// What a part's Apply restarts, in words, where several parts share it.
const (
	restartsNothing = "nothing restarts"
	restartsAuthz   = "restarts fjord-authz (Docker requests wait for it)"
	restartsDocker  = "restarts docker; running containers kept by live-restore"
)

// partSpecs say how each part is checked and put into force, in the order
// they are applied: the tool the others use first, Docker's daemon and
// networks last.
var partSpecs = []Part{
	{Name: "host-tool", Label: "fjord-host tool", Path: HostToolPath, Apply: "true", Restarts: restartsNothing},
	{Name: "sysctl", Label: "sysctls", Path: SysctlPath, Apply: "sysctl -q -p " + SysctlPath, Restarts: "applies the kernel settings (nothing restarts)"},
	{Name: "sshd", Label: "sshd drop-in", Path: SSHDropInPath, Verify: "sshd -t", Apply: "systemctl reload ssh.service", Restarts: "reloads sshd (open sessions are kept)"},
	{Name: "firewall-unit", Label: "firewall unit", Path: FirewallUnitPath, Apply: "systemctl daemon-reload", Restarts: "reloads systemd's units (nothing restarts)"},
	{Name: "firewall-v4", Label: "firewall (IPv4)", Path: FirewallV4Path, Check: `iptables-restore --test --noflush "$new"`, Apply: "systemctl restart fjord-firewall.service", Restarts: "reloads the firewall (connections are kept)"},
	{Name: "firewall-v6", Label: "firewall (IPv6)", Path: FirewallV6Path, Check: `ip6tables-restore --test --noflush "$new"`, Apply: "systemctl restart fjord-firewall.service", Restarts: "reloads the firewall (connections are kept)"},
	{Name: "audit-rules", Label: "audit rules", Path: AuditRulesPath, Apply: HostToolPath + ` audit "$f"`, Restarts: "loads the audit rules (nothing restarts)"},
	{Name: "authz-unit", Label: "fjord-authz unit", Path: AuthzUnitPath, Apply: "systemctl daemon-reload && systemctl restart fjord-authz.service", Restarts: restartsAuthz},
	{Name: "authz-plugin", Label: "fjord-authz plugin", Path: AuthzPluginPath, Check: `"$new" -check -policy ` + AuthzPolicyPath, Apply: "systemctl restart fjord-authz.service", Restarts: restartsAuthz},
	{Name: "authz-policy", Label: "authz policy", Path: AuthzPolicyPath, Check: AuthzPluginPath + ` -check -policy "$new"`, Apply: "systemctl restart fjord-authz.service", Restarts: restartsAuthz},
	{Name: "docker-wrapper", Label: "docker wrapper", Path: DockerWrapperPath, Apply: "true", Restarts: restartsNothing},
	{Name: "seccomp-profile", Label: "seccomp profile", Path: SeccompProfilePath, Apply: restartDocker, Restarts: restartsDocker},
	{Name: "daemon-json", Label: "daemon.json", Path: DaemonJSONPath, Apply: restartDocker, Restarts: restartsDocker},
	{Name: "docker-networks", Label: "Docker networks", Path: NetworksPath, Apply: HostToolPath + ` networks "$f"`, Restarts: "creates and removes Docker networks (nothing restarts; a network a container uses is not removed)"},
}

// Parts are the host's files that can change in place, with the content
// the seed writes.
func Parts(in Input) ([]Part, error) {
	p, err := build(in)
	if err != nil {
		return nil, err
	}
	return partsOf(p.cc, in), nil
}

// partsOf are the parts among cc's files, and the plugin when the input
// has it.
func partsOf(cc cloudConfig, in Input) []Part {
	byPath := map[string]writeFile{}
	for _, f := range cc.WriteFiles {
		byPath[f.Path] = f
	}
	var out []Part
	for _, spec := range partSpecs {
		if spec.Path == AuthzPluginPath {
			if len(in.AuthzPlugin) > 0 {
				sum := pluginSum(in)
				spec.Mode, spec.Data, spec.sum = "0755", in.AuthzPlugin, &sum
				out = append(out, spec)
			}
			continue
		}
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
	h := sha256.New()
	h.Write([]byte(p.Path + "\x00" + p.Mode + "\x00"))
	if p.sum != nil {
		h.Write(p.sum[:])
	} else {
		h.Write([]byte(p.Content))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Body is what is written to the part's file.
func (p Part) Body() io.Reader {
	if p.Data != nil {
		return bytes.NewReader(p.Data)
	}
	return strings.NewReader(p.Content)
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
	h, err := seedHash(p.md, p.nc, p.cc)
	if err != nil {
		return "", nil, err
	}
	parts := map[string]string{}
	for _, pt := range partsOf(p.cc, in) {
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
