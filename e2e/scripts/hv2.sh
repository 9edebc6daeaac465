#!/usr/bin/env bash
# A second hypervisor on this machine that is reachable only over SSH, as
# another machine would be: network namespace hv2 (10.77.0.2/30) joined to
# fjord's namespace by a veth pair (10.77.0.1/30 on fjord's side), and a
# mount namespace of its own in which libvirt's directories and
# /var/lib/fjord are its own, with its own virtlogd, libvirtd and sshd.
# A holder process keeps the mount namespace; every daemon is tracked by a
# pid file inside the second hypervisor's own /run/libvirt.
#
# Usage (as root):
#   e2e/scripts/hv2.sh start AUTHORIZED_KEY_FILE   prints the sshd host key line
#   e2e/scripts/hv2.sh stop                        stops everything, removes the state
#   e2e/scripts/hv2.sh sshd-kill                   sshd and every session it serves die
#   e2e/scripts/hv2.sh sshd-start
#   e2e/scripts/hv2.sh virsh ARGS…                 virsh against the second libvirtd
set -euo pipefail
cmd=${1:-}
ns=hv2
peer=${FJORD_NETNS:-fjord}
state=/var/lib/fjord-e2e-hv2
holder_pid=$state/holder.pid
run=/run/libvirt # inside the mount namespace: $state/run

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }
inside() { nsenter -t "$(cat "$holder_pid")" -m -n -- "$@"; }

start_sshd() {
  mkdir -p /run/sshd
  inside /usr/sbin/sshd -f "$state/ssh/sshd_config"
  for _ in $(seq 50); do
    inside bash -c "exec 3<>/dev/tcp/10.77.0.2/22" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "hv2: sshd did not listen on 10.77.0.2:22" >&2
  return 1
}

case "$cmd" in
start)
  key=${2:?usage: $0 start AUTHORIZED_KEY_FILE}
  if alive "$holder_pid"; then
    echo "hv2: already running (holder $(cat "$holder_pid")); $0 stop first" >&2
    exit 1
  fi
  rm -rf "$state"
  mkdir -p "$state"/{run,lib,log,cache,fjord,ssh} "$state/run/libvirt"
  chmod 700 "$state" "$state/ssh"
  # libvirt's configuration without the first daemon's definitions.
  cp -a /etc/libvirt "$state/etc"
  rm -rf "$state/etc/qemu/"*.xml "$state/etc/qemu/autostart" "$state/etc/qemu/networks/"*.xml \
    "$state/etc/qemu/networks/autostart" "$state/etc/storage/"*.xml "$state/etc/storage/autostart"
  # libvirt's state, log and cache trees as the package made them (owners
  # and modes matter to QEMU), without anything the first daemon put there.
  for pair in lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt; do
    src=${pair#*:} dst=$state/${pair%%:*}
    chown --reference="$src" "$dst" && chmod --reference="$src" "$dst"
    (cd "$src" && find . -mindepth 1 -maxdepth 2 -type d ! -name 'domain-*' ! -path './qemu/capabilities') |
      while read -r d; do
        mkdir -p "$dst/$d" && chown --reference="$src/$d" "$dst/$d" && chmod --reference="$src/$d" "$dst/$d"
      done
  done
  install -m 600 "$key" "$state/ssh/authorized_keys"
  ssh-keygen -q -t ed25519 -N '' -C hv2 -f "$state/ssh/host_ed25519_key"
  cat >"$state/ssh/sshd_config" <<CFG
ListenAddress 10.77.0.2
HostKey $state/ssh/host_ed25519_key
AuthorizedKeysFile $state/ssh/authorized_keys
PidFile $run/hv2-sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 100
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
CFG

  ip netns list | grep -qw "^$ns" || ip netns add "$ns"
  ip netns list | grep -qw "^$peer" || ip netns add "$peer"
  ip -n "$peer" link del fj-hv2 2>/dev/null || true
  ip link add fj-hv2 netns "$peer" type veth peer name hv2-fj netns "$ns"
  ip -n "$peer" addr add 10.77.0.1/30 dev fj-hv2
  ip -n "$peer" link set fj-hv2 up
  ip -n "$ns" addr add 10.77.0.2/30 dev hv2-fj
  ip -n "$ns" link set hv2-fj up
  ip -n "$ns" link set lo up

  ip netns exec "$ns" unshare --mount --propagation private bash -c "
    mount --bind $state/run/libvirt /run/libvirt
    mount --bind $state/etc /etc/libvirt
    mount --bind $state/lib /var/lib/libvirt
    mount --bind $state/log /var/log/libvirt
    mount --bind $state/cache /var/cache/libvirt
    mkdir -p /var/lib/fjord && mount --bind $state/fjord /var/lib/fjord
    exec sleep infinity" </dev/null >/dev/null 2>&1 &
  echo $! >"$holder_pid"
  for _ in $(seq 50); do
    [[ "$(readlink "/proc/$(cat "$holder_pid")/exe" 2>/dev/null)" == */sleep ]] && break
    sleep 0.1
  done
  inside virtlogd -d -p "$run/hv2-virtlogd.pid"
  inside libvirtd -d -p "$run/hv2-libvirtd.pid"
  for _ in $(seq 100); do
    inside virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.1
  done
  inside virsh -c qemu:///system version >/dev/null
  start_sshd
  cat "$state/ssh/host_ed25519_key.pub"
  ;;
sshd-kill)
  # The daemon and every session it forked: to fjord, the machine is gone.
  for pid in $(ip netns pids "$ns"); do
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == sshd ]] && kill -9 "$pid" 2>/dev/null || true
  done
  ;;
sshd-start)
  start_sshd
  ;;
virsh)
  shift
  inside virsh -c qemu:///system "$@"
  ;;
stop)
  if alive "$holder_pid"; then
    # Guests first, so nothing of theirs outlives the daemon.
    for d in $(inside virsh -c qemu:///system list --name 2>/dev/null); do
      inside virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
    done
    for f in hv2-sshd hv2-libvirtd hv2-virtlogd; do
      p=$state/run/libvirt/$f.pid
      alive "$p" && kill "$(cat "$p")"
      for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
    done
    kill "$(cat "$holder_pid")" 2>/dev/null || true
  fi
  # Whatever still runs in the namespace (sessions, dnsmasq) goes with it.
  if ip netns list | grep -qw "^$ns"; then
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  fi
  ip -n "$peer" link del fj-hv2 2>/dev/null || true
  rm -rf "$state"
  ;;
*)
  sed -n '2,/^set/p' "$0" | sed '$d' >&2
  exit 2
  ;;
esac
