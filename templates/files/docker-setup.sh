#!/bin/sh
# Installed by fjord through cloud-init; runs once per instance from runcmd.
# Makes the running Docker daemon use /etc/docker/daemon.json as rendered.
set -eu

if ! command -v dockerd >/dev/null 2>&1; then
  echo "fjord: docker is not in the image; installing docker.io from the distribution"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
fi

# dockerd --validate exists from Docker 23 on; older daemons are checked by starting.
if dockerd --help 2>/dev/null | grep -q -- '--validate'; then
  dockerd --validate --config-file /etc/docker/daemon.json
fi

systemctl enable docker.service >/dev/null 2>&1 || true
# The daemon may have started before cloud-init wrote daemon.json: restart it
# unless it already runs with user-namespace remapping.
if ! { systemctl is-active --quiet docker.service &&
       docker info --format '{{json .SecurityOptions}}' 2>/dev/null | grep -q 'name=userns'; }; then
  systemctl restart docker.service
fi
docker info --format '{{json .SecurityOptions}}' | grep -q 'name=userns' || {
  echo "fjord: docker is running without userns-remap" >&2
  exit 1
}
