#!/usr/bin/env bash
# Install what the tests need (system packages with apt when missing, the package with its
# test extra) and run the test suite. This is the README's test command and what CI runs.
#
# Quiet on purpose: apt and dpkg output goes to a log shown only when something fails. Nothing
# installed here starts or enables a service (mosquitto's own service is stopped and disabled;
# the tests start their own brokers on free ports). promtool and the prometheus server (the
# remote-write test starts its own on a free port) come out of Debian's `prometheus` package
# without installing it: `apt-get download` + `dpkg-deb -x` extract the two binaries into the
# test venv (~95 MB), so no postinst, no service, no web-UI JavaScript packages, nothing outside
# the venv. Done once; later runs find them there.
#
#   bash tools/test.sh [PYTEST ARGS]   the everyday suite (no emulator, no image)
#   bash tools/test.sh --system        that suite, then the oldest claimed dependency versions
#                                      (tools/system/oldest-versions.txt: engine + core tests in
#                                      .venv-oldest), then the amd64 system test (tests/system/:
#                                      builds a Pi OS-like image, boots it under qemu; installs
#                                      qemu-system-x86 and debootstrap when missing). CI runs this.
#                                      Image cache: $NIC_SYSTEM_CACHE (~/.cache/nic-edge-system).
#   bash tools/test.sh --system-arm64  on demand, not in CI: only the arm64 tests: the userland
#                                      test (tools/system/userland_arm64.sh: engine and core
#                                      tests in an arm64 chroot under qemu-user, embeddings
#                                      checked against this host's), then the system test (the
#                                      image built through qemu-user + binfmt, booted under
#                                      qemu-system-aarch64 -M virt -cpu cortex-a72); installs
#                                      qemu-system-arm, qemu-user-static and debootstrap when
#                                      missing and registers qemu-aarch64 with binfmt_misc.
#
# `bash tools/test.sh --containers [pytest args]` runs only the container tests instead
# (tests/containers: builds the images, cached, and brings the compose stack up on loopback); it
# also installs podman, buildah, podman-compose, debootstrap and runc with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTAINERS=no
if [ "${1:-}" = "--containers" ]; then CONTAINERS=yes; shift; fi
PY=${PYTHON:-python3}
VENV=${NIC_EDGE_TEST_VENV:-.venv-test}
LOG=$(mktemp -t nic-edge-test-setup.XXXXXX)
trap 'rm -f "$LOG"' EXIT
say() { echo "test.sh: $*" >&2; }
quiet() {  # run a setup step with its output in the log; show the log if it fails
  if ! "$@" >>"$LOG" 2>&1; then
    say "failed: $*"; tail -n 40 "$LOG" >&2; exit 1
  fi
}
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
SYSTEM=""
case "${1:-}" in
  --system) SYSTEM=amd64; shift ;;
  --system-arm64) SYSTEM=arm64; shift ;;
esac

need=()
had_mosquitto=yes
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { need+=(mosquitto); had_mosquitto=no; }
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v mcopy >/dev/null 2>&1 || need+=(mtools)
command -v mkfs.vfat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.vfat ] || need+=(dosfstools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "$SYSTEM" = arm64 ]; then
  command -v qemu-system-aarch64 >/dev/null 2>&1 || need+=(qemu-system-arm)
  [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
elif [ -n "$SYSTEM" ]; then
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
fi
if [ -n "$SYSTEM" ]; then
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
  command -v sfdisk >/dev/null 2>&1 || [ -x /usr/sbin/sfdisk ] || need+=(fdisk)
  command -v mke2fs >/dev/null 2>&1 || [ -x /usr/sbin/mke2fs ] || need+=(e2fsprogs)
fi
updated=no
if [ ${#need[@]} -gt 0 ]; then
  say "installing system packages: ${need[*]}"
  quiet $SUDO apt-get update -qq
  updated=yes
  # policy-rc.d exit 101: no package may start a service during this install
  rc_policy=/usr/sbin/policy-rc.d
  if [ ! -e "$rc_policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rc_policy" >/dev/null && $SUDO chmod 755 "$rc_policy"
    trap 'rm -f "$LOG"; $SUDO rm -f "$rc_policy"' EXIT
  fi
  quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  $SUDO rm -f "$rc_policy"
  trap 'rm -f "$LOG"' EXIT
  if [ "$had_mosquitto" = no ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now mosquitto.service >>"$LOG" 2>&1 || true
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
prom_need=()
for b in promtool prometheus; do
  command -v "$b" >/dev/null 2>&1 || [ -x "$VENV/bin/$b" ] || prom_need+=("$b")
done
if [ ${#prom_need[@]} -gt 0 ]; then
  say "extracting ${prom_need[*]} from Debian's prometheus package (19 MB download; not installing it)"
  [ "$updated" = yes ] || [ -n "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null | head -n 1)" ] || quiet $SUDO apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && quiet apt-get download prometheus)
  quiet dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  for b in "${prom_need[@]}"; do install -m 755 "$tmp/x/usr/bin/$b" "$VENV/bin/$b"; done
  rm -rf "$tmp"
fi
# editable install: redone only when pyproject.toml (dependencies, entry points) changed
stamp="$VENV/.nic-edge-test-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing nic-edge with its test extra into $VENV"
  quiet "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[test]'
  echo "$want" > "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"  # promtool when it lives in the venv
if [ "$CONTAINERS" = yes ]; then
  bash tools/container_deps.sh
  export NIC_EDGE_CONTAINER_TESTS=1 CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/containers/containers.conf}
  exec "$VENV/bin/python" -m pytest -q tests/containers "$@"
fi
[ -n "$SYSTEM" ] || exec "$VENV/bin/python" -m pytest -q "$@"
if [ "$SYSTEM" = arm64 ]; then
  # The image's chroot runs arm64 programs through qemu-user: register it when the package's
  # binfmt entry is not active (a container without systemd-binfmt).
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    grep -h '^:qemu-aarch64:' /usr/lib/binfmt.d/qemu-aarch64.conf | $SUDO tee /proc/sys/fs/binfmt_misc/register >/dev/null
  fi
  say "arm64 userland test: engine and core tests on arm64 Debian under qemu-user (tools/system/userland_arm64.sh)"
  $SUDO env PYTHON="$PWD/$VENV/bin/python" NIC_SYSTEM_CACHE="${NIC_SYSTEM_CACHE:-$HOME/.cache/nic-edge-system}" bash tools/system/userland_arm64.sh
  say "arm64 system test: image build through qemu-user (cached in ${NIC_SYSTEM_CACHE:-$HOME/.cache/nic-edge-system}), qemu-system-aarch64 boots"
  NIC_SYSTEM_TEST=arm64 exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/system/test_boot_arm64.py "$@"
fi

"$VENV/bin/python" -m pytest -q "$@"
# The oldest versions pyproject.toml claims, in a venv of their own (engine and core tests).
OLD_VENV=${NIC_EDGE_OLDEST_VENV:-.venv-oldest}
constraints=tools/system/oldest-versions.txt
[ -x "$OLD_VENV/bin/python" ] || { say "creating $OLD_VENV"; "$PY" -m venv "$OLD_VENV"; }
want=$(cat pyproject.toml "$constraints" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$OLD_VENV/.installed" 2>/dev/null)" != "$want" ]; then
  say "installing nic-edge with the oldest claimed versions ($constraints) into $OLD_VENV"
  quiet "$OLD_VENV/bin/python" -m pip install --disable-pip-version-check -q -c "$constraints" -e '.[test]'
  echo "$want" > "$OLD_VENV/.installed"
fi
say "oldest versions: $("$OLD_VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
  | awk 'tolower($1) ~ /^(numpy|lmdb|msgpack|psutil|paho-mqtt|pypdf|cryptography|ai-edge-litert|ml.dtypes)$/ {printf "%s %s, ", $1, $2}')"
"$OLD_VENV/bin/python" -m pytest -q -p no:cacheprovider tests/engine tests/core
say "system test ($SYSTEM): image build (cached in ${NIC_SYSTEM_CACHE:-$HOME/.cache/nic-edge-system}), qemu boots"
NIC_SYSTEM_TEST=$SYSTEM exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/system
