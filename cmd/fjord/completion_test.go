package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestCompleteCommandsFlagsAndHosts(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  []string // all present
		not   []string // none present
	}{
		{[]string{"re"}, []string{"rebuild"}, []string{"plan"}},
		{[]string{"plan", "-"}, []string{"-target", "-replace", "-detailed-exitcode", "-var-file"}, []string{"-auto-approve"}},
		{[]string{"apply", "-auto"}, []string{"-auto-approve"}, nil},
		{[]string{"ssh", "-dir", "testdata/testdriver", "w"}, []string{"web-0", "web-1"}, nil},
		{[]string{"plan", "testdata/testdriver", "-target", ""}, []string{"host.web-0", "host.web-1"}, nil},
		{[]string{"plan", "-var-file", ""}, nil, []string{"host.web-0", "-target"}},
	} {
		got := complete(tc.words)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("complete(%q) = %q, lacks %q", tc.words, got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("complete(%q) = %q, has %q", tc.words, got, w)
			}
		}
	}
}

// The hidden command answers through the CLI as the scripts call it, and
// is not listed among the commands.
func TestCompletionScripts(t *testing.T) {
	a, out, _ := testApp("")
	if code := a.run(context.Background(), []string{completeCommand, "ssh", "-dir", "testdata/testdriver", ""}); code != exitOK || out.String() != "web-0\nweb-1\n" {
		t.Errorf("%s: exit %d, %q", completeCommand, code, out)
	}
	a, out, _ = testApp("")
	a.run(context.Background(), []string{"help"})
	if strings.Contains(out.String(), completeCommand) || !strings.Contains(out.String(), "completion") {
		t.Errorf("usage:\n%s", out)
	}
	for shell := range completionScripts {
		a, out, errb := testApp("")
		if code := a.run(context.Background(), []string{"completion", shell}); code != exitOK || !strings.Contains(out.String(), completeCommand) {
			t.Errorf("completion %s: exit %d %s", shell, code, errb)
		}
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("no %s here: its script's syntax is not checked", shell)
			continue
		}
		if b, err := exec.Command(shell, "-n", "-c", out.String()).CombinedOutput(); err != nil {
			t.Errorf("%s -n rejects the script: %v %s", shell, err, b)
		}
	}
}
