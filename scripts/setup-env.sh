#!/usr/bin/env bash
# Install what a fresh Debian machine lacks, and the project's Python environment (.venv).
# Idempotent: a second run only checks. Usage: scripts/setup-env.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(python3 python3-venv python3-dev gcc iproute2 qemu-utils qemu-system-x86 syslinux syslinux-common mtools dosfstools genisoimage openssh-client nftables dnsmasq-base haproxy cryptsetup-bin)
[ "$want_test" = 1 ] && pkgs+=(postgresql busybox chromium)
# the throwaway Ceph cluster of tests/support/ceph.py, QEMU's rbd driver and RGW for the s3 blob store (docs/ceph.md)
[ "$want_test" = 1 ] && pkgs+=(ceph-mon ceph-osd ceph-common qemu-block-extra radosgw)
# Go and gophercloud (the SDK under Terraform's OpenStack provider) for tests/api/test_gophercloud.py
[ "$want_test" = 1 ] && pkgs+=(golang-go golang-github-gophercloud-gophercloud-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Onestack needs Python 3.11 or newer ($PY is $("$PY" --version))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.onestack-installed
extra=""
[ "$want_test" = 1 ] && extra="[test]"
if [ ! -f "$stamp$extra" ] || [ pyproject.toml -nt "$stamp$extra" ]; then
  .venv/bin/pip install -q -e ".$extra"
  touch "$stamp$extra"
fi
