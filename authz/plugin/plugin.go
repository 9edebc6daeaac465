// Package plugin carries the fjord-authz binary (cmd/fjord-authz) that
// fjord delivers to each host inside its cloud-init seed.
//
// The binary is embedded when fjord is built with the "helpers" tag after
// building it into authz/plugin/fjord-authz.bin, as `make build` does.
package plugin

import "errors"

// ErrNoPlugin means this fjord binary was built without the plugin.
var ErrNoPlugin = errors.New("this fjord was built without its fjord-authz plugin (build it with make build)")

// Binary returns the static fjord-authz program.
func Binary() ([]byte, error) {
	if len(binary) == 0 {
		return nil, ErrNoPlugin
	}
	return binary, nil
}
