#!/usr/bin/env bash
# Install the container tooling with apt when missing (Debian bookworm): podman, buildah,
# podman-compose, debootstrap, runc, uidmap. Used by tools/build_images.sh and
# `tools/test.sh --containers`; it starts no service. Output goes to a log shown on failure.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
need=()
for t in podman buildah podman-compose debootstrap runc; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || need+=("$t")
done
[ -x /usr/bin/tini ] || true  # tini is needed inside the images only (debootstrap --include)
if [ ${#need[@]} -gt 0 ]; then
  log=$(mktemp -t nic-edge-container-deps.XXXXXX)
  echo "container_deps.sh: installing ${need[*]}" >&2
  if ! { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${need[@]}" uidmap slirp4netns fuse-overlayfs netavark aardvark-dns \
        containernetworking-plugins iptables; } >"$log" 2>&1; then
    echo "container_deps.sh: apt-get failed" >&2; tail -n 30 "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
fi
