package provision

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/fjord-dev/fjord/config"
)

// FuzzAcceptedConfigurationsPlan: every configuration the loader accepts
// is prepared and planned without an error against hypervisors that hold
// nothing yet, and the plan creates each of its hosts. Seeded with every
// fixture of the config package (those that fail to load check nothing).
func FuzzAcceptedConfigurationsPlan(f *testing.F) {
	files, _ := filepath.Glob("../config/testdata/*/*.hcl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	accepted := 0
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		res, diags := config.Load(dir, config.Options{Env: map[string]string{"admin_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 ops"}})
		if diags.HasErrors() {
			return
		}
		accepted++
		d, err := Prepare(res.Config, "test")
		if err != nil {
			t.Fatalf("accepted configuration not prepared: %v\n%s", err, src)
		}
		actual := map[string]*Inventory{}
		for _, h := range res.Config.Hypervisors {
			actual[h.Name] = &Inventory{}
		}
		plan := MakePlan(d, actual, PlanOptions{})
		created := map[string]bool{}
		for _, c := range plan.Changes {
			if c.Kind == "host" && c.Action == Create {
				created[c.Name] = true
			}
		}
		for _, h := range res.Config.Hosts {
			if !created[h.Name] {
				t.Errorf("host %s is not created by the plan of an empty hypervisor:\n%+v", h.Name, plan.Changes)
			}
		}
	})
	// Run over the seeds alone (not fuzzing), the valid fixtures must have
	// been accepted, or the property was checked on nothing.
	if fl := flag.Lookup("test.fuzz"); fl != nil && fl.Value.String() == "" && accepted < 4 {
		f.Errorf("only %d fixtures accepted", accepted)
	}
}
