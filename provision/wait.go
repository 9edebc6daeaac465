package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/fjord-dev/fjord/poll"
	"github.com/fjord-dev/fjord/sshx"
	"github.com/fjord-dev/fjord/verify"
)

// consoleLines is how much of the serial console a boot failure shows.
const consoleLines = 25

// verifyHost runs every check on the host through g (sealed: as fjord
// verify does, after the seal) into hr.Checks, and fails when one fails.
func (a *applier) verifyHost(ctx context.Context, g Guest, hv Hypervisor, h DesiredHost, sealed bool, hr *HostResult) error {
	vctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var err error
	hr.Checks, err = CheckHost(vctx, a.d.Config, h.Spec, g, hv, a.opts.Probe, sealed)
	if err != nil {
		return err
	}
	if f := verify.Failed(hr.Checks); len(f) > 0 {
		return fmt.Errorf("%d of %d checks failed", len(f), len(hr.Checks))
	}
	return nil
}

// waitAndVerify waits for the host's address, for SSH with the pinned key
// and for cloud-init, then runs the verification checks.
func (a *applier) waitAndVerify(ctx context.Context, hv Hypervisor, h DesiredHost, domain, hostKey string, hr *HostResult, timed func(string, func() error) error) error {
	key, err := sshx.ReadPrivateKey(h.Spec.SSH.PrivateKeyFile)
	if err != nil {
		return err
	}
	// On a bridge the address is static: SSH goes straight there. On a
	// network libvirt manages, the lease shows the guest's network is up.
	addr := h.Spec.IP.String()
	err = timed("address", func() error {
		if n, _ := a.d.Config.Network(h.Spec.ManagementNetwork()); !n.Managed() {
			return nil
		}
		var err error
		addr, err = a.waitAddress(ctx, hv, domain, h.Spec.MAC)
		return err
	})
	if err != nil {
		return err
	}
	hr.Address = addr
	var g Guest
	err = timed("ssh", func() error {
		var err error
		g, err = a.waitSSH(ctx, hv, domain, sshx.Target{
			Addr: net.JoinHostPort(addr, "22"), User: h.Spec.SSH.User, PrivateKey: key, PinnedKey: hostKey, Via: via(hv),
		})
		return err
	})
	if err != nil {
		return err
	}
	defer g.Close()
	err = timed("cloud-init", func() error {
		wctx, cancel := context.WithTimeout(ctx, a.opts.BootTimeout)
		defer cancel()
		return waitFirstBoot(wctx, g)
	})
	if err != nil {
		return err
	}
	err = timed("verify", func() error { return a.verifyHost(ctx, g, hv, h, false, hr) })
	if err != nil {
		return err
	}
	// The seed holds the host's private key, and a seed with a new
	// instance-id could re-provision the guest: once verified, cloud-init is
	// switched off for good and the seed is detached and deleted.
	return timed("seal", func() error {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		r, err := g.Run(sctx, "sudo -n touch /etc/cloud/cloud-init.disabled")
		if err != nil {
			return err
		}
		if r.ExitCode != 0 {
			return fmt.Errorf("disable cloud-init: %s", sshx.Short(r.Stdout+r.Stderr))
		}
		if err := hv.DetachSeed(sctx, domain); err != nil {
			return err
		}
		return hv.DeleteVolume(sctx, h.Spec.Pool, SeedVolume(a.d.Config.Project, h.Spec.Name))
	})
}

// stuck reports a domain state that will not get better by waiting.
func stuck(st DomainStatus) bool {
	switch st.State {
	case "paused", "crashed", "shutoff", "pmsuspended":
		return true
	}
	return false
}

// bootFailure describes a guest that stopped booting, with its console.
func (a *applier) bootFailure(ctx context.Context, hv Hypervisor, domain string, st DomainStatus, waiting string) error {
	msg := fmt.Sprintf("domain %s is %s (%s) while waiting for %s", domain, st.State, st.Reason, waiting)
	if st.State == "paused" || st.State == "crashed" {
		msg += "; on a hypervisor whose KVM cannot run this kernel, set virt_type = \"qemu\" in the hypervisor block"
	}
	return errors.New(msg + consoleSuffix(ctx, hv, domain))
}

func consoleSuffix(ctx context.Context, hv GuestLife, domain string) string {
	tail := hv.ConsoleTail(ctx, domain, consoleLines)
	if tail == "" {
		return ""
	}
	return "\nlast lines of the serial console:\n" + indent(tail)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// waitAddress polls the domain until one of its interfaces has leased an
// address, failing at once if the domain stops running.
func (a *applier) waitAddress(ctx context.Context, hv Hypervisor, domain, mac string) (string, error) {
	deadline := time.Now().Add(a.opts.BootTimeout)
	var last DomainStatus
	var lastErr error
	for {
		st, err := hv.DomainStatus(ctx, domain)
		switch {
		case err != nil:
			lastErr = err
		case stuck(st):
			return "", a.bootFailure(ctx, hv, domain, st, "an address")
		case st.LeaseOf(mac) != "":
			return st.LeaseOf(mac), nil
		default:
			last = st
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no DHCP lease for %s (MAC %s) after %s; last state %q, last error %v%s",
				domain, mac, a.opts.BootTimeout, last.State, lastErr, consoleSuffix(ctx, hv, domain))
		}
		if err := sleep(ctx, a.opts.PollInterval); err != nil {
			return "", fmt.Errorf("waiting for an address of %s: %w", domain, err)
		}
	}
}

// waitSSH dials until the host answers with the pinned key. A different
// key fails at once; so does a domain that stops running.
func (a *applier) waitSSH(ctx context.Context, hv Hypervisor, domain string, t sshx.Target) (Guest, error) {
	deadline := time.Now().Add(a.opts.BootTimeout)
	var lastErr error
	for {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		g, err := a.opts.Dial(dctx, t)
		cancel()
		if err == nil {
			return g, nil
		}
		if errors.Is(err, sshx.ErrHostKeyMismatch) {
			return nil, err
		}
		lastErr = err
		if st, serr := hv.DomainStatus(ctx, domain); serr == nil && stuck(st) {
			return nil, a.bootFailure(ctx, hv, domain, st, "SSH")
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("SSH to %s at %s did not answer within %s; last error: %v%s",
				domain, t.Addr, a.opts.BootTimeout, lastErr, consoleSuffix(ctx, hv, domain))
		}
		if err := sleep(ctx, a.opts.PollInterval); err != nil {
			return nil, fmt.Errorf("waiting for SSH on %s (last error: %v): %w", t.Addr, lastErr, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error { return poll.Sleep(ctx, d) }

// KVMQuery adapts a hypervisor's QMP query-kvm for the verifier.
func KVMQuery(hv GuestLife, domain string) verify.KVMQuery {
	return func(ctx context.Context) (bool, bool, error) {
		k, err := hv.QueryKVM(ctx, domain)
		return k.Enabled, k.Present, err
	}
}
