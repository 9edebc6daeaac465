// Command fjord-authz is fjord's Docker authorization plugin. It listens on
// /run/docker/plugins/fjord-authz.sock, where dockerd discovers plugins by
// name, and judges every API request by the policy fjord wrote for this
// host (/etc/fjord/authz.json). It is built static and reaches the host in
// its cloud-init seed; systemd starts it before docker.service.
//
// It judges host paths as the daemon's mounts will reach them, so it must
// see the filesystem the daemon sees: it refuses to start in a mount
// namespace other than init's, where dockerd runs (a unit with PrivateTmp
// or ProtectHome would give it one, and a /tmp of its own).
//
// Without a readable policy it does not start, and dockerd, which names it
// in daemon.json, then refuses every request: the host fails closed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/fjord-dev/fjord/authz"
)

func main() {
	policyFile := flag.String("policy", "/etc/fjord/authz.json", "the policy fjord wrote for this host")
	socket := flag.String("socket", "/run/docker/plugins/fjord-authz.sock", "where dockerd finds the plugin")
	check := flag.Bool("check", false, "only check the policy file and exit: 0 when the plugin would enforce it")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *check {
		if _, err := readPolicy(*policyFile); err != nil {
			fmt.Fprintln(os.Stderr, "fjord-authz:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*policyFile, *socket, log); err != nil {
		log.Error("fjord-authz stopped", "error", err)
		os.Exit(1)
	}
}

// readPolicy reads and validates the policy the plugin enforces.
func readPolicy(policyFile string) (authz.Policy, error) {
	b, err := os.ReadFile(policyFile)
	if err != nil {
		return authz.Policy{}, err
	}
	var p authz.Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return authz.Policy{}, fmt.Errorf("%s: %w", policyFile, err)
	}
	if probs := p.Validate(); len(probs) > 0 {
		return authz.Policy{}, fmt.Errorf("%s: %v", policyFile, probs)
	}
	return p, nil
}

func run(policyFile, socket string, log *slog.Logger) error {
	p, err := readPolicy(policyFile)
	if err != nil {
		return err
	}
	if err := sameMountNamespace(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return err
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		return err
	}
	srv := &http.Server{Handler: authz.Handler(p, log), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("fjord-authz listening", "socket", socket, "host", p.Host, "relaxed", p.Relaxed)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sameMountNamespace fails unless the plugin shares init's mount
// namespace, which dockerd runs in. It compares the id of the mount at /
// in both mount tables (a namespace of its own copies every mount under
// new ids); /proc/1/ns/mnt itself would need CAP_SYS_PTRACE to read.
func sameMountNamespace() error {
	self, err := rootMountID("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	init, err := rootMountID("/proc/1/mountinfo")
	if err != nil {
		return err
	}
	if self != init {
		return fmt.Errorf("fjord-authz runs in another mount namespace than the daemon's (mount %s at /, init has %s): it would resolve host paths in another filesystem than the one dockerd mounts; start it without PrivateTmp, ProtectHome or other mount sandboxing", self, init)
	}
	return nil
}

func rootMountID(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the mount table: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("%s: no mount at /", file)
}
