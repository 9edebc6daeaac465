#!/bin/sh
# Written by fjord. Makes Docker's networks what FILE declares ("NAME bridge"
# or "NAME internal", one a line): at first boot from the setup script, and
# when the declaration changes, in place. Networks fjord made (label
# fjord.network) that FILE no longer declares are removed; a declared one
# of the other kind is made again; the others are created. Docker refuses
# to remove a network a container is attached to: that fails the run,
# saying which, and fjord puts the previous declaration back.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
file=$1

declared() { awk -v n="$1" '$1 == n { found = 1 } END { exit !found }' "$file"; }

for name in $(docker network ls -q --filter label=fjord.network --format '{{.Name}}'); do
  declared "$name" || docker network rm "$name" >/dev/null
done

while read -r name kind; do
  [ -n "$name" ] || continue
  internal=false
  [ "$kind" = internal ] && internal=true
  if have=$(docker network inspect -f '{{.Internal}}' "$name" 2>/dev/null); then
    [ "$have" = "$internal" ] && continue
    docker network rm "$name" >/dev/null
  fi
  flag=""
  [ "$internal" = true ] && flag=--internal
  # shellcheck disable=SC2086 # flag is empty or one word
  docker network create $flag --label fjord.network "$name" >/dev/null
done <"$file"
