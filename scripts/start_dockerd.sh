#!/usr/bin/env bash
# Start a Docker engine for tests and CI when none answers; do nothing when one does.
#
# Needs root. Installs docker.io when dockerd is missing. Tries the daemon's defaults
# (overlay2, iptables, docker0 bridge: what works in the tuneops sandbox) and falls back to
# settings that work in more locked-down hosts (vfs storage, no iptables: ports are then
# published by docker-proxy alone). No registry is needed: images are built locally
# (scripts/build_image.py).
#
#   DOCKERD_LOG      daemon log (default /tmp/tuneops-dockerd.log)
#   DOCKERD_TIMEOUT  seconds to wait for each attempt to answer (default 60)
set -euo pipefail

LOG=${DOCKERD_LOG:-/tmp/tuneops-dockerd.log}
TIMEOUT=${DOCKERD_TIMEOUT:-60}

answers() { docker info >/dev/null 2>&1; }

if answers; then
  echo "docker engine already answers"
  exit 0
fi

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  echo "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q docker.io >/dev/null || { apt-get update -q && apt-get install -y -q docker.io >/dev/null; }
fi

# A daemon killed earlier leaves its pid file behind and the next one refuses to start.
if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi

attempt() {
  echo "$(date -Is) starting dockerd $*" >>"$LOG"
  setsid dockerd "$@" >>"$LOG" 2>&1 </dev/null &
  local pid=$! waited=0
  while ((waited < TIMEOUT * 5)); do
    if answers; then
      echo "dockerd $* answers (pid $pid, log $LOG)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
    waited=$((waited + 1))
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f /var/run/docker.pid
  echo "dockerd $* did not answer; tail of $LOG:" >&2
  tail -n 5 "$LOG" >&2
  return 1
}

attempt || attempt --storage-driver=vfs --iptables=false --ip-masq=false || {
  echo "no Docker engine could be started" >&2
  exit 1
}
