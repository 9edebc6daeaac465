package authz

import (
	"mime"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

// build judges POST /build. The classic builder runs each RUN step in a
// container the daemon creates itself, without asking the plugin, in the
// network the networkmode parameter names; version=2 hands the build to
// BuildKit, which runs its steps through a session the plugin cannot see.
// The daemon reads parameters from the query and from a form body; a form
// body is never forwarded to the plugin, so a build sent with one is
// refused.
func (p Policy) build(r route, req Request) Decision {
	if ct, _, err := mime.ParseMediaType(header(req, "Content-Type")); err == nil &&
		(ct == "application/x-www-form-urlencoded" || strings.HasPrefix(ct, "multipart/")) {
		return p.unreadable("build with a "+ct+" body", "the daemon reads build parameters from a form body the plugin is not shown")
	}
	if v := r.query.Get("version"); v != "" && v != string(types.BuilderV1) {
		return p.deny(RuleBuildKit, "a BuildKit build (docker buildx, DOCKER_BUILDKIT=1)")
	}
	if container.NetworkMode(strings.TrimSpace(strings.ToLower(r.query.Get("networkmode")))).IsHost() {
		return p.deny(RuleBuildHostNetwork, "docker build --network=host")
	}
	return allow
}

// networkCreate refuses networks that put containers on the host's own
// interfaces (macvlan, ipvlan: outside the host's firewall and Docker's
// bridges).
func (p Policy) networkCreate(req Request) Decision {
	var n types.NetworkCreateRequest
	if err := readBody(req, &n); err != nil {
		return p.unreadable("network create", err.Error())
	}
	switch d := strings.ToLower(strings.TrimSpace(n.Driver)); d {
	case "macvlan", "ipvlan":
		what := "docker network create --driver " + d
		if parent := n.Options["parent"]; parent != "" {
			what += " -o parent=" + parent
		}
		return p.deny(RuleHostInterfaces, what)
	}
	return allow
}

// service judges swarm services: their tasks' containers are created by
// the daemon without another authorization request, so their spec is
// judged here as a container would be.
func (p Policy) service(req Request) Decision {
	if d := p.deny(RuleSwarm, "a swarm service"); !d.Allow {
		return d
	}
	var s swarm.ServiceSpec
	if err := readBody(req, &s); err != nil {
		return p.unreadable("swarm service", err.Error())
	}
	if s.TaskTemplate.PluginSpec != nil || s.TaskTemplate.Runtime == swarm.RuntimePlugin {
		if d := p.deny(RulePlugins, "a swarm plugin service"); !d.Allow {
			return d
		}
	}
	cs := s.TaskTemplate.ContainerSpec
	if cs == nil {
		return allow
	}
	hc := &container.HostConfig{CapAdd: cs.CapabilityAdd}
	for _, m := range cs.Mounts {
		switch m.Type {
		case mount.TypeBind:
			if d := p.hostPath(m.Source, "a service bind mount of", false); !d.Allow {
				return d
			}
		case mount.TypeVolume:
			if o := m.VolumeOptions; o != nil && o.DriverConfig != nil {
				if d := p.volumeOptions(o.DriverConfig.Name, o.DriverConfig.Options); !d.Allow {
					return d
				}
			}
		}
	}
	return p.capabilities(hc)
}
