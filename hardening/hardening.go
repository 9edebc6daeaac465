// Package hardening holds the hardening material fjord puts on every host:
// daemon.json defaults, sysctls, the sshd drop-in, audit rules and the
// setup script that applies them on first boot. Files are
// embedded so that the binary alone can render a seed.
package hardening

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

// Must returns an embedded file that the build guarantees exists.
func Must(name string) []byte {
	b, err := File(name)
	if err != nil {
		panic(err) // embedded at build time; absent only if the build is broken
	}
	return b
}

// DaemonDefaults returns the hardened daemon.json settings as a map, a fresh
// copy on every call so callers may change it.
func DaemonDefaults() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(Must("daemon.json"), &m); err != nil {
		panic(fmt.Sprintf("embedded daemon.json: %v", err))
	}
	return m
}
