package cloudinit

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fjord-dev/fjord/hardening"
)

// BuildInput is what a golden image's builder guest is seeded with.
type BuildInput struct {
	Image  string // the image's name
	Recipe string // the recipe's hash: the builder reports it back
	MAC    string // the builder's interface, configured by DHCP
	// AptMirror ("" for the base image's own sources), AptUnsigned and
	// Packages are the recipe's.
	AptMirror   string
	AptUnsigned bool
	Packages    []string
}

// Console markers of the build script (hardening/files/build.sh).
const (
	BuildDone          = "@@fjord-build-done"
	BuildFailed        = "@@fjord-build-failed"
	BuildManifestBegin = "@@fjord-manifest-begin"
	BuildManifestEnd   = "@@fjord-manifest-end"
	BuildPackage       = "@@fjord-package"
)

// RenderBuild renders the builder's seed: no users (the image must not
// keep one) and no SSH, the build script and its recipe, run once; the
// script powers the guest off.
func RenderBuild(in BuildInput) (*Seed, error) {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	unsigned := "no"
	if in.AptUnsigned {
		unsigned = "yes"
	}
	env := fmt.Sprintf("RECIPE=%s\nAPT_MIRROR=%s\nAPT_UNSIGNED=%s\nPACKAGES=%s\n", q(in.Recipe), q(in.AptMirror), unsigned, q(strings.Join(in.Packages, " ")))
	cc := map[string]any{
		// Only what the build needs: no users-groups (the image must not
		// keep a user) and no ssh (host keys are per host).
		"cloud_init_modules":   []string{"write-files", "growpart", "resizefs", "set_hostname"},
		"cloud_config_modules": []string{"runcmd"},
		"cloud_final_modules":  []string{"scripts-user", "final-message"},
		"write_files": []map[string]string{
			{"path": "/var/lib/fjord-build/recipe.env", "owner": "root:root", "permissions": "0600", "content": env},
			{"path": "/usr/local/sbin/fjord-build", "owner": "root:root", "permissions": "0755", "content": string(hardening.Must("build.sh"))},
		},
		"runcmd": [][]string{{"/usr/local/sbin/fjord-build"}},
	}
	ud, err := userData(cc)
	if err != nil {
		return nil, err
	}
	md, err := yaml.Marshal(map[string]string{"instance-id": "fjord-build-" + in.Recipe[:min(12, len(in.Recipe))], "local-hostname": "fjord-build"})
	if err != nil {
		return nil, err
	}
	var e ethernet
	e.Match.MACAddress = in.MAC
	e.DHCP4 = true
	nc, err := yaml.Marshal(networkConfig{Version: 2, Ethernets: map[string]ethernet{"primary": e}})
	if err != nil {
		return nil, err
	}
	return &Seed{MetaData: md, UserData: ud, NetworkConfig: nc}, nil
}

// BuildReport is what the builder printed on its console.
type BuildReport struct {
	Done      bool
	Failed    string // the step the script failed at, when it said so
	Kernel    string
	Docker    string
	CloudInit string
	Packages  map[string]string // name → version
}

// ParseBuildConsole reads the builder's console output for recipe.
func ParseBuildConsole(console, recipe string) BuildReport {
	r := BuildReport{Packages: map[string]string{}}
	in := false
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimRight(line, "\r")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == BuildDone && len(f) > 1 && f[1] == recipe:
			r.Done = true
		case f[0] == BuildFailed && len(f) > 2 && f[1] == recipe:
			r.Failed = f[2]
		case f[0] == BuildManifestBegin && len(f) > 1 && f[1] == recipe:
			in = true
		case f[0] == BuildManifestEnd:
			in = false
		case in && f[0] == BuildPackage && len(f) == 3:
			r.Packages[f[1]] = f[2]
		case in && len(f) == 2 && f[0] == "kernel":
			r.Kernel = f[1]
		case in && len(f) == 2 && f[0] == "docker":
			r.Docker = f[1]
		case in && len(f) == 2 && f[0] == "cloud-init":
			r.CloudInit = f[1]
		}
	}
	return r
}
