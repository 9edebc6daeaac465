#!/usr/bin/env bash
# Builds the guest images the e2e suite and the demo boot, from one
# debootstrap of Debian bookworm with the cloud kernel, cloud-init and
# openssh-server, each a bootable qcow2 (MBR, one ext4 partition labelled
# "root", GRUB on the serial console):
#
#   docker  the same with docker.io preinstalled (the demo's and most tests')
#   stock   without Docker: a stock cloud image, for golden image builds and
#           for hosts that install Docker at first boot
#   mirror  a local Debian repository (dists/bookworm/main, unsigned) holding
#           docker.io and what it needs beyond the stock image, fetched with
#           apt from this machine's own mirror: guests have no internet, so
#           the e2e suite serves it to them on an isolated network
#
# The results are cached by a hash of this script: a second run with an
# unchanged recipe prints the cached path at once.
#
# Usage: build-image.sh [docker|stock|mirror]   prints the path on stdout (default docker)
# Env:   FJORD_IMAGE_CACHE         cache directory (default /var/cache/fjord/images)
set -euo pipefail

cache=${FJORD_IMAGE_CACHE:-/var/cache/fjord/images}
recipe=$(sha256sum "$0" | cut -c1-16)
image="$cache/bookworm-docker-$recipe.qcow2"
stock="$cache/bookworm-stock-$recipe.qcow2"
repo="$cache/bookworm-mirror-$recipe"
want=${1:-docker}
case $want in
  docker) out=$image ;;
  stock) out=$stock ;;
  mirror) out=$repo ;;
  *) echo "build-image: unknown artifact $want (docker, stock or mirror)" >&2; exit 2 ;;
esac

if [[ -f "$image" && -f "$stock" && -f "$repo/debian/dists/bookworm/Release" ]]; then
  echo "$out"
  exit 0
fi

log() { printf '[image] %s\n' "$*" >&2; }

for tool in debootstrap sfdisk partx losetup mkfs.ext4 qemu-img apt-ftparchive; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool not found (run scripts/setup-host.sh)" >&2; exit 1; }
done

# The Debian mirror this machine is configured with (deb822 or one-line format).
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | head -1)
if [[ -z "$mirror" ]]; then
  mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | head -1)
fi
if [[ -z "$mirror" ]]; then
  echo "build-image: no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d: this machine's apt configuration names the mirror to build from" >&2
  exit 1
fi

# The chroot's maintainer scripts (openssh-server, grub-pc, apparmor) make
# temporary files under TMPDIR, which names a directory of the caller's
# (the e2e harness sets one) that does not exist inside the chroot.
unset TMPDIR
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root="$work/rootfs"
mnt="$work/mnt"
loopdev=""

cleanup() {
  set +e
  for m in "$mnt/dev" "$mnt/proc" "$mnt/sys" "$mnt" "$root/dev" "$root/proc" "$root/sys"; do
    mountpoint -q "$m" && umount -l "$m"
  done
  if [[ -n "$loopdev" ]]; then
    partx -d "$loopdev" 2>/dev/null
    losetup -d "$loopdev"
  fi
  [[ -n "${uuid_link:-}" ]] && rm -f "$uuid_link"
  rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
log "debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,dbus,kmod,iproute2,ca-certificates,e2fsprogs \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -30 "$work/debootstrap.log" >&2
  exit 1
}
log "debootstrap done in $((SECONDS - start))s"

mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
# No service may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

log "installing kernel, cloud-init, sshd"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  linux-image-cloud-amd64 initramfs-tools grub-pc cloud-init cloud-guest-utils \
  openssh-server sudo apparmor qemu-guest-agent busybox-static procps \
  auditd iptables netbase >"$work/apt.log" 2>&1 || {
  tail -30 "$work/apt.log" >&2
  exit 1
}
chroot "$root" apt-get clean
# What docker.io needs beyond the stock image, fetched once: the local
# mirror's packages, and what the docker image installs from.
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --download-only \
  docker.io >>"$work/apt.log" 2>&1 || {
  tail -30 "$work/apt.log" >&2
  exit 1
}
debs="$work/debs"
mkdir -p "$debs"
mv "$root"/var/cache/apt/archives/*.deb "$debs/"
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"
log "packages done at $((SECONDS - start))s ($(ls "$debs" | wc -l) for docker.io)"

# Offline configuration.
cat >"$root/etc/fstab" <<'EOF'
LABEL=root / ext4 defaults,errors=remount-ro 0 1
EOF
mkdir -p "$root/etc/systemd/network" "$root/etc/cloud/cloud.cfg.d"
cat >"$root/etc/systemd/network/99-fallback-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
cat >"$root/etc/cloud/cloud.cfg.d/90-datasource.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
EOF
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo localhost >"$root/etc/hostname"
cat >"$root/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
umount "$root/dev" "$root/proc" "$root/sys"

# write_disk OUT: the rootfs as a bootable qcow2 image at OUT.
write_disk() {
  log "writing $(basename "$1")"
  raw="$work/disk.raw"
  truncate -s 3G "$raw"
  echo 'type=83, bootable' | sfdisk -q "$raw"
  loopdev=$(losetup -f --show "$raw")
  partx -a "$loopdev"
  part="${loopdev}p1"
  for _ in $(seq 50); do [[ -b "$part" ]] && break; sleep 0.1; done
  [[ -b "$part" ]] || { echo "build-image: partition node $part did not appear" >&2; exit 1; }
  mkfs.ext4 -q -L root "$part"
  mkdir -p "$mnt"
  mount "$part" "$mnt"
  cp -a "$root/." "$mnt/"
  mount --bind /dev "$mnt/dev"
  mount -t proc proc "$mnt/proc"
  mount -t sysfs sys "$mnt/sys"
  uuid=$(blkid -s UUID -o value "$part")
  mkdir -p /dev/disk/by-uuid
  uuid_link="/dev/disk/by-uuid/$uuid"
  ln -sf "$part" "$uuid_link"
  chroot "$mnt" grub-install --target=i386-pc "$loopdev" >"$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
  chroot "$mnt" update-grub >>"$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
  grep -q "root=UUID=$uuid" "$mnt/boot/grub/grub.cfg" || { echo "build-image: grub.cfg does not boot by UUID" >&2; exit 1; }
  rm -f "$uuid_link"
  uuid_link=""
  umount "$mnt/dev" "$mnt/proc" "$mnt/sys" "$mnt"
  partx -d "$loopdev"
  losetup -d "$loopdev"
  loopdev=""
  qemu-img convert -O qcow2 "$raw" "$work/image.qcow2"
  rm -f "$raw"
  mv "$work/image.qcow2" "$1"
}

write_disk "$stock"

log "writing the local mirror"
rm -rf "$work/repo"
mkdir -p "$work/repo/debian/pool/main" "$work/repo/debian/dists/bookworm/main/binary-amd64"
cp "$debs"/*.deb "$work/repo/debian/pool/main/"
(
  cd "$work/repo/debian"
  apt-ftparchive packages pool >dists/bookworm/main/binary-amd64/Packages
  gzip -9 -k dists/bookworm/main/binary-amd64/Packages
  apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm -o APT::FTPArchive::Release::Codename=bookworm \
    -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Architectures=amd64 \
    release dists/bookworm >"$work/Release"
  mv "$work/Release" dists/bookworm/Release
)
rm -rf "$repo"
mv "$work/repo" "$repo"

log "installing docker.io"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$debs"/*.deb "$root/var/cache/apt/archives/"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  docker.io >>"$work/apt.log" 2>&1 || {
  tail -30 "$work/apt.log" >&2
  exit 1
}
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"
umount "$root/dev" "$root/proc" "$root/sys"
write_disk "$image"
log "images ready in $((SECONDS - start))s"
echo "$out"
