// Package cloudinit renders a host's NoCloud seed (meta-data, user-data,
// network-config) from typed structs and writes it as a "cidata" ISO9660
// image in pure Go.
package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"

	"gopkg.in/yaml.v3"

	"github.com/fjord-dev/fjord/firewall"
	"github.com/fjord-dev/fjord/hardening"
	"github.com/fjord-dev/fjord/model"
)

// Input is everything a seed is rendered from.
type Input struct {
	Project string
	Host    string
	// NICs are the guest's interfaces, the management one first. Without
	// them the seed configures one interface, MAC, by DHCP.
	NICs           []NIC
	MAC            string
	AdminUser      string
	AuthorizedKeys []string
	// HostKey is the guest's pinned ed25519 host key. Its private half is a
	// secret: it lives only in the seed, never in logs or hashes.
	HostKey HostKey
	// Docker is the hardening profile.
	Docker model.Docker
	// HostBlock is the host's block name in HCL (host.NAME), which the
	// authorization plugin names in its refusals.
	HostBlock string
	// AuthzPlugin is the static fjord-authz program, shipped on the seed
	// image next to the documents.
	AuthzPlugin []byte
	// AuthzPluginSum is AuthzPlugin's SHA-256, when the caller has it: a
	// plan over many hosts hashes the program once, not once per host.
	AuthzPluginSum *[32]byte
	// Firewall is the host firewall, loaded before Docker first starts.
	Firewall firewall.Rules
	// SSHDOptions and Sysctls are the host's own settings, written after
	// fjord's hardening in the same files.
	SSHDOptions map[string]string
	Sysctls     map[string]string
	// AptMirror, for an image that may lack Docker, is the mirror it is
	// installed from at first boot; AptUnsigned trusts it unsigned.
	AptMirror   string
	AptUnsigned bool
	// Golden is set for an image fjord built: its build masks cloud-init's
	// network and config stages (see build.sh), so the seed's runcmd is
	// written by the final stage, just before the final stage runs it.
	Golden bool
}

// NIC is one guest interface as cloud-init configures it: renamed to Name,
// addressed by DHCP (a reservation fjord made) or statically.
type NIC struct {
	Name    string
	MAC     string
	DHCP    bool
	Address netip.Prefix // the static address with its network's length
	Gateway netip.Addr   // default route, zero for none
	DNS     []netip.Addr
	MTU     int
}

// HostKey is an OpenSSH ed25519 key pair in the text forms cloud-init takes.
type HostKey struct {
	PrivatePEM string // "-----BEGIN OPENSSH PRIVATE KEY-----…"
	Public     string // "ssh-ed25519 AAAA…"
}

// Seed is a rendered NoCloud seed.
type Seed struct {
	MetaData      []byte
	UserData      []byte
	NetworkConfig []byte
	// DaemonJSON is the daemon.json written to the host, for verification.
	DaemonJSON []byte
	// AuthzPlugin is the fjord-authz program, a file of its own on the image.
	AuthzPlugin []byte
	// Hash identifies everything in the seed except the host key, so a plan
	// can tell whether a host's seed would change without generating a key.
	Hash string
}

type metaData struct {
	InstanceID    string `yaml:"instance-id"`
	LocalHostname string `yaml:"local-hostname"`
	// dsmode local lets cloud-init finish the datasource before networking.
	DSMode string `yaml:"dsmode"`
}

type user struct {
	Name              string   `yaml:"name"`
	Shell             string   `yaml:"shell"`
	LockPasswd        bool     `yaml:"lock_passwd"`
	Sudo              string   `yaml:"sudo"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
}

type writeFile struct {
	Path        string `yaml:"path"`
	Owner       string `yaml:"owner"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
}

type sshKeys struct {
	ED25519Private string `yaml:"ed25519_private"`
	ED25519Public  string `yaml:"ed25519_public"`
}

type cloudConfig struct {
	// The module lists replace the image's: only what this seed uses
	// runs, so first boot does no locale, apt, ntp, key-printing or
	// configuration-management work.
	InitModules   []string `yaml:"cloud_init_modules"`
	ConfigModules []string `yaml:"cloud_config_modules"`
	FinalModules  []string `yaml:"cloud_final_modules"`
	// BootCmd runs first, before Docker's boot-time start: see stopDocker.
	BootCmd        []string    `yaml:"bootcmd"`
	Hostname       string      `yaml:"hostname"`
	ManageEtcHosts bool        `yaml:"manage_etc_hosts"`
	DisableRoot    bool        `yaml:"disable_root"`
	SSHPwauth      bool        `yaml:"ssh_pwauth"`
	SSHDeleteKeys  bool        `yaml:"ssh_deletekeys"`
	SSHKeys        sshKeys     `yaml:"ssh_keys"`
	Users          []user      `yaml:"users"`
	WriteFiles     []writeFile `yaml:"write_files"`
	RunCmd         [][]string  `yaml:"runcmd"`
}

type ethernet struct {
	Match struct {
		MACAddress string `yaml:"macaddress"`
	} `yaml:"match"`
	SetName     string       `yaml:"set-name,omitempty"`
	DHCP4       bool         `yaml:"dhcp4"`
	DHCP6       bool         `yaml:"dhcp6"`
	Addresses   []string     `yaml:"addresses,omitempty"`
	Routes      []route      `yaml:"routes,omitempty"`
	Nameservers *nameservers `yaml:"nameservers,omitempty"`
	MTU         int          `yaml:"mtu,omitempty"`
}

type route struct {
	To  string `yaml:"to"`
	Via string `yaml:"via"`
}

type nameservers struct {
	Addresses []string `yaml:"addresses"`
}

type networkConfig struct {
	Version   int                 `yaml:"version"`
	Ethernets map[string]ethernet `yaml:"ethernets"`
}

// initModules are cloud-init's first-stage modules the seed needs: its
// files, the root partition grown to the disk, names, users and SSH keys.
var initModules = []string{"bootcmd", "write-files", "growpart", "resizefs", "set_hostname",
	"update_hostname", "update_etc_hosts", "users-groups", "ssh"}

// stopDocker keeps the image's Docker from starting at boot before the
// setup script has its data disk, daemon.json and fjord-authz in place:
// it would start only to be stopped again (and would wait for the plugin
// the seed names). Once setup is done the marker keeps later boots alone.
const stopDocker = "[ -e " + SetupDoneMarker + " ] || systemctl stop --no-block docker.service docker.socket"

// stopDockerIfThere is stopDocker for an image that may have no Docker
// yet (one with an apt_mirror to install it from): systemctl fails on
// units that do not exist. Other seeds keep stopDocker, byte for byte, so
// that the hosts made with them are not planned for replacement.
const stopDockerIfThere = "[ -e " + SetupDoneMarker + " ] || ! systemctl cat docker.service >/dev/null 2>&1 || systemctl stop --no-block docker.service docker.socket"

// SetupDoneMarker is written by the setup script when it has finished.
const SetupDoneMarker = "/var/lib/fjord/setup-done"

// Paths of the files the seed writes.
const (
	DaemonJSONPath     = "/etc/docker/daemon.json"
	SeccompProfilePath = "/etc/docker/seccomp/fjord.json"
	AuthzPolicyPath    = "/etc/fjord/authz.json"
	AuthzUnitPath      = "/etc/systemd/system/fjord-authz.service"
	// AuthzPluginFile is the plugin's file name on the seed image.
	AuthzPluginFile   = "fjord-authz"
	SysctlPath        = "/etc/sysctl.d/90-fjord.conf"
	SSHDropInPath     = "/etc/ssh/sshd_config.d/10-fjord.conf"
	AuditRulesPath    = "/etc/audit/rules.d/fjord-docker.rules"
	NetworksPath      = "/etc/fjord/docker-networks"
	FirewallV4Path    = "/etc/fjord/firewall.v4"
	FirewallV6Path    = "/etc/fjord/firewall.v6"
	FirewallUnitPath  = "/etc/systemd/system/fjord-firewall.service"
	setupScriptPath   = "/usr/local/sbin/fjord-setup"
	installDockerPath = "/usr/local/sbin/fjord-install-docker"
	// HostToolPath is fjord-host, what the setup script and in-place
	// changes run to put the audit rules and Docker networks in force.
	HostToolPath = "/usr/local/sbin/fjord-host"
	// AuthzPluginPath is where the setup script installs the plugin.
	AuthzPluginPath   = "/usr/local/sbin/fjord-authz"
	AptMirrorPath     = "/etc/fjord/apt-mirror"
	DockerWrapperPath = "/usr/local/bin/docker"
)

// DataDiskSerial is the virtio serial of the disk for /var/lib/docker; the
// guest sees it as /dev/disk/by-id/virtio-fjord-docker.
const DataDiskSerial = "fjord-docker"

// DaemonConfig is the daemon.json a profile asks for.
func DaemonConfig(d model.Docker) map[string]any {
	m := hardening.DaemonDefaults()
	m["icc"] = d.ICC
	m["live-restore"] = d.LiveRestore
	m["userland-proxy"] = d.UserlandProxy
	m["no-new-privileges"] = d.NoNewPrivileges
	m["log-driver"] = d.LogDriver
	if !d.UsernsRemap {
		delete(m, "userns-remap")
	}
	if d.LogDriver == "json-file" {
		m["log-opts"] = map[string]any{"max-size": "10m", "max-file": "3"}
	}
	if d.SeccompProfile != "" {
		m["seccomp-profile"] = SeccompProfilePath
	}
	return m
}

// InstanceID derives the cloud-init instance-id from the host's identity, so
// it is the same on every render and changes only when the host does.
func InstanceID(project, host string) string {
	sum := sha256.Sum256([]byte(project + "\x00" + host))
	return "fjord-" + hex.EncodeToString(sum[:8])
}

// Render builds the seed. It is deterministic for a given input.
func Render(in Input) (*Seed, error) {
	p, err := build(in)
	if err != nil {
		return nil, err
	}
	ud, err := userData(p.cc)
	if err != nil {
		return nil, err
	}
	hash, err := seedHash(p.md, p.nc, p.cc)
	if err != nil {
		return nil, err
	}
	return &Seed{MetaData: p.md, UserData: ud, NetworkConfig: p.nc, DaemonJSON: p.daemonJSON, AuthzPlugin: in.AuthzPlugin, Hash: hash}, nil
}

// Hash is Render(in).Hash without rendering the user-data document.
func Hash(in Input) (string, error) {
	p, err := build(in)
	if err != nil {
		return "", err
	}
	return seedHash(p.md, p.nc, p.cc)
}

func pluginSum(in Input) [32]byte {
	if in.AuthzPluginSum != nil {
		return *in.AuthzPluginSum
	}
	return sha256.Sum256(in.AuthzPlugin)
}

// parts are a seed's documents before the user-data is rendered.
type parts struct {
	md, nc, daemonJSON []byte
	cc                 cloudConfig
}

func build(in Input) (parts, error) {
	daemonJSON, err := json.MarshalIndent(DaemonConfig(in.Docker), "", "  ")
	if err != nil {
		return parts{}, fmt.Errorf("render daemon.json: %w", err)
	}
	daemonJSON = append(daemonJSON, '\n')
	policy, err := json.MarshalIndent(in.Docker.AuthzPolicy(in.HostBlock), "", "  ")
	if err != nil {
		return parts{}, fmt.Errorf("render authz policy: %w", err)
	}

	md, err := yaml.Marshal(metaData{InstanceID: InstanceID(in.Project, in.Host), LocalHostname: in.Host, DSMode: "local"})
	if err != nil {
		return parts{}, fmt.Errorf("render meta-data: %w", err)
	}
	ncb, err := yaml.Marshal(networkConfigOf(in))
	if err != nil {
		return parts{}, fmt.Errorf("render network-config: %w", err)
	}

	cc := cloudConfig{
		Hostname:       in.Host,
		ManageEtcHosts: true,
		InitModules:    initModules,
		ConfigModules:  []string{"runcmd"},
		FinalModules:   []string{"scripts-user", "final-message"},
		BootCmd:        []string{stopDocker},
		DisableRoot:    true,
		SSHPwauth:      false,
		SSHDeleteKeys:  true,
		SSHKeys:        sshKeys{ED25519Private: in.HostKey.PrivatePEM, ED25519Public: in.HostKey.Public},
		Users: []user{{
			Name:              in.AdminUser,
			Shell:             "/bin/bash",
			LockPasswd:        true,
			Sudo:              "ALL=(ALL) NOPASSWD:ALL",
			SSHAuthorizedKeys: in.AuthorizedKeys,
		}},
		WriteFiles: []writeFile{
			{Path: DaemonJSONPath, Owner: "root:root", Permissions: "0644", Content: string(daemonJSON)},
			{Path: SysctlPath, Owner: "root:root", Permissions: "0644", Content: withOwn(hardening.Must("sysctl.conf"), "sysctls", in.Sysctls, " = ")},
			{Path: SSHDropInPath, Owner: "root:root", Permissions: "0600", Content: withOwn(hardening.Must("sshd.conf"), "ssh.sshd_options", in.SSHDOptions, " ")},
			{Path: AuditRulesPath, Owner: "root:root", Permissions: "0640", Content: string(hardening.Must("audit.rules"))},
			{Path: NetworksPath, Owner: "root:root", Permissions: "0644", Content: networksFile(in.Docker.Networks)},
			{Path: setupScriptPath, Owner: "root:root", Permissions: "0755", Content: string(hardening.Must("setup.sh"))},
			{Path: HostToolPath, Owner: "root:root", Permissions: "0755", Content: string(hardening.Must("fjord-host.sh"))},
			{Path: DockerWrapperPath, Owner: "root:root", Permissions: "0755", Content: string(hardening.Must("docker-wrapper.sh"))},
			{Path: AuthzPolicyPath, Owner: "root:root", Permissions: "0644", Content: string(policy) + "\n"},
			{Path: AuthzUnitPath, Owner: "root:root", Permissions: "0644", Content: string(hardening.Must("fjord-authz.service"))},
		},
		RunCmd: [][]string{{setupScriptPath}},
	}
	if in.Firewall.V4.Input != nil {
		cc.WriteFiles = append(cc.WriteFiles,
			writeFile{Path: FirewallV4Path, Owner: "root:root", Permissions: "0600", Content: in.Firewall.V4.Restore()},
			writeFile{Path: FirewallV6Path, Owner: "root:root", Permissions: "0600", Content: in.Firewall.V6.Restore()},
			writeFile{Path: FirewallUnitPath, Owner: "root:root", Permissions: "0644", Content: string(hardening.Must("fjord-firewall.service"))})
	}
	if in.Golden {
		// The final stage writes the setup's runcmd and runs it: on a
		// golden image the config stage, which wrote it, is masked (one
		// cloud-init interpreter fewer at first boot).
		cc.ConfigModules = []string{}
		cc.FinalModules = append([]string{"runcmd"}, cc.FinalModules...)
	}
	if in.AptMirror != "" {
		// An image that may lack Docker: it is installed from the mirror,
		// and only from there, before the setup script runs.
		cc.BootCmd = []string{stopDockerIfThere}
		signing := "signed"
		if in.AptUnsigned {
			signing = "unsigned"
		}
		cc.WriteFiles = append(cc.WriteFiles,
			writeFile{Path: AptMirrorPath, Owner: "root:root", Permissions: "0644", Content: in.AptMirror + " " + signing + "\n"},
			writeFile{Path: installDockerPath, Owner: "root:root", Permissions: "0755", Content: string(hardening.Must("install-docker.sh"))})
		cc.RunCmd = append([][]string{{installDockerPath}}, cc.RunCmd...)
	}
	if in.Docker.SeccompProfile != "" {
		cc.WriteFiles = append(cc.WriteFiles, writeFile{Path: SeccompProfilePath, Owner: "root:root", Permissions: "0644", Content: in.Docker.SeccompProfile})
	}
	return parts{md: md, nc: ncb, daemonJSON: daemonJSON, cc: cc}, nil
}

// seedHash identifies a seed by its meta-data, network-config and the
// user-data document with the host key blanked out. The user-data enters
// as its canonical JSON: the YAML is a function of the same struct, and
// JSON is an order of magnitude cheaper to produce, which matters when a
// plan hashes a thousand seeds.
//
// Files enter by path only when their content cannot call for a new
// guest: the parts fjord changes in place (Parts), whose content is
// recorded and compared on its own, and the first-boot scripts, which
// have run once and never again (a newer fjord's setup script does not
// replace the hosts an older one set up; what it set up is verified).
func seedHash(md, nc []byte, cc cloudConfig) (string, error) {
	cc.SSHKeys = sshKeys{}
	files := make([]writeFile, len(cc.WriteFiles))
	for i, f := range cc.WriteFiles {
		if isPart(f.Path) || firstBootOnly(f.Path) {
			f.Content = ""
		}
		files[i] = f
	}
	cc.WriteFiles = files
	ud, err := json.Marshal(cc)
	if err != nil {
		return "", fmt.Errorf("hash user-data: %w", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{md, nc, ud} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// firstBootOnly reports whether path is read only at first boot: the
// setup script, and how Docker is installed on an image without it.
func firstBootOnly(path string) bool {
	return path == setupScriptPath || path == installDockerPath || path == AptMirrorPath
}

// userData renders a cloud-config document (a host's cloudConfig, or a
// builder's).
func userData(cc any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cc); err != nil {
		return nil, fmt.Errorf("render user-data: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render user-data: %w", err)
	}
	return b.Bytes(), nil
}

// networkConfigOf is the network-config document: each interface matched
// by its MAC and renamed, so its name is the same on every boot and
// whatever the virtual PCI slot.
func networkConfigOf(in Input) networkConfig {
	nc := networkConfig{Version: 2, Ethernets: map[string]ethernet{}}
	if len(in.NICs) == 0 {
		var e ethernet
		e.Match.MACAddress = in.MAC
		e.DHCP4 = true
		nc.Ethernets["primary"] = e
		return nc
	}
	for _, n := range in.NICs {
		var e ethernet
		e.Match.MACAddress = n.MAC
		e.SetName = n.Name
		e.DHCP4 = n.DHCP
		e.MTU = n.MTU
		if !n.DHCP && n.Address.IsValid() {
			e.Addresses = []string{n.Address.String()}
		}
		if n.Gateway.IsValid() {
			e.Routes = []route{{To: "0.0.0.0/0", Via: n.Gateway.String()}}
		}
		if len(n.DNS) > 0 {
			e.Nameservers = &nameservers{}
			for _, d := range n.DNS {
				e.Nameservers.Addresses = append(e.Nameservers.Addresses, d.String())
			}
		}
		nc.Ethernets[n.Name] = e
	}
	return nc
}

// networksFile lists the Docker networks to create, one per line:
// NAME internal|bridge.
func networksFile(ns []model.DockerNetwork) string {
	var b bytes.Buffer
	for _, n := range ns {
		kind := "bridge"
		if n.Internal {
			kind = "internal"
		}
		fmt.Fprintf(&b, "%s %s\n", n.Name, kind)
	}
	return b.String()
}

// withOwn is a hardening file followed by the host's own settings (attr in
// HCL), one "key<sep>value" line each, sorted.
func withOwn(base []byte, attr string, own map[string]string, sep string) string {
	if len(own) == 0 {
		return string(base)
	}
	return string(base) + "# Declared for this host in HCL (" + attr + ").\n" + model.SortedLines(own, sep)
}
