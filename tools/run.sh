#!/usr/bin/env bash
# Quick start step 1: install the device runtime into .venv and run it on the bundled sample
# manual. Extra arguments go to `nic-edge serve` (e.g. --port 8081 --bind 0.0.0.0).
#
# pip runs only when the sources changed since the last install into this venv (a fingerprint of
# the version and every packaged file, kept in .venv/.nic-edge-installed): a plain restart
# starts at once. When it does run, pip's own progress shows.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${NIC_EDGE_VENV:-.venv}
say() { echo "run.sh: $*" >&2; }

if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  say "installing python3-venv with apt (once)..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv python3-pip >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi

fingerprint() {
  { sed -n 's/^__version__ *= *//p' nic_edge/__init__.py
    find pyproject.toml nic_edge config firmware -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
      | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1
}
want=$(fingerprint)
stamp="$VENV/.nic-edge-installed"
if [ -x "$VENV/bin/nic-edge" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "nic-edge is up to date in $VENV; starting"
else
  say "installing nic-edge and its dependencies into $VENV (the first time takes a minute or two)..."
  # pip's normal output is the progress; "already satisfied" lines are noise on a re-install
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check . 2>&1 \
      | { grep --line-buffered -v '^Requirement already satisfied' || true; }; then
    say "pip install failed (see above)"
    exit 1
  fi
  echo "$want" > "$stamp"
  say "installed. For the other commands in this shell: . $VENV/bin/activate"
fi
exec "$VENV/bin/nic-edge" serve --data-dir ./nic-data "$@"
