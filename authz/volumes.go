package authz

import (
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/volume"
)

func (p Policy) volumeCreate(req Request) Decision {
	var v volume.VolumeCreateBody
	if err := readBody(req, &v); err != nil {
		return p.unreadable("volume create", err.Error())
	}
	return p.volumeOptions(v.Driver, v.DriverOpts)
}

// volumeOptions judges what a local volume with these driver options
// mounts each time a container uses it. The local driver reads the keys
// type, o and device exactly as written and calls mount(2) with them: the
// flags bind or rbind among the comma-separated o make it a bind mount of
// device, which the kernel resolves then; any other type mounts device
// (a disk, the Docker data disk, an overlay of /, proc, a network share).
// Only tmpfs and binds of paths a container may have are let through.
// Drivers other than local are plugins, whose installation is refused;
// their options are judged the same way.
func (p Policy) volumeOptions(driver string, opts map[string]string) Decision {
	typ, o, dev := opts["type"], opts["o"], opts["device"]
	if typ == "" && dev == "" && o == "" {
		return allow // a plain directory under /var/lib/docker/volumes
	}
	for _, f := range strings.Split(o, ",") {
		if f == "bind" || f == "rbind" {
			return p.hostPath(dev, "a volume bound to", false)
		}
	}
	if typ == "tmpfs" {
		return allow
	}
	what := fmt.Sprintf("a volume mounting %s (type=%s", strconvQuote(dev), strconvQuote(typ))
	if o != "" {
		what += ", o=" + strconvQuote(o)
	}
	if driver != "" && driver != "local" {
		what += ", driver " + driver
	}
	return p.deny(RuleVolumeMounts, what+")")
}
