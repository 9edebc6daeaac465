package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/provision/libvirtd"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2 // plan -detailed-exitcode found changes
)

// app is everything a command may touch outside its arguments, so tests can
// run commands in-process.
type app struct {
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	interactive bool // stdin is a terminal a person can answer on
	// stdoutTerminal: stdout is a terminal, where long waits are shown as
	// live lines.
	stdoutTerminal bool
	getenv         func(string) string
	environ        func() []string
	connect        func(ctx context.Context, h model.Hypervisor) (provision.Hypervisor, error)
	log            *slog.Logger
	// onFlags, when set, sees every command's flag set (shell completion
	// lists a command's flags by running it with -h).
	onFlags func(*flag.FlagSet)
}

// Run executes the command line args and returns the exit code. Errors are
// printed here and nowhere else.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{
		stdin:       os.Stdin,
		stdout:      stdout,
		stderr:      stderr,
		interactive: term.IsTerminal(int(os.Stdin.Fd())),
		// Only when stdout is the process's own: a caller's writer is no terminal.
		stdoutTerminal: stdout == io.Writer(os.Stdout) && term.IsTerminal(int(os.Stdout.Fd())),
		getenv:         os.Getenv,
		environ:        os.Environ,
		connect:        connectHypervisor,
	}
	return a.run(ctx, args)
}

// connectHypervisor opens h: over fjord's own pinned SSH connection when
// its URI goes over SSH, else with libvirt's transport.
func connectHypervisor(ctx context.Context, h model.Hypervisor) (provision.Hypervisor, error) {
	if h.OverSSH() {
		return libvirtd.OpenOverSSH(ctx, h)
	}
	return libvirtd.Open(h.URI)
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		{"validate", "Check the configuration and report every problem", runValidate},
		{"fmt", "Rewrite the configuration files in canonical form (-check: only report)", runFmt},
		{"plan", "Show what apply would change", runPlan},
		{"apply", "Create or update hosts, wait for them and verify them", runApply},
		{"destroy", "Remove every object the project owns", runDestroy},
		{"rebuild", "Replace hosts (one, several or a whole block, rolling) with fresh ones that keep their names, addresses and host keys", runRebuild},
		{"image", "Build golden images (fjord image build [NAME...]) and list the images in pools with their manifests (fjord image list)", runImage},
		{"verify", "Prove that running hosts are hardened as configured", runVerify},
		{"ssh", "Log in to a host (or run a command) with its pinned host key", runSSH},
		{"ssh-config", "Print an OpenSSH config for the hosts, with fjord's known_hosts", runSSHConfig},
		{"output", "Print the created hosts from libvirt's record (-json, or -ansible for an Ansible inventory)", runOutput},
		{"hypervisor-key", "Print the SSH host key a hypervisor presents, to pin in its hypervisor block", runHypervisorKey},
		{"completion", "Print a shell completion script: fjord completion bash|zsh|fish", runCompletion},
		{"version", "Print the version", runVersion},
	}
}

// errSilent marks an error whose message was already printed (diagnostics).
var errSilent = errors.New("reported")

// exitCodeError carries a non-error exit code such as plan's 2.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func (a *app) run(ctx context.Context, args []string) int {
	verbose := false
	for len(args) > 0 && (args[0] == "-v" || args[0] == "--verbose") {
		verbose, args = true, args[1:]
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		a.usage(a.stdout)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	if args[0] == completeCommand {
		_ = runComplete(ctx, a, args[1:])
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, a, args[1:])
		var ec exitCodeError
		switch {
		case err == nil:
			return exitOK
		case errors.As(err, &ec):
			return ec.code
		case errors.Is(err, errSilent):
			return exitError
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		}
		fmt.Fprintf(a.stderr, "Error: %s\n", strings.TrimSpace(err.Error()))
		return exitError
	}
	fmt.Fprintf(a.stderr, "Error: unknown command %q\n\n", args[0])
	a.usage(a.stderr)
	return exitError
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: fjord [-v] COMMAND [options] [DIR]")
	fmt.Fprintln(w, "\nfjord provisions hardened Docker hosts as KVM guests from *.hcl files in DIR (default: .).")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun fjord COMMAND -h for a command's options.")
}

// newFlags builds a command's flag set that reports to stderr.
func (a *app) newFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: fjord %s [options] %s\n\nOptions:\n", name, args)
		fs.PrintDefaults()
	}
	if a.onFlags != nil {
		a.onFlags(fs)
	}
	return fs
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// confirm asks for "yes" on a terminal; without one, -auto-approve is required.
func (a *app) confirm(action string) error {
	if !a.interactive {
		return fmt.Errorf("%s needs confirmation, and standard input is not a terminal: pass -auto-approve", action)
	}
	fmt.Fprintf(a.stdout, "\nDo you want to %s? Only 'yes' will be accepted.\n  Enter a value: ", action)
	var answer string
	if _, err := fmt.Fscanln(a.stdin, &answer); err != nil || answer != "yes" {
		return fmt.Errorf("%s cancelled", action)
	}
	return nil
}
