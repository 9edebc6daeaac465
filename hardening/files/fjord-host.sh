#!/bin/sh
# Written by fjord: what the setup script does at first boot and fjord
# does again, in place, when the declaration changes.
#
#   fjord-host networks FILE   Docker's networks as FILE declares them
#   fjord-host audit FILE      the audit rules of FILE, loaded
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# networks makes Docker's networks what FILE declares ("NAME bridge" or
# "NAME internal", one a line). Networks fjord made (label fjord.network)
# that FILE no longer declares are removed; a declared one of the other
# kind is made again; the others are created. Docker refuses to remove a
# network a container is attached to: that fails the run, saying which.
networks() {
  file=$1
  for name in $(docker network ls -q --filter label=fjord.network --format '{{.Name}}'); do
    awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$file" || docker network rm "$name" >/dev/null
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
}

# audit loads the rules of FILE for the paths that exist here (CIS
# 1.1.3-1.1.18). A watch on a path under /run cannot be loaded at boot,
# before the path exists, and auditctl stops at the first rule that fails:
# those watches are added by containerd's unit once its socket is there
# (a drop-in, and now if it is there), the rest load from rules.d. FILE
# keeps the rules that load from it.
audit() {
  file=$1
  if ! command -v augenrules >/dev/null 2>&1; then
    echo "auditd is not installed: audit rules not loaded"
    return 0
  fi
  tmp=$(mktemp)
  runtime=""
  while read -r flag path rest; do
    case "$flag $path" in
    "-w /run/"*) runtime="$runtime
ExecStartPost=-/sbin/auditctl $flag $path $rest" ;;
    "-w "*) [ -e "$path" ] && echo "$flag $path $rest" >>"$tmp" ;;
    *) echo "$flag $path $rest" >>"$tmp" ;;
    esac
  done <"$file"
  cat "$tmp" >"$file"
  rm -f "$tmp"
  augenrules --load >/dev/null
  dropin=/etc/systemd/system/containerd.service.d/10-fjord-audit.conf
  if [ -n "$runtime" ]; then
    mkdir -p "${dropin%/*}"
    printf '[Service]%s\n' "$runtime" >"$dropin"
    printf '%s\n' "$runtime" | sed -n 's/^ExecStartPost=-//p' | while read -r cmd flag path rest; do
      if [ -e "$path" ]; then $cmd "$flag" "$path" $rest; fi
    done
  else
    rm -f "$dropin"
  fi
}

case "${1:-}" in
networks | audit) "$1" "$2" ;;
*)
  echo "usage: fjord-host networks|audit FILE" >&2
  exit 2
  ;;
esac
