package provision

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ReasonCode says what kind of reason a Reason is.
type ReasonCode string

// The reasons a plan gives.
const (
	// ReasonAbsent: no object of this name exists on Object (a
	// hypervisor), or no domain Object exists.
	ReasonAbsent ReasonCode = "absent"
	// ReasonExists: the object exists; Owned says whether fjord made it.
	ReasonExists ReasonCode = "exists"
	// ReasonImported: the image is in its pool as volume Object.
	ReasonImported ReasonCode = "imported"
	// ReasonImport: the image is to be imported into pool Field as Object.
	ReasonImport ReasonCode = "import"
	// ReasonKeptImage: an imported image (Object, in pool Field) no host
	// uses now is kept while its image and pool are configured.
	ReasonKeptImage ReasonCode = "kept-image"
	// ReasonBuild: the golden image is to be built from image Old into
	// pool Field as Object (New "unfinished": an earlier build did not
	// finish and is started again).
	ReasonBuild ReasonCode = "build"
	// ReasonBuilt: the golden image is built, as volume Object.
	ReasonBuilt ReasonCode = "built"
	// ReasonReplaceRequested: -replace named the host.
	ReasonReplaceRequested ReasonCode = "replace-requested"
	// ReasonNotConfigured: the host is no longer in the configuration.
	ReasonNotConfigured ReasonCode = "not-configured"
	// ReasonNoLongerUsed: a volume the project (Object) owns is unused.
	ReasonNoLongerUsed ReasonCode = "no-longer-used"
	// ReasonOrphaned: a pool or network fjord created left the configuration.
	ReasonOrphaned ReasonCode = "orphaned"
	// ReasonChanged: Field is Old in the recorded state and New in the
	// configuration; Effect says what that forces.
	ReasonChanged ReasonCode = "changed"
	// ReasonEditedOutside: Field was changed outside fjord to Old; it is
	// restored to New in place.
	ReasonEditedOutside ReasonCode = "edited-outside"
	// ReasonVolumeMissing: the host's root disk volume Object is gone.
	ReasonVolumeMissing ReasonCode = "volume-missing"
	// ReasonShutOff: the domain is shut off and is to be started.
	ReasonShutOff ReasonCode = "shut-off"
	// ReasonState: the domain is in state Object, which only a new guest mends.
	ReasonState ReasonCode = "state"
	// ReasonUnsealed: provisioning stopped before verification (the seed
	// is still there): wait for the host, verify and seal it.
	ReasonUnsealed ReasonCode = "unsealed"
	// ReasonMatches: the host runs and matches the configuration.
	ReasonMatches ReasonCode = "matches"
	// ReasonPlaced: a new host goes to hypervisor Object, chosen among
	// Candidates (each with the hosts of the block it had).
	ReasonPlaced ReasonCode = "placed"
	// ReasonHostBridge: the network is the hypervisor's existing bridge
	// Object, which guests are attached to and fjord never changes.
	ReasonHostBridge ReasonCode = "host-bridge"
)

// Candidate is a hypervisor placement considered, with the hosts of the
// block it had then.
type Candidate struct {
	Hypervisor string `json:"hypervisor"`
	Hosts      int    `json:"hosts"`
}

func placedReason(p Placement) Reason {
	r := Reason{Code: ReasonPlaced, Object: p.Hypervisor}
	for i, hv := range p.Candidates {
		r.Candidates = append(r.Candidates, Candidate{Hypervisor: hv, Hosts: p.Load[i]})
	}
	return r
}

// Effect is what a changed field forces.
type Effect string

// The effects of a change.
const (
	EffectReplace  Effect = "replace"  // a new guest
	EffectRestart  Effect = "restart"  // in place, the guest restarted
	EffectInPlace  Effect = "in-place" // in place, the guest left running
	EffectMetadata Effect = "metadata" // fjord's metadata only
	// EffectRefused: fjord will not make the change (a disk would shrink).
	EffectRefused Effect = "refused"
)

// Reason is one reason of a change, as data. Which fields are set depends
// on Code; String renders it for people.
type Reason struct {
	Code   ReasonCode `json:"code"`
	Field  string     `json:"field,omitempty"`
	Old    string     `json:"old,omitempty"`
	New    string     `json:"new,omitempty"`
	Effect Effect     `json:"effect,omitempty"`
	Object string     `json:"object,omitempty"`
	Owned  bool       `json:"owned,omitempty"`
	// Candidates are the hypervisors a placement chose among.
	Candidates []Candidate `json:"candidates,omitempty"`
	// Part is the in-place file an EffectInPlace change writes.
	Part string `json:"part,omitempty"`
}

// String is the reason in the words the plan shows. It is for display
// only: nothing decides on it.
func (r Reason) String() string {
	switch r.Code {
	case ReasonAbsent:
		if r.Field == "" {
			return "no domain " + r.Object
		}
		return fmt.Sprintf("no %s of this name on %s", r.Field, r.Object)
	case ReasonExists:
		if r.Owned {
			return "exists (created by fjord)"
		}
		return "exists (not created by fjord: used as it is, never changed or deleted)"
	case ReasonImported:
		return "imported as " + r.Object
	case ReasonImport:
		return "import into pool " + r.Field + " as " + r.Object
	case ReasonKeptImage:
		return "imported as " + r.Object + "; kept while the image and pool " + r.Field + " are configured"
	case ReasonBuild:
		s := "build from image " + r.Old + " into pool " + r.Field + " as " + r.Object + " (a builder guest installs Docker and the hardening, then is sealed)"
		if r.New == "unfinished" {
			s += "; an earlier build did not finish: it is removed and built again"
		}
		return s
	case ReasonBuilt:
		return "built as " + r.Object
	case ReasonReplaceRequested:
		return "replacement requested with -replace"
	case ReasonNotConfigured:
		return "not in the configuration"
	case ReasonNoLongerUsed:
		return "owned by " + r.Object + " and no longer used"
	case ReasonOrphaned:
		return "created by fjord and no longer in the configuration"
	case ReasonChanged:
		var s string
		switch {
		case r.Old == "" && r.New == "":
			s = r.Field + " changed"
		default:
			s = fmt.Sprintf("%s: %s → %s", r.Field, orNone(r.Old), orNone(r.New))
		}
		switch r.Effect {
		case EffectRestart:
			s += " (in place, restarts the guest)"
		case EffectInPlace:
			if r.Object != "" {
				s += " (in place: " + r.Object + ")"
			} else {
				s += " (in place)"
			}
		case EffectMetadata:
			s += " (metadata only)"
		case EffectRefused:
			s += " (refused: " + r.Object + ")"
		}
		if r.Field == "user-data" {
			s += " (cloud-init only runs on first boot)"
		}
		return s
	case ReasonEditedOutside:
		return fmt.Sprintf("%s: %s, changed outside fjord → %s (in place, restarts the guest)", r.Field, r.Old, r.New)
	case ReasonVolumeMissing:
		return "root disk volume " + r.Object + " is missing"
	case ReasonShutOff:
		return "domain is shut off: start it"
	case ReasonState:
		return "domain is " + r.Object
	case ReasonUnsealed:
		return "provisioning did not finish (its seed is still there): wait for it, verify and seal it"
	case ReasonMatches:
		return "running, matches the configuration"
	case ReasonHostBridge:
		return "host bridge " + r.Object + " (attached to, never created, changed or deleted)"
	case ReasonPlaced:
		var cs []string
		for _, c := range r.Candidates {
			cs = append(cs, fmt.Sprintf("%s %d", c.Hypervisor, c.Hosts))
		}
		return fmt.Sprintf("placed on %s: fewest hosts of its block with room (%s)", r.Object, strings.Join(cs, ", "))
	}
	return string(r.Code)
}

// MarshalJSON writes the reason with its text, for people reading JSON.
func (r Reason) MarshalJSON() ([]byte, error) {
	type plain Reason
	return json.Marshal(struct {
		plain
		Text string `json:"text"`
	}{plain(r), r.String()})
}

// ReasonTexts renders reasons for display, joined by sep.
func ReasonTexts(rs []Reason, sep string) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, sep)
}

// Refusal is a change the plan may not make: a protected host would be
// replaced or deleted, for Reasons, or (Shrink) a disk would shrink.
type Refusal struct {
	Host    string   `json:"host"`
	Action  Action   `json:"action"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Shrink: Reasons are the disks that would get smaller.
	Shrink bool `json:"shrink,omitempty"`
}

// String is the refusal in the words the plan shows.
func (r Refusal) String() string {
	if r.Shrink {
		return fmt.Sprintf("host %q: %s; fjord never shrinks a disk (the filesystem on it would be cut): keep the size, or replace the host (fjord rebuild %s) to make it anew with the smaller disk",
			r.Host, ReasonTexts(r.Reasons, "; "), r.Host)
	}
	return fmt.Sprintf("host %q is protected (protect = true) and would be %sd (%s); set protect = false and apply that first",
		r.Host, map[Action]string{Replace: "replace", Delete: "delete"}[r.Action], ReasonTexts(r.Reasons, "; "))
}
