#!/usr/bin/env bash
# make bench: runs fjord's benchmarks (e2e/bench_test.go) on this machine,
# prints their figures and writes them, with the machine and the date, to
# BENCHMARKS.md. Run as root: it starts libvirtd and boots guests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

run=$(mktemp)
trap 'rm -f "$run"' EXIT
# Go benchmarks first (seconds), then the guests (the e2e harness). The
# guest benchmarks are built with the embedded helpers (make build makes
# them), so that the plan benchmark's seeds hash as fjord's own do.
make -s build
gocmd=(go test -tags seccomp -run '^$' -bench . -benchmem ./authz)
cmd=(go test -tags e2e,helpers -run '^$' -bench . -benchtime 1x -timeout 100m ./e2e)
# A failing benchmark still leaves its figures, and the others', in BENCHMARKS.md.
set +e
echo "+ ${gocmd[*]}" | tee "$run" >&2
"${gocmd[@]}" 2>&1 | tee -a "$run"
status=${PIPESTATUS[0]}
echo "+ ${cmd[*]}" | tee -a "$run" >&2
"${cmd[@]}" 2>&1 | tee -a "$run"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
set -e

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'); status: $([ "$status" = 0 ] && echo passed || echo "FAILED (exit $status)")."
  echo "Regenerate with \`make bench\` (as root; about half an hour). Guests run under"
  echo "software emulation (TCG) here, so compare ratios within one run, not absolute times."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
  echo "- memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; kernel $(uname -r)"
  echo "- $(. /etc/os-release && echo "$PRETTY_NAME"); libvirt $(libvirtd --version | awk '{print $NF}'); $(qemu-system-x86_64 --version | head -1)"
  echo "- $(go version)"
  echo
  echo "## Output"
  echo
  echo "Commands: \`${gocmd[*]}\`, then \`${cmd[*]}\`"
  echo
  echo '```'
  grep -v '^e2e: ' "$run"
  echo '```'
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
exit "$status"
