//go:build !probe

package plugin

// binary is empty in builds without the "probe" tag; Binary reports ErrNoPlugin.
var binary []byte
