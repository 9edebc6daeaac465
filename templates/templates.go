// Package templates holds the hardening material fjord puts on every host:
// the default daemon.json and the script that makes Docker use it. Files are
// embedded so that the binary alone can render a seed.
package templates

import (
	"embed"
	"encoding/json"
	"fmt"
)

//go:embed files
var files embed.FS

// File returns an embedded file by its name under files/.
func File(name string) ([]byte, error) {
	b, err := files.ReadFile("files/" + name)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", name, err)
	}
	return b, nil
}

// DockerSetupScript is the runcmd script that brings the daemon up with the
// rendered configuration.
func DockerSetupScript() []byte {
	b, err := File("docker-setup.sh")
	if err != nil {
		panic(err) // embedded at build time; absent only if the build is broken
	}
	return b
}

// DaemonDefaults returns the hardened daemon.json settings as a map, a fresh
// copy on every call so callers may change it.
func DaemonDefaults() map[string]any {
	b, err := File("daemon.json")
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("embedded daemon.json: %v", err))
	}
	return m
}
