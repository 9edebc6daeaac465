package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fjord-dev/fjord/model"
)

// The Ansible inventory reaches each host with its pinned key, a remote
// one through its hypervisor, and its ssh arguments survive the shell-like
// split Ansible applies to them.
func TestAnsibleInventory(t *testing.T) {
	hv := model.Hypervisor{Name: "rack1", URI: "qemu+ssh://ops@10.77.0.2:2222/system", HostKey: "ssh-ed25519 AAAAhv", SSHKeyFile: "/home/u/my keys/fleet"}
	hosts := []pinnedHost{
		{alias: "demo-web-0", address: "192.168.151.9", hostKey: "ssh-ed25519 AAAAweb",
			host: model.Host{Name: "web-0", Base: "web", Hypervisor: "local", SSH: model.SSH{User: "admin", PrivateKeyFile: "/home/u/.ssh/id"}}},
		{alias: "demo-ci-0", address: "192.168.151.10", hostKey: "ssh-ed25519 AAAAci", jump: &hv,
			host: model.Host{Name: "ci-0", Base: "ci-runners", Hypervisor: "rack1", SSH: model.SSH{User: "admin", PrivateKeyFile: "/home/u/.ssh/id"}}},
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	b, _ := json.Marshal(ansibleInventory(kh, hosts))
	var inv struct {
		All struct {
			Hosts    map[string]map[string]any `json:"hosts"`
			Children map[string]struct {
				Hosts map[string]any `json:"hosts"`
			} `json:"children"`
		} `json:"all"`
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	if _, ok := inv.All.Children["ci_runners"].Hosts["ci-0"]; !ok {
		t.Errorf("ci-0 not in group ci_runners: %s", b)
	}
	web, ci := inv.All.Hosts["web-0"], inv.All.Hosts["ci-0"]
	if web["ansible_host"] != "192.168.151.9" || web["ansible_user"] != "admin" || ci["fjord_hypervisor"] != "rack1" {
		t.Errorf("host variables: %s", b)
	}
	split := func(s string) []string {
		words, err := exec.Command("sh", "-c", "for a in "+s+"; do printf '%s\\n' \"$a\"; done").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimRight(string(words), "\n"), "\n")
	}
	if args := split(web["ansible_ssh_common_args"].(string)); !slices.Contains(args, "-o") || !slices.Contains(args, "HostKeyAlias=demo-web-0") || !slices.Contains(args, "UserKnownHostsFile="+kh) {
		t.Errorf("web-0 ssh args split into %q", args)
	}
	args := split(ci["ansible_ssh_common_args"].(string))
	want := "-oProxyCommand=" + proxyCommand(kh, hv)
	if !slices.Contains(args, want) {
		t.Errorf("ci-0 ssh args split into %q, want one word %q", args, want)
	}
	// OpenSSH hands the ProxyCommand to the shell: the key path stays one word.
	if words := split(proxyCommand(kh, hv)); !slices.Contains(words, "/home/u/my keys/fleet") {
		t.Errorf("ProxyCommand splits into %q", words)
	}
}
