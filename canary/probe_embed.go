//go:build probe

package canary

import _ "embed"

//go:embed probe.bin
var probe []byte
