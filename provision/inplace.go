package provision

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/sshx"
)

// updateInPlace writes the changed parts (c.InPlace) on the running host
// over its pinned SSH connection, one at a time and in order, each checked
// before anything restarts and put back if its service does not come
// back; the record is updated after each, so an apply stopped half way
// resumes where it was. Then the host is verified as fjord verify does.
func (a *applier) updateInPlace(ctx context.Context, hv Hypervisor, c Change, h DesiredHost, ds DomainState, hr *HostResult, timed func(string, func() error) error) error {
	cfg := a.d.Config
	domain := DomainName(cfg.Project, h.Spec.Name)
	key, err := sshx.ReadPrivateKey(h.Spec.SSH.PrivateKeyFile)
	if err != nil {
		return err
	}
	hr.HostKey, hr.Fingerprint = ds.Meta.HostKey, sshx.Fingerprint(ds.Meta.HostKey)
	hr.Address = CurrentAddress(ctx, hv, domain, ds.Meta.MAC, ds.Meta.IP)
	var g Guest
	err = timed("ssh", func() error {
		var err error
		g, err = a.waitSSH(ctx, hv, domain, sshx.Target{Addr: net.JoinHostPort(hr.Address, "22"), User: h.Spec.SSH.User, PrivateKey: key, PinnedKey: ds.Meta.HostKey, Via: via(hv)})
		return err
	})
	if err != nil {
		return err
	}
	defer g.Close()
	parts, err := cloudinit.Parts(SeedInput(cfg, h.Spec))
	if err != nil {
		return err
	}
	byName := map[string]cloudinit.Part{}
	for _, p := range parts {
		byName[p.Name] = p
	}
	meta := ds.Meta
	applied := meta.PartHashes()
	for _, name := range c.InPlace {
		if name == PartDisk || name == PartDataDisk {
			var fs uint64
			err := timed("grow "+name, func() error {
				var err error
				fs, err = a.growDisk(ctx, hv, g, h, name)
				return err
			})
			if err != nil {
				return fmt.Errorf("growing the %s: %w", map[string]string{PartDisk: "root disk", PartDataDisk: "Docker data disk"}[name], err)
			}
			hr.Grown = append(hr.Grown, GrownDisk{Disk: name, Size: map[string]uint64{PartDisk: h.Meta.Disk, PartDataDisk: h.Meta.DataDisk}[name], Filesystem: fs})
			if name == PartDisk {
				meta.Disk = h.Meta.Disk
			} else {
				meta.DataDisk = h.Meta.DataDisk
			}
			if err := hv.SetMeta(ctx, domain, meta); err != nil {
				return fmt.Errorf("recording the new size of the %s: %w", name, err)
			}
			continue
		}
		p, ok := byName[name]
		if !ok {
			return fmt.Errorf("no in-place file %q in the host's seed", name)
		}
		err := timed("update "+name, func() error { return writePart(ctx, g, p) })
		if err != nil {
			return fmt.Errorf("%s: %w", p.Label, err)
		}
		applied[name] = p.Hash()
		meta.Parts = metaParts(applied)
		if err := hv.SetMeta(ctx, domain, meta); err != nil {
			return fmt.Errorf("recording the new %s: %w", p.Label, err)
		}
	}
	if err := timed("verify", func() error { return a.verifyHost(ctx, g, hv, h, true, hr) }); err != nil {
		return fmt.Errorf("after the update: %w", err)
	}
	meta.Protect, meta.Autostart = h.Meta.Protect, h.Meta.Autostart
	return timed("metadata", func() error { return hv.SetMeta(ctx, domain, meta) })
}

// Exit codes of partScript.
const (
	partCheckFailed  = 11 // the new file failed its check: nothing changed
	partVerifyFailed = 12 // the configuration with it failed: the old file is back
	partApplyFailed  = 13 // its service did not come back: the old file is back in force
)

// partScript replaces p's file with standard input: written beside it,
// checked, moved over it (the previous kept), the configuration verified
// and put in force; a failure puts the previous file back (and in force).
func partScript(p cloudinit.Part) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -u\nf=%s; new=\"$f.fjord-new\"; prev=\"$f.fjord-prev\"\n", sshx.Quote(p.Path))
	b.WriteString("umask 077\ncat >\"$new\" || exit 10\n")
	fmt.Fprintf(&b, "chmod %s \"$new\" && chown root:root \"$new\" || exit 10\n", p.Mode)
	b.WriteString("restore() { if [ -e \"$prev\" ]; then mv -f \"$prev\" \"$f\"; else rm -f \"$f\"; fi; }\n")
	if p.Check != "" {
		fmt.Fprintf(&b, "if ! out=$(%s 2>&1); then rm -f \"$new\"; printf '%%s\\n' \"$out\" >&2; exit %d; fi\n", p.Check, partCheckFailed)
	}
	b.WriteString("if [ -e \"$f\" ]; then cp -p \"$f\" \"$prev\" || exit 10; fi\nmv -f \"$new\" \"$f\" || exit 10\n")
	if p.Verify != "" {
		fmt.Fprintf(&b, "if ! out=$(%s 2>&1); then restore; printf '%%s\\n' \"$out\" >&2; exit %d; fi\n", p.Verify, partVerifyFailed)
	}
	fmt.Fprintf(&b, "if ! out=$(%s 2>&1); then restore; %s >/dev/null 2>&1; printf '%%s\\n' \"$out\" >&2; exit %d; fi\n", p.Apply, p.Apply, partApplyFailed)
	b.WriteString("rm -f \"$prev\"\n")
	return "sudo -n sh -c " + sshx.Quote(b.String())
}

func writePart(ctx context.Context, g Guest, p cloudinit.Part) error {
	r, err := g.RunInput(ctx, partScript(p), p.Body())
	if err != nil {
		return err
	}
	why := strings.TrimSpace(sshx.Short(r.Stderr + r.Stdout))
	switch r.ExitCode {
	case 0:
		return nil
	case partCheckFailed:
		return fmt.Errorf("the new %s fails its check, nothing was changed: %s", p.Path, why)
	case partVerifyFailed:
		return fmt.Errorf("the configuration with the new %s is refused (%s); the previous file is back: %s", p.Path, p.Verify, why)
	case partApplyFailed:
		return fmt.Errorf("%s did not come back with the new %s; the previous file is back in force: %s", p.Restarts, p.Path, why)
	}
	return fmt.Errorf("writing %s failed (exit %d): %s", p.Path, r.ExitCode, why)
}
