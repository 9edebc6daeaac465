// Package probe is the report the canary's fjord-probe prints and the
// verifier reads: one definition for both sides. It imports nothing, so the
// static probe stays small.
package probe

// Report is what the probe prints, as one JSON object.
type Report struct {
	UIDMap     string `json:"uid_map"`
	Seccomp    string `json:"seccomp"`
	NoNewPrivs string `json:"no_new_privs"`
	CapEff     string `json:"cap_eff"`
	AppArmor   string `json:"apparmor"`
	UID        int    `json:"uid"`
	RootWrite  string `json:"root_write"` // "refused: …" or "allowed"
}
