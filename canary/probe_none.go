//go:build !probe

package canary

// probe is empty in builds without the "probe" tag; Image reports ErrNoProbe.
var probe []byte
