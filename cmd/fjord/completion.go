package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/fjord-dev/fjord/config"
	"github.com/fjord-dev/fjord/model"
	"github.com/fjord-dev/fjord/provision"
)

// completeCommand is the hidden command the completion scripts call with
// the words typed after "fjord" (the last one being completed); it prints
// one candidate per line, and nothing when the shell should complete
// file names.
const completeCommand = "__complete"

var completionScripts = map[string]string{
	"bash": `# fjord completion for bash: source <(fjord completion bash)
_fjord() {
  local IFS=$'\n'
  COMPREPLY=($(fjord ` + completeCommand + ` "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _fjord fjord
`,
	"zsh": `#compdef fjord
# fjord completion for zsh: source <(fjord completion zsh)
_fjord() {
  local -a c
  c=("${(@f)$(fjord ` + completeCommand + ` "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -n "${c[1]}" ]]; then compadd -- "${c[@]}"; else _files; fi
}
compdef _fjord fjord
`,
	"fish": `# fjord completion for fish: fjord completion fish | source
complete -c fjord -a '(fjord ` + completeCommand + ` (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`,
}

func runCompletion(_ context.Context, a *app, args []string) error {
	fs := a.newFlags("completion", "bash|zsh|fish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	script, ok := completionScripts[fs.Arg(0)]
	if fs.NArg() != 1 || !ok {
		return errors.New("name the shell: fjord completion bash, zsh or fish")
	}
	fmt.Fprint(a.stdout, script)
	return nil
}

// hostCommands take host names as arguments.
var hostCommands = map[string]bool{"ssh": true, "rebuild": true, "verify": true}

// complete returns the candidates for the last of words (the words after
// "fjord"): commands, a command's flags, or host names of the
// configuration (with -target and -replace as host.NAME).
func complete(words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	if len(words) == 1 {
		var out []string
		for _, c := range commands() {
			out = append(out, c.name)
		}
		return withPrefix(out, cur)
	}
	cmd, prev := words[0], words[len(words)-2]
	switch {
	case prev == "-target" || prev == "-replace":
		var out []string
		for _, n := range hostNames(configDir(words)) {
			out = append(out, "host."+n)
		}
		return withPrefix(out, cur)
	case prev == "-dir" || prev == "-var-file" || prev == "-out" || prev == "-junit":
		return nil // a file or directory: the shell's own completion
	case strings.HasPrefix(cur, "-"):
		return withPrefix(flagsOf(cmd), cur)
	case hostCommands[cmd]:
		return withPrefix(hostNames(configDir(words)), cur)
	}
	return nil
}

func withPrefix(all []string, prefix string) []string {
	var out []string
	for _, s := range all {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// flagsOf lists a command's flags by running it with -h in an app that
// prints nowhere and reaches no hypervisor.
func flagsOf(name string) []string {
	var seen *flag.FlagSet
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
		getenv: func(string) string { return "" }, environ: func() []string { return nil },
		connect: func(context.Context, model.Hypervisor) (provision.Hypervisor, error) {
			return nil, errors.New("completion reaches no hypervisor")
		},
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		onFlags: func(fs *flag.FlagSet) { seen = fs },
	}
	for _, c := range commands() {
		if c.name == name {
			_ = c.run(context.Background(), a, []string{"-h"})
		}
	}
	if seen == nil {
		return nil
	}
	var out []string
	seen.VisitAll(func(f *flag.Flag) { out = append(out, "-"+f.Name) })
	return out
}

// configDir is the configuration directory the words name: -dir's
// value, else a positional word that is a directory, else ".".
func configDir(words []string) string {
	for i := 1; i < len(words)-1; i++ {
		if words[i] == "-dir" && i+1 < len(words)-1 {
			return words[i+1]
		}
	}
	for i := 1; i < len(words)-1; i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") || takesValue(words[i-1]) {
			continue
		}
		if fi, err := os.Stat(w); err == nil && fi.IsDir() {
			return w
		}
	}
	return "."
}

func takesValue(flagName string) bool {
	switch flagName {
	case "-var", "-var-file", "-target", "-replace", "-dir", "-out", "-junit", "-parallelism", "-boot-timeout", "-shutdown-timeout":
		return true
	}
	return false
}

// hostNames are the host names of the configuration in dir, as far as it
// decodes (a configuration being written need not be valid).
func hostNames(dir string) []string {
	res, _ := config.Load(dir, config.Options{})
	if res == nil || res.Partial == nil {
		return nil
	}
	var out []string
	for _, h := range res.Partial.Hosts {
		out = append(out, h.Name)
	}
	sort.Strings(out)
	return out
}

// runComplete prints complete's candidates, one per line.
func runComplete(_ context.Context, a *app, args []string) error {
	for _, c := range complete(args) {
		fmt.Fprintln(a.stdout, c)
	}
	return nil
}
