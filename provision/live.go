package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/poll"
	"github.com/fjord-dev/fjord/sshx"
	"github.com/fjord-dev/fjord/verify"
)

// CheckHost runs every verification check on host h of cfg through the
// session s, expecting the daemon.json and firewall its own seed renders.
// It is apply's last phase and fjord verify's whole work.
//
// The host's addresses are then probed from outside with probe (nil: from
// here, or through a remote hypervisor as SSH goes).
//
// sealed says the host's provisioning has finished (cloud-init switched
// off, seed removed), which the AfterSeal checks then prove.
func CheckHost(ctx context.Context, cfg *model.Config, h model.Host, s verify.Session, hv GuestLife, probe verify.DialFunc, sealed bool) ([]verify.Outcome, error) {
	in := SeedInput(cfg, h)
	seed, err := cloudinit.Render(in)
	if err != nil {
		return nil, err
	}
	e := verify.Expect{DaemonJSON: seed.DaemonJSON, Docker: h.Docker, Firewall: in.Firewall,
		User: h.SSH.User, AuthorizedKeys: h.SSH.AuthorizedKeys, Sysctls: h.Sysctls, SSHDOptions: h.SSH.SSHDOptions, Sealed: sealed}
	if probe == nil {
		probe = via(hv)
	}
	var addrs []netip.Addr
	for _, n := range h.NICs {
		if n.IP.IsValid() {
			addrs = append(addrs, n.IP)
		}
	}
	// The probe from outside runs while the host checks itself.
	probed := make(chan []verify.Outcome, 1)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { probed <- verify.Exposure(verify.Probe(pctx, probe, addrs, verify.ProbedPorts(e)), e) }()
	out, err := verify.Host(ctx, s, e, KVMQuery(hv, DomainName(cfg.Project, h.Name)))
	if err != nil {
		return nil, err
	}
	return append(out, <-probed...), nil
}

// CurrentAddress is where the domain answers now on its management
// interface mac: the address libvirt sees leased to it, else reserved (its
// DHCP reservation or static address).
func CurrentAddress(ctx context.Context, hv GuestLife, domain, mac, reserved string) string {
	if st, err := hv.DomainStatus(ctx, domain); err == nil && st.LeaseOf(mac) != "" {
		return st.LeaseOf(mac)
	}
	return reserved
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	Dial    Dialer        // default DialSSH
	Timeout time.Duration // for reaching and checking the host; default 3 minutes
	Probe   verify.DialFunc
}

// Verify checks an existing host of the project: its domain (in inv) must
// be running; it is reached at its current address with the host key
// pinned in its metadata, and CheckHost runs. What kept it from being
// checked at all is the result's Error; the checks are never nil.
func Verify(ctx context.Context, cfg *model.Config, h model.Host, hv GuestLife, inv *Inventory, opts VerifyOptions) HostResult {
	project := cfg.Project
	start := time.Now()
	r := HostResult{Host: h.Name, Hypervisor: h.Hypervisor, User: h.SSH.User, Checks: []verify.Outcome{}}
	fail := func(format string, args ...any) HostResult {
		r.Error = fmt.Sprintf(format, args...)
		r.Seconds = time.Since(start).Seconds()
		return r
	}
	if opts.Dial == nil {
		opts.Dial = DialSSH
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	var meta *HostMeta
	for _, d := range inv.Domains {
		if d.Meta.Host == h.Name {
			meta = &d.Meta
			if d.State != "running" {
				return fail("domain %s is %s; run fjord apply to start it", d.Name, d.State)
			}
		}
	}
	if meta == nil {
		return fail("not created yet; run fjord apply")
	}
	r.HostKey, r.Fingerprint = meta.HostKey, sshx.Fingerprint(meta.HostKey)
	r.Address = CurrentAddress(ctx, hv, DomainName(project, h.Name), meta.MAC, meta.IP)
	key, err := sshx.ReadPrivateKey(h.SSH.PrivateKeyFile)
	if err != nil {
		return fail("%v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	t := sshx.Target{Addr: net.JoinHostPort(r.Address, "22"), User: h.SSH.User, PrivateKey: key, PinnedKey: meta.HostKey, Via: via(hv)}
	g, err := opts.Dial(cctx, t)
	// sshd refuses connections for a moment while it reloads: try twice more.
	for try := 0; err != nil && !errors.Is(err, sshx.ErrHostKeyMismatch) && try < 2 && poll.Sleep(cctx, 2*time.Second) == nil; try++ {
		g, err = opts.Dial(cctx, t)
	}
	if err != nil {
		return fail("ssh: %v", err)
	}
	defer g.Close()
	r.Checks, err = CheckHost(cctx, cfg, h, g, hv, opts.Probe, true)
	if err != nil {
		r.Checks = []verify.Outcome{}
		return fail("%v", err)
	}
	r.Seconds = time.Since(start).Seconds()
	return r
}

// ReadHostKey reads host h's private ed25519 host key at address over a
// connection that accepts only pinnedKey, and checks that the key read is
// the one pinned (rebuild gives the new disk the same identity).
//
// hv is the host's hypervisor: a remote one's guests are reached through it.
func ReadHostKey(ctx context.Context, h model.Host, hv any, address, pinnedKey string, dial Dialer) (sshx.KeyPair, error) {
	key, err := sshx.ReadPrivateKey(h.SSH.PrivateKeyFile)
	if err != nil {
		return sshx.KeyPair{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	g, err := dial(cctx, sshx.Target{Addr: net.JoinHostPort(address, "22"), User: h.SSH.User, PrivateKey: key, PinnedKey: pinnedKey, Via: via(hv)})
	if err != nil {
		return sshx.KeyPair{}, err
	}
	defer g.Close()
	r, err := g.Run(cctx, "sudo -n cat /etc/ssh/ssh_host_ed25519_key")
	if err != nil {
		return sshx.KeyPair{}, err
	}
	if r.ExitCode != 0 {
		return sshx.KeyPair{}, fmt.Errorf("read the host key: %s", sshx.Short(r.Stderr))
	}
	kp, err := sshx.ParseHostKey([]byte(r.Stdout))
	if err != nil {
		return sshx.KeyPair{}, err
	}
	if kp.Public != pinnedKey {
		return sshx.KeyPair{}, fmt.Errorf("the host's key file (%s) is not the pinned key (%s)", sshx.Fingerprint(kp.Public), sshx.Fingerprint(pinnedKey))
	}
	return kp, nil
}
