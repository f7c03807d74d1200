#!/usr/bin/env bash
# Build the OCI images of the fleet side and the device runtime with podman/buildah, from Debian
# packages and PyPI only (no container registry is needed or reachable):
#
#   localhost/nic-edge-base:<hash>        debootstrap --variant=minbase bookworm + python3 + tini, imported
#   localhost/nic-edge-aggregator:<hash>  base + nic_edge (fleet side) + paho/lmdb/msgpack/orjson
#   localhost/nic-edge-device:<hash>      base + nic_edge + the device runtime's dependencies
#   localhost/nic-edge-broker:<hash>      base + Debian's mosquitto
#
# Each tag is a hash of the inputs that make the image (its Containerfile, the base's, the
# package sources for the two Python images), so a re-run with nothing changed builds nothing and
# a change rebuilds only what depends on it. `:latest` is moved to the newest build of each; the
# compose file uses `:latest` (or NIC_EDGE_IMAGE_TAG). Python wheels are installed on the build
# host with its pip (same Debian python3.11 as the image) into a staging tree that the
# Containerfiles COPY, so no RUN step needs the network except the broker's apt-get.
#
# Usage: bash tools/build_images.sh [--print-tags] [--arch amd64|arm64]
#   --arch arm64 on an amd64 host needs qemu-user-static with binfmt_misc (debootstrap's second
#   stage and the broker's RUN execute arm64 binaries); its tags end in -arm64 (`:latest-arm64`).
# Env:   NIC_EDGE_IMAGE_CACHE (default /var/tmp/nic-edge-images: rootfs tarball, wheel staging)
#        CONTAINERS_CONF (default containers/containers.conf: runc, cgroupfs, no default ulimits)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/containers/containers.conf}
CACHE=${NIC_EDGE_IMAGE_CACHE:-/var/tmp/nic-edge-images}
MIRROR=${NIC_EDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
PRINT_TAGS=no
while [ $# -gt 0 ]; do
  case "$1" in
    --print-tags) PRINT_TAGS=yes ;;
    --arch) ARCH=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_images.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$ARCH" in amd64) PYARCH=x86_64 ;; arm64) PYARCH=aarch64 ;; *) PYARCH=unknown ;; esac
[ "$PYARCH" != unknown ] || { echo "build_images.sh: --arch amd64 or arm64" >&2; exit 2; }
SUFFIX=""
if [ "$(dpkg --print-architecture)" != "$ARCH" ]; then
  SUFFIX="-$ARCH"
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$PYARCH" ] || {
    echo "build_images.sh: --arch $ARCH on this host needs qemu-user-static and binfmt_misc" \
         "(apt-get install qemu-user-static binfmt-support; see docs/CONTAINERS.md)" >&2; exit 2; }
fi
say() { echo "build_images.sh: $*" >&2; }
mkdir -p "$CACHE"

# --- tools (apt, only when missing) -----------------------------------------------------------
bash "$ROOT/tools/container_deps.sh"

# --- input hashes --------------------------------------------------------------------------------
hash_of() { cat "$@" | sha256sum | cut -c1-12; }
# the package sources as git sees them (tracked + untracked, not ignored): the device image's input
src_hash() {
  (git ls-files -co --exclude-standard -- pyproject.toml nic_edge config firmware 2>/dev/null \
    || find pyproject.toml nic_edge config firmware -type f) | LC_ALL=C sort | while read -r f; do
      [ -f "$f" ] && { echo "$f"; cat "$f"; }
    done | sha256sum | cut -c1-12
}
BASE_TAG=$(echo "$SUITE $ARCH $MIRROR" | cat - containers/base/* | sha256sum | cut -c1-12)$SUFFIX
SRC=$(src_hash)
AGG_TAG=$(echo "$BASE_TAG $SRC" | cat - containers/aggregator.Containerfile containers/requirements-aggregator.txt containers/healthcheck.py | sha256sum | cut -c1-12)$SUFFIX
DEV_TAG=$(echo "$BASE_TAG $SRC" | cat - containers/device.Containerfile containers/healthcheck.py | sha256sum | cut -c1-12)$SUFFIX
BRK_TAG=$(echo "$BASE_TAG" | cat - containers/broker.Containerfile containers/healthcheck_tcp.py | sha256sum | cut -c1-12)$SUFFIX
if [ "$PRINT_TAGS" = yes ]; then
  echo "base=$BASE_TAG aggregator=$AGG_TAG device=$DEV_TAG broker=$BRK_TAG"; exit 0
fi
exists() { podman image exists "$1"; }
tag_latest() {  # move :latest to this build and untag older builds (their layers go once unused)
  local t
  podman tag "$1:$2" "$1:latest$SUFFIX"
  for t in $(podman images --format '{{.Tag}}' "$1"); do
    case "$t" in "latest$SUFFIX"|"$2") continue ;; esac
    if [ -n "$SUFFIX" ]; then [[ "$t" == *"$SUFFIX" ]] || continue
    else [[ "$t" == *-* ]] && continue; fi  # another architecture's tags are left alone
    podman rmi "$1:$t" >/dev/null 2>&1 || true
  done
}

# --- base: debootstrap minbase + python3 + tini, imported ----------------------------------------
BASE=localhost/nic-edge-base
if ! exists "$BASE:$BASE_TAG"; then
  say "building $BASE:$BASE_TAG (debootstrap $SUITE minbase, a few minutes)"
  rootfs=$CACHE/rootfs-$BASE_TAG
  rm -rf "$rootfs"
  # shellcheck disable=SC2046  # one package per word
  debootstrap --variant=minbase --arch="$ARCH" --include=$(grep -v '^#' containers/base/packages | paste -sd,) \
    "$SUITE" "$rootfs" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
  chroot "$rootfs" /bin/sh -s < containers/base/slim.sh
  tar -C "$rootfs" --numeric-owner -cf "$CACHE/rootfs-$BASE_TAG.tar" .
  podman import --arch "$ARCH" --change 'CMD ["/bin/sh"]' "$CACHE/rootfs-$BASE_TAG.tar" "$BASE:$BASE_TAG" >/dev/null
  rm -rf "$rootfs" "$CACHE/rootfs-$BASE_TAG.tar"
fi
tag_latest "$BASE" "$BASE_TAG"

# --- Python staging: wheels installed by the host's pip for the image's python3.11 ----------------
# the host's pip picks wheels for this very python3.11/glibc 2.36 (Debian bookworm, as the image);
# another architecture names its wheel tags explicitly (glibc <= 2.36)
PLATFORM_ARGS=()
if [ "$(dpkg --print-architecture)" != "$ARCH" ]; then
  PLATFORM_ARGS=(--python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none --platform any)
  for g in 2014 _2_27 _2_28 _2_31 _2_34 _2_35 _2_36; do PLATFORM_ARGS+=(--platform "manylinux${g}_$PYARCH"); done
fi
stage_python() {  # $1 = staging dir, $2.. = pip arguments
  local dir=$1; shift
  rm -rf "$dir"; mkdir -p "$dir"
  python3 -m pip install --disable-pip-version-check -q --no-warn-script-location --root-user-action=ignore \
    --target "$dir/opt/nic-edge/lib" --only-binary=:all: "${PLATFORM_ARGS[@]}" "$@" \
    || { say "pip failed for $dir"; exit 1; }
  # console scripts are not used (their shebang names the build host's interpreter): the images
  # run `python3 -m nic_edge...`; bytecode is compiled at image path /opt/nic-edge/lib so a
  # read-only root filesystem costs no start-up time.
  rm -rf "$dir/opt/nic-edge/lib/bin"
  find "$dir" -name '__pycache__' -type d -prune -exec rm -rf {} +
  python3 -m compileall -q -j 0 -d /opt/nic-edge/lib "$dir/opt/nic-edge/lib" >/dev/null
}
wheel_dir=$CACHE/wheel-$SRC
if [ ! -d "$wheel_dir" ]; then
  say "building the nic-edge wheel"
  rm -rf "$CACHE"/wheel-*
  python3 -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation -w "$wheel_dir" . >/dev/null 2>&1 \
    || python3 -m pip wheel --disable-pip-version-check -q --no-deps -w "$wheel_dir" . >/dev/null
  find . -maxdepth 1 -name 'build' -type d -newer pyproject.toml -prune -exec rm -rf {} + 2>/dev/null || true
fi
WHEEL=$(ls "$wheel_dir"/nic_edge-*.whl)

build() {  # $1 image, $2 tag, $3 Containerfile, $4 context
  local img=$1 tag=$2 file=$3 ctx=$4
  say "building $img:$tag"
  buildah build --quiet --layers --network host --arch "$ARCH" --format docker --build-arg "BASE=$BASE:$BASE_TAG" \
    -f "$file" -t "$img:$tag" "$ctx" >"$CACHE/build-${img##*/}.log" 2>&1 \
    || { say "buildah failed for $img"; tail -n 30 "$CACHE/build-${img##*/}.log" >&2; exit 1; }
}

AGG=localhost/nic-edge-aggregator
if ! exists "$AGG:$AGG_TAG"; then
  ctx=$CACHE/ctx-aggregator$SUFFIX
  # the fleet side never imports the engine: no numpy/TFLite, and the model files are dropped
  stage_python "$ctx/root" --no-deps "$WHEEL" -r containers/requirements-aggregator.txt
  rm -rf "$ctx"/root/opt/nic-edge/lib/nic_edge/models/*.tflite "$ctx"/root/opt/nic-edge/lib/nic_edge/models/*.npy
  cp containers/healthcheck.py "$ctx"/; build "$AGG" "$AGG_TAG" containers/aggregator.Containerfile "$ctx"
fi
tag_latest "$AGG" "$AGG_TAG"

DEV=localhost/nic-edge-device
if ! exists "$DEV:$DEV_TAG"; then
  ctx=$CACHE/ctx-device$SUFFIX
  stage_python "$ctx/root" "$WHEEL"
  cp containers/healthcheck.py "$ctx"/; build "$DEV" "$DEV_TAG" containers/device.Containerfile "$ctx"
fi
tag_latest "$DEV" "$DEV_TAG"

BRK=localhost/nic-edge-broker
if ! exists "$BRK:$BRK_TAG"; then
  build "$BRK" "$BRK_TAG" containers/broker.Containerfile containers
fi
tag_latest "$BRK" "$BRK_TAG"

podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^localhost/nic-edge-.*:latest$SUFFIX " >&2
