#!/usr/bin/env bash
# Install the system packages the test suite needs, when they are missing: the Docker
# engine (docker.io), debootstrap (scripts/build_image.py builds the simulator's base
# image from a Debian rootfs, since no registry is reachable) and Chromium (headless: the
# test that opens report.html, tests/runner/test_report_html.py). Does nothing when all
# are there; needs root and apt-get otherwise, and says so plainly.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (install them as root; the Docker tests need them)" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${need[@]}" >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
