#!/bin/sh
# Written by fjord through cloud-init; runs once, from runcmd, on first boot.
# Applies the hardening files the seed wrote and brings Docker up with them.
# Any failure fails cloud-init, and so fjord's apply, with this output.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
log() { echo "fjord-setup: [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

# Kernel settings.
sysctl -q -p /etc/sysctl.d/90-fjord.conf

# The host firewall, before Docker first starts; from the next boot on its
# unit loads it before any network is up.
# Units new to systemd at this boot are read when first started: each
# enable below skips the reload it would make (two seconds each under
# emulation), and the one reload left runs beside Docker's first start.
if [ -e /etc/fjord/firewall.v4 ]; then
  systemctl enable --quiet --no-reload fjord-firewall.service
  systemctl start fjord-firewall.service
  log "firewall loaded"
fi

# sshd: the drop-in was written before sshd first started, so it is in
# force already (no reload, which would refuse connections for a moment);
# a broken one fails setup here, saying why.
sshd -t

if ! command -v dockerd >/dev/null 2>&1; then
  log "docker is not in the image; installing docker.io from the distribution"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
fi

systemctl stop docker.service docker.socket 2>/dev/null || true

# /var/lib/docker on its own disk (CIS 1.1.1), found by its virtio serial.
disk=/dev/disk/by-id/virtio-fjord-docker
if [ -e "$disk" ]; then
  if ! blkid "$disk" >/dev/null 2>&1; then
    mkfs.ext4 -q -L fjord-docker "$disk"
  fi
  mkdir -p /var/lib/docker
  if ! mountpoint -q /var/lib/docker; then
    # What the daemon wrote before its disk was there is not kept.
    find /var/lib/docker -mindepth 1 -delete
    grep -q '^LABEL=fjord-docker ' /etc/fstab ||
      echo 'LABEL=fjord-docker /var/lib/docker ext4 defaults,nodev,nosuid 0 2' >>/etc/fstab
    mount /var/lib/docker
  fi
  chmod 710 /var/lib/docker
  log "data disk mounted on /var/lib/docker"
fi

# dockerd --validate exists from Docker 23 on; older daemons are checked by starting.
if dockerd --help 2>/dev/null | grep -q -- '--validate'; then
  dockerd --validate --config-file /etc/docker/daemon.json
fi

# Audit rules for the paths that exist here (CIS 1.1.3-1.1.18).
fjord-host audit /etc/audit/rules.d/fjord-docker.rules

# fjord-authz (CIS 2.12). The plugin comes on the seed image next to the
# documents; daemon.json names it, so dockerd serves no request without it.
seed=$(blkid -L cidata 2>/dev/null || true)
if [ -z "$seed" ]; then
  log "the seed image (label cidata) is not attached: cannot install fjord-authz"
  exit 1
fi
mnt=$(mktemp -d)
mount -o ro "$seed" "$mnt"
install -m 0755 -o root -g root "$mnt/fjord-authz" /usr/local/sbin/fjord-authz
umount "$mnt"
rmdir "$mnt"
systemctl enable --quiet --no-reload fjord-authz.service
systemctl start fjord-authz.service
log "fjord-authz running"

# Nobody in the docker group: admins use sudo (CIS 1.1.2).
for member in $(getent group docker | cut -d: -f4 | tr ',' ' '); do
  gpasswd -d "$member" docker >/dev/null
done

# The image's docker.io is enabled already; enabling it again would cost
# seconds (its init script too).
systemctl is-enabled --quiet docker.service || systemctl enable --quiet --no-reload docker.service
systemctl start --no-block docker.service
# The units and drop-ins written at this boot (the plugin's, containerd's
# audit one), read while Docker starts; then wait for Docker, which fails
# setup if it does not come up.
systemctl daemon-reload
systemctl start docker.service
log "docker started"

# Docker networks the host declares, internal ones without a route out.
if ! err=$(fjord-host networks /etc/fjord/docker-networks 2>&1); then
  log "docker networks: $err"
  exit 1
fi

mkdir -p /var/lib/fjord
touch /var/lib/fjord/setup-done
log "done"
