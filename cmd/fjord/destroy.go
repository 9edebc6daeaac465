package main

import (
	"context"
	"time"

	"github.com/fjord-dev/fjord/provision"
)

func runDestroy(ctx context.Context, a *app, args []string) error {
	var f applyFlags
	fs := a.newFlags("destroy", "[DIR]")
	f.register(fs)
	if err := f.parse(fs, args); err != nil {
		return err
	}
	f.bootTimeout = time.Minute
	s, plan, d, err := a.makePlan(ctx, &f.configFlags, true, provision.PlanOptions{})
	if err != nil {
		return err
	}
	defer s.close()
	return a.execute(ctx, &f, s, plan, d, execution{question: "destroy every object of project " + s.cfg.Project, destroy: true})
}
