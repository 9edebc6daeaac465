#!/bin/sh
# Written by fjord. Nobody is in the docker group (CIS 1.1.2): admins reach
# the daemon through sudo, and this wrapper, first on the PATH, does that for
# them, so `docker ps` and a Docker context over ssh:// (which runs
# `docker system dial-stdio` here) work for a user with sudo rights.
if [ "$(id -u)" = 0 ]; then
  exec /usr/bin/docker "$@"
fi
exec sudo -n /usr/bin/docker "$@"
