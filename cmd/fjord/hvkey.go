package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/fjord-dev/fjord/sshx"
)

// runHypervisorKey prints the SSH host key a hypervisor presents, to be
// pinned in its hypervisor block: the one deliberate step before fjord
// trusts it. It authenticates nothing and changes nothing.
func runHypervisorKey(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("hypervisor-key", "qemu+ssh://USER@HOST[:PORT]/system | HOST[:PORT]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("name the hypervisor's URI or address: fjord hypervisor-key qemu+ssh://root@hv2/system")
	}
	addr, err := sshAddress(fs.Arg(0))
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	key, err := sshx.ScanHostKey(cctx, addr, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s presents %s\nCheck that fingerprint on the hypervisor (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then pin it:\n\n  host_key = %q\n",
		addr, sshx.Fingerprint(key), key)
	return nil
}

// sshAddress is the host:port an SSH libvirt URI, or a bare address, names.
func sshAddress(s string) (string, error) {
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err == nil {
			return s, nil
		}
		return net.JoinHostPort(s, "22"), nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("%q names no host", s)
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
