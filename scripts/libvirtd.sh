#!/usr/bin/env bash
# Starts (or stops) virtlogd and libvirtd without systemd, inside a network
# namespace of their own, so the bridges, dnsmasq and guest taps they create
# live in that namespace and no guest packet reaches another network.
# libvirtd's unix socket is still reachable from every namespace.
#
# The daemons are tracked by their pid files, never by name: another
# libvirtd (e2e's second hypervisor, in a mount namespace of its own) may
# run beside this one and is not this script's to stop.
#
# Usage: scripts/libvirtd.sh start|stop|status [NAMESPACE]   (default: fjord)
set -euo pipefail
cmd=${1:-start}
ns=${2:-${FJORD_NETNS:-fjord}}
libvirtd_pid=/run/libvirtd.pid # libvirtd's own default
virtlogd_pid=/run/virtlogd.pid

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

case "$cmd" in
start)
  ip netns list | grep -qw "^$ns" || ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  # The NAT network libvirt ships must never start.
  rm -f /etc/libvirt/qemu/networks/autostart/default.xml
  if alive "$libvirtd_pid"; then
    # A daemon outside our namespace would put bridges in the wrong place.
    pid=$(cat "$libvirtd_pid")
    if [[ "$(stat -L -c %i "/proc/$pid/ns/net")" != "$(stat -L -c %i "/run/netns/$ns")" ]]; then
      echo "libvirtd (pid $pid) runs outside network namespace $ns; stop it first: $0 stop" >&2
      exit 1
    fi
    exit 0
  fi
  alive "$virtlogd_pid" || ip netns exec "$ns" virtlogd -d -p "$virtlogd_pid"
  ip netns exec "$ns" libvirtd -d -p "$libvirtd_pid"
  for _ in $(seq 100); do
    virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
    sleep 0.1
  done
  echo "libvirtd did not answer on qemu:///system" >&2
  exit 1
  ;;
stop)
  for f in "$libvirtd_pid" "$virtlogd_pid"; do
    alive "$f" && kill "$(cat "$f")"
    for _ in $(seq 50); do alive "$f" || break; sleep 0.1; done
  done
  ;;
status)
  alive "$libvirtd_pid" && echo "libvirtd running" || { echo "libvirtd stopped"; exit 1; }
  ;;
*)
  echo "usage: $0 start|stop|status [NAMESPACE]" >&2
  exit 2
  ;;
esac
