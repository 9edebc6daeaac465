package authz

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/volume/mounts"
)

// walked is where the kernel's path walk takes a host path, and what on
// the way would let someone else change where it leads.
type walked struct {
	// resolved is the path reached: symlinks followed, ".." applied to
	// the directory the walk is in, as the kernel does.
	resolved string
	// missing counts the trailing components that do not exist yet.
	missing int
	// swappable names the first directory on the way that a user other
	// than root (a container's remapped root among them) can write, so
	// that the entry the walk takes in it could become a symlink before
	// the mount; "" when there is none.
	swappable, entry string
}

// maxLinks is the kernel's limit on symlinks followed in one walk (ELOOP).
const maxLinks = 40

// walk resolves the absolute path p component by component, as the
// kernel will when the daemon mounts it: symlinks are read and followed
// where they stand, and ".." goes to the parent of the directory reached
// so far, not of the text before it (/var/run/../etc is /etc where
// /var/run is a link to /run). Components after the first missing one are
// taken as they are written.
func walk(p string) (walked, error) {
	var w walked
	cur := "/"
	rest := strings.Split(p, "/")
	links := 0
	var dir fs.FileInfo // the directory cur, once it was looked at
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur, dir = path.Dir(cur), nil
			if w.missing > 0 {
				w.missing--
			}
			continue
		}
		next := path.Join(cur, c)
		if w.missing > 0 {
			cur = next
			w.missing++
			continue
		}
		if dir == nil {
			fi, err := os.Lstat(cur)
			if err != nil {
				return w, fmt.Errorf("%s: %w", cur, err)
			}
			dir = fi
		}
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fi = nil
		case err != nil:
			return w, fmt.Errorf("%s: %w", next, err)
		}
		if w.swappable == "" && replaceable(dir, fi) {
			w.swappable, w.entry = cur, c
		}
		switch {
		case fi == nil:
			w.missing = 1
			cur = next
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxLinks {
				return w, fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return w, fmt.Errorf("%s: %w", next, err)
			}
			if strings.HasPrefix(target, "/") {
				cur, dir = "/", nil
			}
			rest = append(strings.Split(target, "/"), rest...)
		case !fi.IsDir() && hasMore(rest):
			return w, fmt.Errorf("%s: not a directory", next)
		default:
			cur, dir = next, fi
		}
	}
	w.resolved = cur
	return w, nil
}

func hasMore(rest []string) bool {
	for _, c := range rest {
		if c != "" && c != "." {
			return true
		}
	}
	return false
}

// replaceable reports whether someone other than root can put another
// entry (a symlink) in directory dir in place of entry (nil: missing).
// In a sticky directory that root owns, only an entry's owner can remove
// it, so a root-owned entry there stays.
func replaceable(dir, entry fs.FileInfo) bool {
	dst, ok := dir.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	m := dir.Mode()
	writable := dst.Uid != 0 && m&0o200 != 0 || dst.Gid != 0 && m&0o020 != 0 || m&0o002 != 0
	if !writable {
		return false
	}
	if m&fs.ModeSticky != 0 && dst.Uid == 0 && entry != nil {
		if est, ok := entry.Sys().(*syscall.Stat_t); ok && est.Uid == 0 {
			return false
		}
	}
	return true
}

// parser reads bind and mount specifications with the daemon's own code.
var parser = mounts.NewParser("linux")

func (p Policy) mounts(hc *container.HostConfig) Decision {
	for _, b := range hc.Binds {
		mp, err := parser.ParseMountRaw(b, hc.VolumeDriver)
		if err != nil {
			return p.unreadable("-v "+strings.TrimSpace(shorten(b)), "the daemon refuses it too: "+err.Error())
		}
		if mp.Type == mount.TypeBind {
			// The daemon cleans the source as text, then creates it
			// (owned by the container's root) when it is missing.
			if d := p.hostPath(mp.Source, "a bind mount of", true); !d.Allow {
				return d
			}
		}
	}
	for _, m := range hc.Mounts {
		mp, err := parser.ParseMountSpec(m)
		if err != nil {
			return p.unreadable("--mount "+string(m.Type), "the daemon refuses it too: "+err.Error())
		}
		switch mp.Type {
		case mount.TypeBind:
			if d := p.hostPath(mp.Source, "a bind mount of", false); !d.Allow {
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
	return allow
}

// hostPath judges a host path a container is given (a bind source, or the
// device a local volume binds), as the kernel will reach it when the
// daemon mounts it. kind says what it is for the message; created says
// whether the daemon creates the path when it is missing.
func (p Policy) hostPath(src, kind string, created bool) Decision {
	if !strings.HasPrefix(src, "/") {
		return p.unreadable(kind+" "+strconvQuote(src), "not an absolute path: the kernel would resolve it from the daemon's working directory")
	}
	clean := path.Clean(src)
	written := make([][]string, len(p.SensitivePaths))
	for i, s := range p.SensitivePaths {
		written[i] = []string{path.Clean(s)}
	}
	if s, ok := sensitiveMatch(written, clean); ok {
		if clean == s {
			return p.deny(RuleSensitiveMounts, kind+" "+src)
		}
		return p.deny(RuleSensitiveMounts, fmt.Sprintf("%s %s (under or above %s)", kind, src, s))
	}
	w, err := walk(src)
	if err != nil {
		return p.unreadable(kind+" "+src, "resolving it as the kernel will: "+err.Error())
	}
	forms := p.sensitiveForms()
	if s, ok := sensitiveMatch(forms, clean); ok && clean != w.resolved {
		// A sensitive path reached through a symlink it is (/var/run for /run).
		return p.deny(RuleSensitiveMounts, fmt.Sprintf("%s %s (%s on this host, under or above %s)", kind, src, w.resolved, s))
	}
	if s, ok := sensitiveMatch(forms, w.resolved); ok {
		return p.deny(RuleSensitiveMounts, fmt.Sprintf("%s %s (%s on this host, under or above %s)", kind, src, w.resolved, s))
	}
	if w.swappable != "" {
		return p.deny(RuleSwappablePaths, fmt.Sprintf("%s %s (a user other than root can write %s, so %s in it could be a symlink by the time the daemon mounts it)",
			kind, src, w.swappable, w.entry))
	}
	if w.missing > 1 || w.missing == 1 && !created {
		// The daemon would create every missing directory owned by the
		// container's root, and those below the first could then be
		// swapped for symlinks.
		return p.deny(RuleSwappablePaths, fmt.Sprintf("%s %s (%s does not exist; create it first, owned by root)", kind, src, firstMissing(w)))
	}
	return allow
}

func firstMissing(w walked) string {
	d := w.resolved
	for i := 1; i < w.missing; i++ {
		d = path.Dir(d)
	}
	return d
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", shorten(s)) }

// sensitiveForms are the policy's sensitive paths, each as written and as
// the kernel resolves it now (/var/run is /run).
func (p Policy) sensitiveForms() [][]string {
	out := make([][]string, 0, len(p.SensitivePaths))
	for _, s := range p.SensitivePaths {
		s = path.Clean(s)
		forms := []string{s}
		if w, err := walk(s); err == nil && w.resolved != s {
			forms = append(forms, w.resolved)
		}
		out = append(out, forms)
	}
	return out
}

// sensitiveMatch reports the sensitive path that host path c is, lies
// under, or lies above, among forms (sensitiveForms).
func sensitiveMatch(forms [][]string, c string) (string, bool) {
	for _, fs := range forms {
		for _, f := range fs {
			if c == f || f != "/" && strings.HasPrefix(c, f+"/") || strings.HasPrefix(f, strings.TrimSuffix(c, "/")+"/") {
				return fs[0], true
			}
		}
	}
	return "", false
}
