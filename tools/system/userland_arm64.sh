#!/usr/bin/env bash
# The arm64 userland test: the engine and core tests run on arm64 Debian Bookworm programs
# through qemu-user + binfmt_misc, on an x86 host. Part of `bash tools/test.sh --system-arm64`
# (on demand, not in CI); needs root (chroot) and qemu-aarch64 registered with binfmt_misc
# (tools/test.sh does both checks and installs qemu-user-static).
#
#   bash tools/system/userland_arm64.sh
#
# What it does, in a throwaway copy of the cached arm64 base system (tools/system/build_image.sh
# arm64 --base-only; ~/.cache/nic-edge-system or $NIC_SYSTEM_CACHE):
#   1. apt installs python3-venv; a venv gets the package with its test extra from PyPI (every
#      dependency comes as an aarch64 wheel: nothing compiles);
#   2. tools/system/embed_check.py: the bundled int8 model's embeddings of 12 sentences, arm64
#      against this host's (cosine >= 0.999);
#   3. pytest tests/engine tests/core.
# Under qemu-user, QEMU_CPU=cortex-a72 (numpy gave wrong results and tflite-runtime failed on
# qemu-user's default CPU model) and an empty tmpfs over the chroot's /sys (ai-edge-litert 2.3
# segfaults in Interpreter() reading the x86 host's /sys/devices/system/cpu cache files; on a
# real Pi or in the arm64 VM it reads the board's own and loads fine).
# Prints the time of each step; the figures are in docs/benchmarks/system.md.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${NIC_SYSTEM_CACHE:-$HOME/.cache/nic-edge-system}
PY=${PYTHON:-python3}
say() { echo "userland_arm64: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (chroot)"; exit 2; }
if [ "$(uname -m)" != aarch64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    say "needs qemu-aarch64 registered with binfmt_misc (qemu-user-static; tools/test.sh --system-arm64 does it)"
    exit 2
fi
BASE=$(bash "$REPO/tools/system/build_image.sh" arm64 --base-only | tail -n 1)
[ -f "$BASE" ] || { say "no base system ($BASE)"; exit 1; }

mkdir -p "$CACHE"
# shellcheck source=tools/system/chroot.sh
. "$REPO/tools/system/chroot.sh"
chroot_workdir "$CACHE" userland

t0=$(date +%s)
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$BASE"
SYS_FS=sysfs
[ "$(uname -m)" = aarch64 ] || SYS_FS=tmpfs
chroot_mounts "$ROOT" "$SYS_FS"
mkdir -p "$CACHE/pip-cache-userland" "$ROOT/root/.cache/pip"
mnt --bind "$CACHE/pip-cache-userland" "$ROOT/root/.cache/pip"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"   # no package starts a service
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# The source as git knows it (committed or not): the package, its tests and their fixtures.
mkdir -p "$ROOT/root/nic-edge"
(cd "$REPO" && git ls-files -co --exclude-standard -- nic_edge config firmware tests tools pyproject.toml README.md LICENSE* \
    | tar -cf - -T -) | tar -C "$ROOT/root/nic-edge" -xf -
# Reference vectors from this host, before the chroot computes its own.
"$PY" "$REPO/tools/system/embed_check.py" --write "$ROOT/root/embed-ref.json" >&2 \
    || { say "embed_check could not run on the host (is the package importable with its TFLite runtime?)"; exit 1; }
host_ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
pip_ca=()
if [ -f "$host_ca" ]; then
    cp "$host_ca" "$ROOT/root/build-ca.crt"
    pip_ca=(PIP_CERT=/root/build-ca.crt)
fi
emu=()
[ "$(uname -m)" = aarch64 ] || emu=(QEMU_CPU=cortex-a72)
run() {  # a command in the chroot, as root, with a clean environment
    chroot "$ROOT" /usr/bin/env -i PATH=/root/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip_ca[@]}" "${emu[@]}" sh -c "cd /root/nic-edge && $1"
}
say "base system unpacked in $(( $(date +%s) - t0 )) s ($(run 'uname -m') under $( [ "$(uname -m)" = aarch64 ] && echo native || echo qemu-user))"

t=$(date +%s)
run 'DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null' \
    >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; say "apt-get install python3-venv failed"; exit 1; }
say "apt python3-venv: $(( $(date +%s) - t )) s"

t=$(date +%s)
run "python3 -m venv /root/venv && pip install -q -e '.[test]'" >"$WORK/pip.log" 2>&1 \
    || { tail -n 30 "$WORK/pip.log" >&2; say "pip install failed"; exit 1; }
say "pip install -e .[test]: $(( $(date +%s) - t )) s; $(run "python -c 'import platform, numpy, lmdb, msgpack, psutil; print(platform.machine(), \"python\", platform.python_version(), \"numpy\", numpy.__version__, \"lmdb\", lmdb.__version__, \"psutil\", psutil.__version__)'")"
say "TFLite runtime: $(run "python -c 'from nic_edge.engine.embedder import resolve_runtime; print(resolve_runtime()[0])'")"

t=$(date +%s)
run 'python tools/system/embed_check.py --check /root/embed-ref.json' >&2 || { say "embeddings differ from the host's"; exit 1; }
say "embedding check: $(( $(date +%s) - t )) s"

t=$(date +%s)
rc=0
run 'python -m pytest -q -p no:cacheprovider tests/engine tests/core' >"$WORK/pytest.log" 2>&1 || rc=$?
tail -n 15 "$WORK/pytest.log" >&2
say "pytest tests/engine tests/core under arm64: $(( $(date +%s) - t )) s, exit $rc"
say "total $(( $(date +%s) - t0 )) s"
exit "$rc"
