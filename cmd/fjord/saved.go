package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/fjord-dev/fjord/provision"
)

// savedPlan is what plan -out writes and apply FILE executes. It records how
// the configuration was read, a digest of the desired state, and the plan.
// It may hold -var values, so it is written readable by its owner only.
type savedPlan struct {
	Format   int                   `json:"format"`
	Dir      string                `json:"dir"`
	Vars     []string              `json:"vars,omitempty"`
	VarFiles []string              `json:"var_files,omitempty"`
	Options  provision.PlanOptions `json:"options"`
	Desired  string                `json:"desired_sha256"`
	Plan     *provision.Plan       `json:"plan"`
}

// savedPlanFormat 2: reasons and refusals are data, not sentences.
const savedPlanFormat = 2

// desiredDigest fingerprints the prepared desired state.
func desiredDigest(d *provision.Desired) string {
	b, _ := json.Marshal(struct {
		Config any
		Hosts  []provision.HostMeta
	}{d.Config, metas(d)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func metas(d *provision.Desired) []provision.HostMeta {
	out := make([]provision.HostMeta, len(d.Hosts))
	for i, h := range d.Hosts {
		out[i] = h.Meta
	}
	return out
}

func writeSavedPlan(path string, c *configFlags, opts provision.PlanOptions, d *provision.Desired, p *provision.Plan) error {
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return err
	}
	var files []string
	for _, f := range c.varFiles {
		af, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		files = append(files, af)
	}
	b, err := json.MarshalIndent(savedPlan{Format: savedPlanFormat, Dir: dir, Vars: c.vars, VarFiles: files,
		Options: opts, Desired: desiredDigest(d), Plan: p}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}

func readSavedPlan(path string) (*savedPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read saved plan: %w", err)
	}
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s is not a plan saved by fjord plan -out", path)
	}
	if head.Format != savedPlanFormat {
		return nil, fmt.Errorf("%s was saved by another fjord version (format %d, this fjord reads %d); plan again", path, head.Format, savedPlanFormat)
	}
	var sp savedPlan
	if err := json.Unmarshal(b, &sp); err != nil || sp.Plan == nil {
		return nil, fmt.Errorf("%s is not a plan saved by fjord plan -out", path)
	}
	return &sp, nil
}

// planDrift renders the changes that differ between the saved and the
// current plan, one line each.
func planDrift(saved, now *provision.Plan) []string {
	diffs, refusals := provision.Diff(saved, now)
	var out []string
	for _, d := range diffs {
		switch {
		case d.Now == nil:
			out = append(out, fmt.Sprintf("%s.%s: saved %s, now nothing to do", d.Kind, d.Name, d.Was.Action))
		case d.Was == nil:
			out = append(out, fmt.Sprintf("%s.%s: not in the saved plan, now %s", d.Kind, d.Name, d.Now.Action))
		default:
			out = append(out, fmt.Sprintf("%s.%s: saved %s (%s), now %s (%s)", d.Kind, d.Name, d.Was.Action, provision.ReasonTexts(d.Was.Reasons, "; "), d.Now.Action, provision.ReasonTexts(d.Now.Reasons, "; ")))
		}
	}
	if refusals {
		out = append(out, fmt.Sprintf("refusals: saved %d, now %d", len(saved.Refused), len(now.Refused)))
	}
	sort.Strings(out)
	return out
}
