#!/bin/sh
# Written by fjord: makes a golden image. Runs once, in a builder guest
# booted from the base image; installs Docker and what the hardening needs,
# removes everything per-instance, reports a manifest on the console and
# powers the guest off. fjord keeps the disk as the golden image only when
# the console says @@fjord-build-done.
set -eu
. /var/lib/fjord-build/recipe.env
console=/dev/ttyS0
[ -w "$console" ] || console=/dev/console
say() { printf '%s\n' "$*" >"$console"; }
log() { say "fjord-build: $*"; }
step=start
trap 'say "@@fjord-build-failed $RECIPE $step"; sync; systemctl poweroff --no-block' EXIT

export DEBIAN_FRONTEND=noninteractive
if [ -n "$APT_MIRROR" ]; then
  step=apt-sources
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  # The image's own sources are put aside (guests reach nothing else)
  # and back afterwards.
  mkdir -p /var/lib/fjord-build/sources/d /etc/apt/sources.list.d
  if [ -e /etc/apt/sources.list ]; then mv /etc/apt/sources.list /var/lib/fjord-build/sources/; fi
  for f in /etc/apt/sources.list.d/*; do if [ -e "$f" ]; then mv "$f" /var/lib/fjord-build/sources/d/; fi; done
  opt=""
  [ "$APT_UNSIGNED" = yes ] && opt="[trusted=yes] "
  echo "deb $opt$APT_MIRROR $suite main" >/etc/apt/sources.list.d/fjord-build.list
fi
step=apt-update
log "apt-get update"
apt-get update -q >/var/lib/fjord-build/apt.log 2>&1 || { tail -20 /var/lib/fjord-build/apt.log >"$console"; exit 1; }
step=apt-install
log "installing docker.io apparmor auditd iptables $PACKAGES"
# shellcheck disable=SC2086 # PACKAGES is a list of package names
apt-get install -y -q --no-install-recommends docker.io apparmor auditd iptables $PACKAGES >>/var/lib/fjord-build/apt.log 2>&1 ||
  { tail -20 /var/lib/fjord-build/apt.log >"$console"; exit 1; }

step=bake
# What every host would otherwise do at its first boot, done once here.
# The account userns-remap "default" maps containers to, made as dockerd
# makes it (adduser --system, then the first free 65536-wide ranges).
if ! getent passwd dockremap >/dev/null; then
  adduser --system --shell /bin/false --no-create-home --disabled-login --disabled-password --group dockremap >/dev/null
  usermod -v 100000-165535 -w 100000-165535 dockremap
fi
# fjord's hosts are seeded by NoCloud only: cloud-init looks for nothing else.
printf 'datasource_list: [ NoCloud, None ]\n' >/etc/cloud/cloud.cfg.d/99-fjord.cfg
# Two of cloud-init's four stages have nothing to do on fjord's hosts, and
# each costs an interpreter's start-up (seconds of CPU where there is no
# hardware virtualization). fjord's seeds are dsmode local: the first stage
# does all the init work before the network is up, and the network stage
# (cloud-init.service), which orders itself after the network is online
# and before sysinit.target, held up SSH and the rest of the boot for
# nothing. A seed for a golden image has no config-stage module either: its
# final stage writes the setup's runcmd and runs it.
systemctl mask --quiet cloud-init.service cloud-config.service

step=clean
# Docker started once when installed: what it made belongs to no host.
systemctl stop docker.service docker.socket containerd.service 2>/dev/null || true
rm -rf /var/lib/docker/* /var/lib/containerd/*
if [ -n "$APT_MIRROR" ]; then
  rm -f /etc/apt/sources.list.d/fjord-build.list
  if [ -e /var/lib/fjord-build/sources/sources.list ]; then mv /var/lib/fjord-build/sources/sources.list /etc/apt/; fi
  for f in /var/lib/fjord-build/sources/d/*; do if [ -e "$f" ]; then mv "$f" /etc/apt/sources.list.d/; fi; done
fi
apt-get clean
rm -rf /var/lib/apt/lists/*

step=manifest
kernel=$(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
say "@@fjord-manifest-begin $RECIPE"
say "kernel $kernel"
say "docker $(dpkg-query -W -f '${Version}' docker.io)"
say "cloud-init $(dpkg-query -W -f '${Version}' cloud-init 2>/dev/null || echo none)"
dpkg-query -W -f '@@fjord-package ${Package} ${Version}\n' >"$console"
say "@@fjord-manifest-end $RECIPE"

step=seal
# Per-instance state: the hosts made from this image get their own.
cloud-init clean --logs --seed >/dev/null 2>&1 || rm -rf /var/lib/cloud
rm -f /etc/ssh/ssh_host_*
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -rf /var/log/journal/* /var/tmp/* /tmp/*
find /var/log -type f -exec truncate -s0 {} +
rm -rf /var/lib/fjord-build /usr/local/sbin/fjord-build
sync
trap - EXIT
say "@@fjord-build-done $RECIPE"
systemctl poweroff --no-block
