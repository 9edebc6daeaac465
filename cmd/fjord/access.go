package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// After apply, every host can be reached as `ssh PROJECT-HOST` and
// `docker --context PROJECT-HOST …`: fjord keeps an OpenSSH config per
// project in ~/.ssh/fjord/, included from ~/.ssh/config, and a Docker
// context per host whose endpoint is ssh://PROJECT-HOST. Destroy removes
// both. The host side needs nothing more: the admin reaches the daemon
// through sudo (fjord's docker wrapper), never through the docker group.

const sshInclude = "Include ~/.ssh/fjord/*.conf"

func sshDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".ssh"), nil
}

// ensureInclude puts fjord's Include line at the top of ~/.ssh/config
// (where it applies to every host), once.
func ensureInclude(dir string) error {
	path := filepath.Join(dir, "config")
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, l := range strings.Split(string(old), "\n") {
		if strings.TrimSpace(l) == sshInclude {
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("# Added by fjord: hosts of fjord projects, as PROJECT-HOST.\n"+sshInclude+"\n\n"), old...), 0o600)
}

// publishAccess writes the project's ssh config and known_hosts and creates
// or updates a Docker context per host. It reports what it could not do
// without failing the apply: the hosts are up either way.
func (a *app) publishAccess(ctx context.Context, s *session, info io.Writer) {
	if err := s.refresh(ctx); err != nil {
		fmt.Fprintf(a.stderr, "Warning: ssh and docker access not set up: %v\n", err)
		return
	}
	hosts := s.pinnedHosts(ctx)
	if len(hosts) == 0 {
		return
	}
	dir, err := sshDir()
	if err == nil {
		err = ensureInclude(dir)
	}
	kh, kerr := knownHostsPath(a.getenv, s.cfg.Project)
	if err == nil {
		err = kerr
	}
	if err == nil {
		err = writeKnownHosts(kh, hosts)
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, "fjord"), 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "fjord", s.cfg.Project+".conf"), []byte(sshConfigText(s.cfg.Project, kh, hosts)), 0o600)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "Warning: ssh access not set up: %v\n", err)
		return
	}
	if _, err := exec.LookPath("docker"); err != nil {
		fmt.Fprintln(info, "No docker CLI here: Docker contexts not created (ssh PROJECT-HOST works).")
		return
	}
	for _, h := range hosts {
		verb := "create"
		if exec.CommandContext(ctx, "docker", "context", "inspect", h.alias).Run() == nil {
			verb = "update"
		}
		out, err := exec.CommandContext(ctx, "docker", "context", verb, h.alias,
			"--description", fmt.Sprintf("fjord host %s of project %s", h.host.Name, s.cfg.Project),
			"--docker", "host=ssh://"+h.alias).CombinedOutput()
		if err != nil {
			fmt.Fprintf(a.stderr, "Warning: docker context %s %s: %v: %s\n", verb, h.alias, err, bytes.TrimSpace(out))
			continue
		}
		fmt.Fprintf(info, "host %s: ssh %s, docker --context %s ps\n", h.host.Name, h.alias, h.alias)
	}
}

// withdrawAccess removes what publishAccess made for the project's hosts.
func (a *app) withdrawAccess(ctx context.Context, s *session) {
	if _, err := exec.LookPath("docker"); err == nil {
		for _, h := range s.cfg.Hosts {
			alias := s.cfg.Project + "-" + h.Name
			if exec.CommandContext(ctx, "docker", "context", "inspect", alias).Run() == nil {
				_ = exec.CommandContext(ctx, "docker", "context", "rm", "-f", alias).Run()
			}
		}
	}
	if dir, err := sshDir(); err == nil {
		_ = os.Remove(filepath.Join(dir, "fjord", s.cfg.Project+".conf"))
	}
	if kh, err := knownHostsPath(a.getenv, s.cfg.Project); err == nil {
		_ = os.Remove(kh)
	}
}
