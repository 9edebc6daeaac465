package verify

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// container is what the runtime audit reads of one running container: the
// configuration docker inspect reports and the kernel's view of its process.
type container struct {
	ID   string
	Name string
	Cfg  struct {
		Config struct {
			User string
		}
		HostConfig struct {
			Privileged     bool
			NetworkMode    string
			PidMode        string
			IpcMode        string
			UTSMode        string
			UsernsMode     string
			CapAdd         []string
			SecurityOpt    []string
			ReadonlyRootfs bool
			PidsLimit      *int64
		}
		Mounts []struct {
			Source string
		}
		// NetworkSettings.Ports are the ports the container has
		// published: "80/tcp" → the host addresses and ports bound.
		NetworkSettings struct {
			Ports map[string][]struct {
				HostIP   string `json:"HostIp"`
				HostPort string
			}
		}
	}
	Status map[string]string // CapEff, Seccomp, NoNewPrivs from /proc/PID/status
}

// parseContainers reads the "containers" source.
func parseContainers(text string) ([]container, error) {
	var out []container
	var cur *container
	mode := ""
	var buf strings.Builder
	flush := func() error {
		if cur != nil && mode == "inspect" {
			var list []json.RawMessage
			if err := json.Unmarshal([]byte(buf.String()), &list); err != nil || len(list) != 1 {
				return fmt.Errorf("docker inspect %s: unreadable output", cur.ID)
			}
			var named struct{ Name string }
			json.Unmarshal(list[0], &named)
			cur.Name = strings.TrimPrefix(named.Name, "/")
			if err := json.Unmarshal(list[0], &cur.Cfg); err != nil {
				return fmt.Errorf("docker inspect %s: %w", cur.ID, err)
			}
		}
		buf.Reset()
		return nil
	}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "@@container "):
			if err := flush(); err != nil {
				return nil, err
			}
			out = append(out, container{ID: strings.TrimPrefix(line, "@@container "), Status: map[string]string{}})
			cur, mode = &out[len(out)-1], "inspect"
		case strings.HasPrefix(line, "@@status "):
			if err := flush(); err != nil {
				return nil, err
			}
			mode = "status"
		case cur != nil && mode == "inspect":
			buf.WriteString(line + "\n")
		case cur != nil && mode == "status":
			if k, v, ok := strings.Cut(line, ":"); ok {
				cur.Status[k] = strings.TrimSpace(v)
			}
		}
	}
	return out, flush()
}

func (c container) label() string {
	id := c.ID
	if len(id) > 12 {
		id = id[:12]
	}
	return fmt.Sprintf("container %s (%s)", c.Name, id)
}

// fullCaps is a CapEff with every capability of the kernel (≥ 38 bits set).
func fullCaps(capEff string) bool {
	var v uint64
	fmt.Sscanf(capEff, "%x", &v)
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n >= 38
}

// runtimeCheck builds a check that flags each running container for which
// flag returns a reason.
func runtimeCheck(id, cis, title, hint string, flag func(c container) string) Check {
	return Check{ID: id, Reference: cis, Title: title, Severity: High, Source: "containers", Hint: hint,
		Judge: func(o Output, _ Expect) string {
			cs, err := parseContainers(o.Text)
			if err != nil {
				return err.Error()
			}
			var found []string
			for _, c := range cs {
				if why := flag(c); why != "" {
					found = append(found, c.label()+": "+why)
				}
			}
			return strings.Join(found, "; ")
		}}
}

func hostNS(mode string) bool { return mode == "host" }

// publishedCheck reports every port a running container publishes, and
// fails on those the host does not declare in docker.publish: the firewall
// keeps them from the outside, but a container publishing a port nobody
// declared is a misconfiguration to fix, not to rely on the firewall for.
func publishedCheck() Check {
	return Check{ID: "network.published", Reference: "fjord segregation", Title: "Every port a container publishes is declared in docker.publish", Severity: Medium, Source: "containers",
		Hint: "declare the port in the host's docker.publish if it is meant to be reachable, or run the container without -p",
		Judge: func(o Output, e Expect) string {
			cs, err := parseContainers(o.Text)
			if err != nil {
				return err.Error()
			}
			declared := map[string]bool{}
			for _, p := range e.Docker.Publish {
				declared[p.String()] = true
			}
			var bad []string
			for _, c := range cs {
				for _, b := range publishedPorts(c) {
					if !declared[b.host] {
						bad = append(bad, fmt.Sprintf("%s publishes %s as %s, which docker.publish does not declare", c.label(), b.container, b.host))
					}
				}
			}
			return strings.Join(bad, "; ")
		},
		Observe: func(o Output) string {
			cs, err := parseContainers(o.Text)
			if err != nil {
				return ""
			}
			var seen []string
			for _, c := range cs {
				for _, b := range publishedPorts(c) {
					seen = append(seen, fmt.Sprintf("%s %s → %s", c.Name, b.host, b.container))
				}
			}
			if len(seen) == 0 {
				return "no container publishes a port"
			}
			return "published: " + strings.Join(seen, ", ")
		}}
}

// binding is one published port: the host side (PORT/PROTO) and the
// container side ("80/tcp").
type binding struct{ host, container string }

func publishedPorts(c container) []binding {
	keys := make([]string, 0, len(c.Cfg.NetworkSettings.Ports))
	for k := range c.Cfg.NetworkSettings.Ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []binding
	seen := map[string]bool{}
	for _, k := range keys {
		_, proto, _ := strings.Cut(k, "/")
		for _, b := range c.Cfg.NetworkSettings.Ports[k] {
			h := b.HostPort + "/" + proto
			if b.HostPort == "" || seen[h+k] {
				continue // exposed, not published; or the same on IPv4 and IPv6
			}
			seen[h+k] = true
			out = append(out, binding{host: h, container: k})
		}
	}
	return out
}

func runtimeChecks() []Check {
	return []Check{
		publishedCheck(),
		runtimeCheck("runtime.privileged", "CIS 5.5", "No container runs privileged", "run it without --privileged; add only the capabilities it needs",
			func(c container) string {
				switch {
				case c.Cfg.HostConfig.Privileged:
					return "privileged"
				case fullCaps(c.Status["CapEff"]):
					return "has every capability (CapEff " + c.Status["CapEff"] + ")"
				}
				return ""
			}),
		runtimeCheck("runtime.host-mounts", "CIS 5.5/5.31", "No container mounts the host root or the Docker socket", "remove the bind mount of / or docker.sock",
			func(c container) string {
				for _, m := range c.Cfg.Mounts {
					if m.Source == "/" || strings.HasSuffix(m.Source, "/docker.sock") {
						return "mounts " + m.Source
					}
				}
				return ""
			}),
		runtimeCheck("runtime.host-namespaces", "CIS 5.10/5.16/5.17/5.21/5.31", "No container shares the host's network, PID, IPC, UTS or user namespace", "drop --network/--pid/--ipc/--uts/--userns=host",
			func(c container) string {
				h := c.Cfg.HostConfig
				var ns []string
				for _, n := range []struct{ name, mode string }{{"network", h.NetworkMode}, {"pid", h.PidMode}, {"ipc", h.IpcMode}, {"uts", h.UTSMode}, {"userns", h.UsernsMode}} {
					if hostNS(n.mode) {
						ns = append(ns, n.name)
					}
				}
				if len(ns) > 0 {
					return "host " + strings.Join(ns, ", ") + " namespace"
				}
				return ""
			}),
		runtimeCheck("runtime.cap-add", "CIS 5.3", "No container adds capabilities", "remove --cap-add",
			func(c container) string {
				if len(c.Cfg.HostConfig.CapAdd) > 0 {
					return "adds " + strings.Join(c.Cfg.HostConfig.CapAdd, ", ")
				}
				return ""
			}),
		runtimeCheck("runtime.unconfined", "CIS 5.2/5.22", "No container runs without seccomp or AppArmor", "remove seccomp=unconfined / apparmor=unconfined",
			func(c container) string {
				for _, o := range c.Cfg.HostConfig.SecurityOpt {
					if strings.Contains(o, "unconfined") {
						return "security-opt " + o
					}
				}
				if c.Status["Seccomp"] == "0" {
					return "the kernel shows no seccomp filter (Seccomp: 0)"
				}
				return ""
			}),
		runtimeCheck("runtime.root-writable", "CIS 5.13", "No container runs as root on a writable root filesystem", "run with --read-only or as a non-root --user",
			func(c container) string {
				u := c.Cfg.Config.User
				if (u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:")) && !c.Cfg.HostConfig.ReadonlyRootfs {
					return "root with a writable root filesystem"
				}
				return ""
			}),
		runtimeCheck("runtime.pids-limit", "CIS 5.29", "Every container has a PIDs limit", "run with --pids-limit",
			func(c container) string {
				if l := c.Cfg.HostConfig.PidsLimit; l == nil || *l <= 0 {
					return "no PIDs limit"
				}
				return ""
			}),
	}
}
