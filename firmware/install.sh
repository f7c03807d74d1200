#!/bin/sh
# Install nic-edge on a Raspberry Pi OS box (Bookworm or later, 64-bit recommended).
#
#   sudo sh firmware/install.sh [PACKAGE]      PACKAGE: a wheel, an sdist or a source checkout
#                                              (default: the checkout this script sits in)
#   sudo sh firmware/install.sh --aggregator   also install nic-aggregator.service (not enabled)
#
# Installs system packages, creates the system user nic-edge, a venv in /opt/nic-edge/venv with
# the package (system numpy reused: building it on a Pi Zero takes hours), the systemd units, and
# enables nic-edge.service. Re-running upgrades the package and changes nothing else.
set -eu

PREFIX=/opt/nic-edge
SVC_USER=nic-edge
HERE=$(cd "$(dirname "$0")" && pwd)
AGGREGATOR=0
PKG=""
for arg in "$@"; do
    case "$arg" in
        --aggregator) AGGREGATOR=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) PKG="$arg" ;;
    esac
done
[ -n "$PKG" ] || PKG="$(dirname "$HERE")"

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo sh $0)" >&2
    exit 2
fi

echo "== system packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# python3-numpy from Debian is prebuilt for the Pi; lmdb/msgpack/psutil wheels come from PyPI or
# piwheels, the python3-* packages below are fallbacks the venv can see.
apt-get install -y --no-install-recommends python3 python3-venv python3-pip python3-numpy \
    python3-lmdb python3-msgpack python3-psutil ca-certificates

echo "== user $SVC_USER"
if ! id -u "$SVC_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/nic-edge --no-create-home \
        --shell /usr/sbin/nologin "$SVC_USER"
fi

echo "== venv $PREFIX/venv"
mkdir -p "$PREFIX"
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --upgrade "$PKG"
if [ -d "$HERE/../docs" ]; then
    mkdir -p "$PREFIX/docs" && cp "$HERE/../docs/PROVISIONING.md" "$PREFIX/docs/" 2>/dev/null || true
fi

echo "== config and state"
install -d -m 0750 -o root -g "$SVC_USER" /etc/nic-edge
install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" /var/lib/nic-edge
if [ ! -f /etc/nic-edge/device.toml ]; then
    echo "no /etc/nic-edge/device.toml yet: flash one with nic-fleet flash or write it by hand" >&2
fi

echo "== systemd units"
install -m 0644 "$HERE/nic-edge.service" /etc/systemd/system/nic-edge.service
if [ "$AGGREGATOR" = 1 ]; then
    install -m 0644 "$HERE/nic-aggregator.service" /etc/systemd/system/nic-aggregator.service
fi
rm -f /etc/nic-edge/NEEDS-INSTALL
systemctl daemon-reload
systemctl enable nic-edge.service
if [ -f /etc/nic-edge/device.toml ]; then
    systemctl restart nic-edge.service
    echo "nic-edge started: systemctl status nic-edge; journalctl -u nic-edge -f"
fi
