package main

import (
	"context"
	"fmt"
	"runtime"
)

func runVersion(_ context.Context, a *app, args []string) error {
	fs := a.newFlags("version", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "fjord %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
