package main

import (
	"context"
	"fmt"
)

func runValidate(_ context.Context, a *app, args []string) error {
	var c configFlags
	fs := a.newFlags("validate", "[DIR]")
	c.register(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, err := a.load(&c, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "The configuration is valid: project %q, %d host(s), %d pool(s), %d network(s), %d image(s).\n",
		cfg.Project, len(cfg.Hosts), len(cfg.Pools), len(cfg.Networks), len(cfg.Images))
	return nil
}
