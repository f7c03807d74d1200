#!/usr/bin/env bash
# Quick start step 1: install the device runtime into .venv and run it on the bundled sample
# manual. Extra arguments go to `nic-edge serve` (e.g. --port 8081 --bind 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv python3-pip
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .
exec .venv/bin/nic-edge serve --data-dir ./nic-data "$@"
