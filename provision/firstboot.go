package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fjord-dev/fjord/sshx"
	"github.com/fjord-dev/fjord/verify"
)

// firstBootMarker separates cloud-init's result from the end of its
// output log in what waitFirstBoot's command prints.
const firstBootMarker = "@@fjord-first-boot-log"

// firstBootWait waits, in a shell loop on the host, for cloud-init's
// result file (written when its last stage ends) and prints it; when the
// result names errors it prints the end of cloud-init's output log too,
// which holds what fjord's setup script said. It does not use cloud-init's
// own `status --wait`: that is a Python process polling beside the boot it
// waits for, and on a host without hardware virtualization it cost the
// first boot about as much CPU as a stage of cloud-init itself.
// On a host whose cloud-init is off (fjord sealed it after its first boot:
// a guest restarted for a memory change, say) there is nothing to wait for
// and it prints firstBootSealed. Exit 3: cloud-init is not installed.
var firstBootWait = firstBootScript("")

// firstBootScript is firstBootWait with every path under root (a test's
// directory; "" on a host).
func firstBootScript(root string) string {
	return strings.NewReplacer("@R", root, "@M", firstBootMarker, "@S", firstBootSealed).Replace(`command -v cloud-init >/dev/null 2>&1 || { echo "cloud-init is not installed in this image"; exit 3; }
while [ ! -e @R/run/cloud-init/result.json ]; do
  if [ ! -e @R/run/cloud-init/enabled ] || [ -e @R/etc/cloud/cloud-init.disabled ]; then echo @S; exit 0; fi
  sleep 0.5
done
cat @R/run/cloud-init/result.json
if ! grep -q '"errors": \[\]' @R/run/cloud-init/result.json; then echo @M; tail -n 20 @R/var/log/cloud-init-output.log 2>/dev/null || true; fi`)
}

// firstBootSealed is what the wait prints on a host whose cloud-init does
// not run at this boot.
const firstBootSealed = "@@fjord-cloud-init-off"

// cloudInitResult is /run/cloud-init/result.json.
type cloudInitResult struct {
	V1 *struct {
		Datasource string   `json:"datasource"`
		Errors     []string `json:"errors"`
	} `json:"v1"`
}

// waitFirstBoot waits for cloud-init to finish on the host and fails with
// its errors, and the end of its output log, when it finished with any. A
// host whose cloud-init is off (sealed) has nothing to wait for, as with
// cloud-init status --wait.
func waitFirstBoot(ctx context.Context, g verify.Runner) error {
	r, err := g.Run(ctx, "sudo -n sh -c "+sshx.Quote(firstBootWait))
	if err != nil {
		return fmt.Errorf("waiting for cloud-init: %w", err)
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("waiting for cloud-init (exit %d): %s", r.ExitCode, sshx.Short(r.Stdout+r.Stderr))
	}
	if strings.TrimSpace(r.Stdout) == firstBootSealed {
		return nil
	}
	doc, log, _ := strings.Cut(r.Stdout, firstBootMarker+"\n")
	var res cloudInitResult
	if err := json.Unmarshal([]byte(doc), &res); err != nil || res.V1 == nil {
		return fmt.Errorf("cloud-init's result is unreadable: %s", sshx.Short(r.Stdout))
	}
	if len(res.V1.Errors) == 0 {
		return nil
	}
	msg := fmt.Sprintf("cloud-init finished with errors:\n%s", indent(strings.Join(res.V1.Errors, "\n")))
	if strings.TrimSpace(log) != "" {
		msg += "\nlast lines of /var/log/cloud-init-output.log:\n" + indent(log)
	}
	return fmt.Errorf("%s", msg)
}
