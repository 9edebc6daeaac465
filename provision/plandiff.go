package provision

import (
	"reflect"
	"slices"
	"sort"
)

// PlanDifference is one change that differs between two plans of the same
// configuration: Was is the change in the first plan, Now in the second;
// either is nil when that plan has no change for the object.
type PlanDifference struct {
	Kind, Name, Hypervisor string
	Was, Now               *Change
}

// Diff lists, in a stable order, every object whose change differs between
// plans a and b (its action, ownership, pool, in-place flag or reasons), and
// whether their refusals differ. An empty result and false mean applying b
// makes exactly the changes a showed.
func Diff(a, b *Plan) (diffs []PlanDifference, refusalsDiffer bool) {
	key := func(c Change) string { return c.Hypervisor + "/" + c.Kind + "." + c.Name }
	was, now := map[string]*Change{}, map[string]*Change{}
	for i := range a.Changes {
		was[key(a.Changes[i])] = &a.Changes[i]
	}
	for i := range b.Changes {
		now[key(b.Changes[i])] = &b.Changes[i]
	}
	keys := map[string]bool{}
	for k := range was {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		w, n := was[k], now[k]
		if w != nil && n != nil && sameChange(*w, *n) {
			continue
		}
		c := w
		if c == nil {
			c = n
		}
		diffs = append(diffs, PlanDifference{Kind: c.Kind, Name: c.Name, Hypervisor: c.Hypervisor, Was: w, Now: n})
	}
	return diffs, !slices.EqualFunc(a.Refused, b.Refused, func(x, y Refusal) bool {
		return x.Host == y.Host && x.Action == y.Action && slices.EqualFunc(x.Reasons, y.Reasons, sameReason)
	})
}

func sameChange(a, b Change) bool {
	return a.Action == b.Action && a.Owned == b.Owned && a.Pool == b.Pool && a.Reconfigure == b.Reconfigure && slices.Equal(a.InPlace, b.InPlace) &&
		slices.EqualFunc(a.Reasons, b.Reasons, sameReason)
}

func sameReason(a, b Reason) bool { return reflect.DeepEqual(a, b) }
