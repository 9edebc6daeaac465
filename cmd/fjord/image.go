package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/fjord-dev/fjord/provision"
)

// runImage dispatches fjord image build and fjord image list.
func runImage(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return errors.New("fjord image build [NAME...] | fjord image list")
	}
	switch args[0] {
	case "build":
		return runImageBuild(ctx, a, args[1:])
	case "list":
		return runImageList(ctx, a, args[1:])
	}
	return fmt.Errorf("unknown image command %q: fjord image build [NAME...] | fjord image list", args[0])
}

// runImageBuild builds the golden images named (all of them without a
// name) in the pools their hosts use, and nothing else; an image whose
// recipe is built already is left as it is.
func runImageBuild(ctx context.Context, a *app, args []string) error {
	var f applyFlags
	fs := a.newFlags("image build", "[-dir DIR] [NAME...]")
	f.register(fs)
	fs.StringVar(&f.dir, "dir", ".", "the configuration directory")
	fs.DurationVar(&f.bootTimeout, "boot-timeout", 10*time.Minute, "how long each wait may take (a build may take three times as long)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := a.load(&f.configFlags, true)
	if err != nil {
		return err
	}
	names := fs.Args()
	for _, n := range names {
		im, ok := cfg.Image(n)
		if !ok || im.Build == nil {
			return fmt.Errorf("no image %q with a build block in %s; nothing was built", n, f.dir)
		}
	}
	used := false
	for _, im := range cfg.Images {
		if im.Build == nil || len(names) > 0 && !slices.Contains(names, im.Name) {
			continue
		}
		for _, h := range cfg.Hosts {
			used = used || h.Image == im.Name
		}
	}
	if !used {
		return errors.New("no host uses the images to build, so no pool is named to build them in; nothing was built")
	}
	if len(names) == 0 {
		names = []string{"*"}
	}
	opts := provision.PlanOptions{Images: names}
	s, plan, d, err := a.makePlan(ctx, &f.configFlags, false, opts)
	if err != nil {
		return err
	}
	defer s.close()
	return a.execute(ctx, &f, s, plan, d, execution{question: "build these images", planOptions: opts})
}

// imageRow is one image volume in a pool, with a built image's manifest.
type imageRow struct {
	Image      string              `json:"image"`
	Hypervisor string              `json:"hypervisor"`
	Pool       string              `json:"pool"`
	Volume     string              `json:"volume"`
	Built      bool                `json:"built"`
	Manifest   *provision.Manifest `json:"manifest,omitempty"`
	Error      string              `json:"error,omitempty"`
}

// runImageList lists the configured images present in pools, with what a
// built one holds (its manifest).
func runImageList(ctx context.Context, a *app, args []string) error {
	var f planFlags
	fs := a.newFlags("image list", "[-json] [DIR]")
	f.register(fs)
	fs.BoolVar(&f.json, "json", false, "print the images as JSON")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	s, _, d, err := a.makePlan(ctx, &f.configFlags, false, provision.PlanOptions{})
	if err != nil {
		return err
	}
	defer s.close()
	cfg := d.Config
	var rows []imageRow
	for _, hvName := range slices.Sorted(maps.Keys(s.invs)) {
		for _, vs := range s.invs[hvName].Volumes {
			for _, im := range cfg.Images {
				if vs.Name != provision.ImageVolume(cfg.Project, im.Name, im.SHA256, im.Format) {
					continue
				}
				r := imageRow{Image: im.Name, Hypervisor: hvName, Pool: vs.Pool, Volume: vs.Name, Built: im.Build != nil}
				if im.Build != nil {
					if m, err := provision.ReadManifest(ctx, s.hvs[hvName], cfg.Project, vs.Pool, im); err != nil {
						r.Error = "no manifest: " + err.Error()
					} else {
						r.Manifest = &m
					}
				}
				rows = append(rows, r)
			}
		}
	}
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"project": cfg.Project, "images": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintf(a.stdout, "No image of project %q is in a pool yet.\n", cfg.Project)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tHYPERVISOR\tPOOL\tKIND\tKERNEL\tDOCKER\tCLOUD-INIT\tPACKAGES\tBUILT")
	for _, r := range rows {
		kind, kernel, docker, ci, pk, built := "imported", "-", "-", "-", "-", "-"
		if r.Built {
			kind = "built"
		}
		if m := r.Manifest; m != nil {
			kernel, docker, ci, pk = m.Kernel, m.Docker, m.CloudInit, fmt.Sprint(len(m.Packages))
			built = fmt.Sprintf("%s in %.0fs", m.Built.Format(time.RFC3339), m.Seconds)
		} else if r.Error != "" {
			built = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Image, r.Hypervisor, r.Pool, kind, kernel, docker, ci, pk, built)
	}
	return tw.Flush()
}
