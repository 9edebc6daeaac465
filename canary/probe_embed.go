//go:build helpers

package canary

import _ "embed"

//go:embed probe.bin
var probe []byte
