#!/usr/bin/env bash
# Installs what fjord needs to build, test and run guests on Debian 12, as root.
# Safe to run again: packages already present are not fetched twice.
set -euo pipefail

packages=(
  # build: cgo bindings to libvirt
  gcc pkg-config libvirt-dev
  # hypervisor, started without systemd by scripts/libvirtd.sh
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base iptables
  # guest image build (e2e/scripts/build-image.sh)
  debootstrap fdisk grub-pc-bin dosfstools e2fsprogs mount util-linux
  # the e2e suite's local package mirror (apt-ftparchive)
  apt-utils
  # validating rendered user-data with cloud-init's own schema in tests
  cloud-init
  # ssh client for the user after a demo, iproute2 for the network namespace
  openssh-client iproute2
  # e2e's second hypervisor is reached only over SSH (e2e/scripts/hv2.sh)
  openssh-server
  # make bench: the virt-install baseline fjord is measured against
  virtinst
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  apt-get update -q
  # No service may be started by package scripts here: fjord starts libvirtd
  # (and e2e its sshd) itself.
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  [[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
fi
# libvirt's NAT network must never start: fjord's guests get isolated networks only.
rm -f /etc/libvirt/qemu/networks/autostart/default.xml
