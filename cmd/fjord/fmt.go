package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fjord-dev/fjord/config"
)

// exitUnformatted is fmt -check's exit code when a file is not in
// canonical form (as terraform fmt -check).
const exitUnformatted = 3

type fmtFlags struct {
	check bool
}

// runFmt rewrites the configuration files of DIR in canonical form and
// names each file it changed; -check changes nothing and fails when a
// file would change.
func runFmt(_ context.Context, a *app, args []string) error {
	var f fmtFlags
	fs := a.newFlags("fmt", "[-check] [DIR]")
	fs.BoolVar(&f.check, "check", false, "change nothing; list the files not in canonical form and exit 3 if there are any")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := "."
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		return errors.New("fjord fmt takes one directory")
	}
	files, res, diags := config.FormatFiles(dir)
	if len(diags) > 0 {
		res.WriteDiagnostics(a.stderr, diags)
	}
	if diags.HasErrors() {
		return errSilent // nothing is rewritten while a file does not parse
	}
	if len(files) == 0 {
		return fmt.Errorf("%s holds no *.hcl or *.fjordvars files", dir)
	}
	unformatted := 0
	for _, file := range files {
		if !file.Changed {
			continue
		}
		unformatted++
		fmt.Fprintln(a.stdout, file.Path)
		if f.check {
			continue
		}
		if err := writeAtomically(file.Path, file.Formatted); err != nil {
			return err
		}
	}
	if f.check && unformatted > 0 {
		return exitCodeError{exitUnformatted}
	}
	return nil
}

// writeAtomically replaces path with b, keeping its mode: a reader sees
// the old file or the new one, never half of either.
func writeAtomically(path string, b []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".fmt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
