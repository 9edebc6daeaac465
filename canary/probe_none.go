//go:build !helpers

package canary

// probe is empty in builds without the "helpers" tag; Image reports ErrNoProbe.
var probe []byte
