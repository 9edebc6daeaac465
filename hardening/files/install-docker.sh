#!/bin/sh
# Written by fjord: installs Docker at first boot on an image without it,
# from the image's apt_mirror (/etc/fjord/apt-mirror: URL signed|unsigned)
# and nothing else, before the setup script runs. Docker is not started
# (the setup script starts it once its configuration is in place);
# containerd is, as it is at boot on an image that has it, so that the
# audit rules the setup script loads find its socket.
set -eu
command -v dockerd >/dev/null 2>&1 && exit 0
read -r mirror signing </etc/fjord/apt-mirror
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
opt=""
[ "$signing" = unsigned ] && opt="[trusted=yes] "
list=/etc/fjord/apt-mirror.list
echo "deb $opt$mirror $suite main" >"$list"
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
set -- -o "Dir::Etc::SourceList=$list" -o Dir::Etc::SourceParts=/nonexistent
echo "fjord: installing docker.io from $mirror" >&2
apt-get "$@" update -q
apt-get "$@" install -y -q --no-install-recommends docker.io apparmor auditd iptables
rm -f /usr/sbin/policy-rc.d
systemctl start containerd.service
