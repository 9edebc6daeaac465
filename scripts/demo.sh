#!/usr/bin/env bash
# Provisions the shipped example (examples/demo): one hardened Docker host on
# an isolated network, verified over SSH with a host key fjord pinned.
#
#   scripts/demo.sh           apply the example
#   scripts/demo.sh destroy   remove everything it created
#
# Env: FJORD_IMAGE  a Debian bookworm cloud image with cloud-init and
#                   Docker (qcow2); default: build one locally with debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=/var/lib/fjord/demo
ns=fjord
mkdir -p "$state"
chmod 700 "$state"

bash scripts/install-deps.sh
bash scripts/libvirtd.sh start "$ns"
make -s build

vars="$state/demo.fjordvars"
if [[ "${1:-apply}" == destroy ]]; then
  if [[ ! -f "$vars" ]]; then
    echo "nothing to destroy: $vars does not exist" >&2
    exit 0
  fi
  exec ip netns exec "$ns" "$root/bin/fjord" destroy -auto-approve -var-file "$vars" examples/demo
fi

image=${FJORD_IMAGE:-}
if [[ -z "$image" ]]; then
  echo "building the local guest image (about 4 minutes the first time, cached afterwards)…"
  image=$(bash e2e/scripts/build-image.sh)
fi
[[ -f "$state/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C fjord-demo -f "$state/id_ed25519"

# Hardware virtualization only where KVM can really run a guest kernel: a
# PVM /dev/kvm (kvm_pvm) or a CPU without vmx/svm gets software emulation.
virt=kvm
waivers='{}'
if [[ ! -e /dev/kvm || -d /sys/module/kvm_pvm ]] || ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
  virt=qemu
  why="software emulation: this machine cannot run guests under KVM"
  waivers="{ \"guest.kvm\" = \"$why\", \"host.kvm\" = \"$why\" }"
  echo "KVM cannot boot stock guest kernels here: using software emulation (virt_type = \"qemu\")"
fi
cat >"$vars" <<VARS
image_path           = "$image"
image_sha256         = "$(sha256sum "$image" | cut -d' ' -f1)"
ssh_public_key       = "$(cat "$state/id_ed25519.pub")"
ssh_private_key_file = "$state/id_ed25519"
virt_type            = "$virt"
waivers              = $waivers
VARS

ip netns exec "$ns" "$root/bin/fjord" apply -auto-approve -var-file "$vars" examples/demo

cat <<MSG

The host runs inside network namespace "$ns" (guests have no other network). fjord added it
to ~/.ssh/config (as demo-docker, with the host key it pinned) and to Docker as a context:
  ip netns exec $ns ssh demo-docker
  ip netns exec $ns docker --context demo-docker ps
  ip netns exec $ns $root/bin/fjord verify -var-file $vars -dir examples/demo
To remove everything the demo created:
  make demo-destroy
MSG
