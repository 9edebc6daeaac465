//go:build helpers

package plugin

import _ "embed"

//go:embed fjord-authz.bin
var binary []byte
