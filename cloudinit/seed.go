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

	"gopkg.in/yaml.v3"

	"github.com/fjord-dev/fjord/templates"
)

// Input is everything a seed is rendered from.
type Input struct {
	Project        string
	Host           string
	MAC            string
	AdminUser      string
	AuthorizedKeys []string
	// HostKey is the guest's pinned ed25519 host key. Its private half is a
	// secret: it lives only in the seed, never in logs or hashes.
	HostKey HostKey
	// Daemon is the daemon.json content; nil means the hardened defaults.
	Daemon map[string]any
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
	Hostname       string      `yaml:"hostname"`
	ManageEtcHosts bool        `yaml:"manage_etc_hosts"`
	Locale         string      `yaml:"locale"`
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
	DHCP4 bool `yaml:"dhcp4"`
	DHCP6 bool `yaml:"dhcp6"`
}

type networkConfig struct {
	Version   int                 `yaml:"version"`
	Ethernets map[string]ethernet `yaml:"ethernets"`
}

// DaemonJSONPath is where the seed writes Docker's configuration.
const DaemonJSONPath = "/etc/docker/daemon.json"

const setupScriptPath = "/usr/local/sbin/fjord-docker-setup"

// InstanceID derives the cloud-init instance-id from the host's identity, so
// it is the same on every render and changes only when the host does.
func InstanceID(project, host string) string {
	sum := sha256.Sum256([]byte(project + "\x00" + host))
	return "fjord-" + hex.EncodeToString(sum[:8])
}

// Render builds the seed. It is deterministic for a given input.
func Render(in Input) (*Seed, error) {
	daemon := in.Daemon
	if daemon == nil {
		daemon = templates.DaemonDefaults()
	}
	daemonJSON, err := json.MarshalIndent(daemon, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render daemon.json: %w", err)
	}
	daemonJSON = append(daemonJSON, '\n')

	md, err := yaml.Marshal(metaData{InstanceID: InstanceID(in.Project, in.Host), LocalHostname: in.Host, DSMode: "local"})
	if err != nil {
		return nil, fmt.Errorf("render meta-data: %w", err)
	}
	nc := networkConfig{Version: 2, Ethernets: map[string]ethernet{}}
	var e ethernet
	e.Match.MACAddress = in.MAC
	e.DHCP4 = true
	nc.Ethernets["primary"] = e
	ncb, err := yaml.Marshal(nc)
	if err != nil {
		return nil, fmt.Errorf("render network-config: %w", err)
	}

	cc := cloudConfig{
		Hostname:       in.Host,
		ManageEtcHosts: true,
		Locale:         "C.UTF-8",
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
			{Path: setupScriptPath, Owner: "root:root", Permissions: "0755", Content: string(templates.DockerSetupScript())},
		},
		RunCmd: [][]string{{setupScriptPath}},
	}
	ud, err := userData(cc)
	if err != nil {
		return nil, err
	}
	// The hash covers the seed with the host key blanked out.
	cc.SSHKeys = sshKeys{}
	blank, err := userData(cc)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, part := range [][]byte{md, ncb, blank} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	return &Seed{
		MetaData:      md,
		UserData:      ud,
		NetworkConfig: ncb,
		DaemonJSON:    daemonJSON,
		Hash:          hex.EncodeToString(h.Sum(nil)),
	}, nil
}

func userData(cc cloudConfig) ([]byte, error) {
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
