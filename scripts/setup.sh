#!/usr/bin/env bash
# Installs what orca's build and tests need on a fresh Debian machine (run as root), then
# builds orca. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# Containers need the static busybox (a dynamic one would find no libraries in an image).
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)
[ -x /usr/sbin/iptables ] || need+=(iptables)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The Python client tier runs in its own venv.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import kubernetes' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check 'kubernetes>=30'
fi

# The tests build their own (debug) binaries; `ORCA_SETUP_NO_BUILD=1` skips the release build.
if [ -z "${ORCA_SETUP_NO_BUILD:-}" ]; then
  cargo build --release --bin orca
fi
