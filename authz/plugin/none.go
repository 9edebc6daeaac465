//go:build !helpers

package plugin

// binary is empty in builds without the "helpers" tag; Binary reports ErrNoPlugin.
var binary []byte
