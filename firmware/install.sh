#!/bin/sh
# Install nic-edge on a Raspberry Pi OS box (Bookworm or later, 64-bit recommended).
#
#   sudo sh firmware/install.sh [PACKAGE]      PACKAGE: a wheel, an sdist or a source checkout
#                                              (default: the checkout this script sits in)
#   sudo sh firmware/install.sh --aggregator   also install nic-aggregator.service (not enabled)
#
# Installs system packages, creates the system user nic-edge, a venv with the package, the
# systemd units, and enables nic-edge.service and nic-edge-updater.service (on a booted box it
# also starts them when a config is in place; in a chroot, e.g. while building an image, it only
# enables them). Re-running upgrades the package and changes nothing else.
#
# Layout (the software updater, `nic-edge updater`, keeps it; docs/UPDATES.md):
#   /opt/nic-edge/venvs/<version>/       one venv per installed version
#   /opt/nic-edge/current -> venvs/<version>   the one that runs; switched with one rename
#   /opt/nic-edge/venv -> current        fixed path the units' ExecStart uses
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
# The venv sees Debian's python3-lmdb, python3-msgpack and python3-psutil (prebuilt for the Pi,
# at or above pyproject's floors) and pip keeps them. numpy and cryptography come from PyPI or
# piwheels as wheels instead: ai-edge-litert needs ml_dtypes, whose current releases need
# numpy >= 2 (Bookworm has 1.24), and the package needs cryptography >= 41 (Bookworm has 38).
# docs/PROVISIONING.md lists what an install really holds.
apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
    python3-lmdb python3-msgpack python3-psutil ca-certificates

echo "== user $SVC_USER"
if ! id -u "$SVC_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/nic-edge --no-create-home \
        --shell /usr/sbin/nologin "$SVC_USER"
fi

echo "== venv $PREFIX/venvs/<version>"
mkdir -p "$PREFIX/venvs"
STAGE="$PREFIX/venvs/.install-$$"
rm -rf "$STAGE"
python3 -m venv --system-site-packages "$STAGE"
"$STAGE/bin/pip" install "$PKG"
VERSION=$("$STAGE/bin/python" -c 'import nic_edge; print(nic_edge.__version__)')
CURRENT=$(readlink "$PREFIX/current" 2>/dev/null || true)
if [ "$CURRENT" = "venvs/$VERSION" ]; then
    # Same version re-installed: upgrade the running venv in place (its paths are baked in).
    rm -rf "$STAGE"
    "$PREFIX/venvs/$VERSION/bin/pip" install --upgrade "$PKG"
else
    # A venv's scripts hold its absolute path: build it where it stays, so recreate, not move.
    rm -rf "$STAGE" "$PREFIX/venvs/$VERSION"
    python3 -m venv --system-site-packages "$PREFIX/venvs/$VERSION"
    "$PREFIX/venvs/$VERSION/bin/pip" install "$PKG"
    ln -sfn "venvs/$VERSION" "$PREFIX/.current.tmp"
    mv -T "$PREFIX/.current.tmp" "$PREFIX/current"
fi
# The old layout had a real venv at $PREFIX/venv: replace it by the fixed link.
if [ -d "$PREFIX/venv" ] && [ ! -L "$PREFIX/venv" ]; then
    rm -rf "$PREFIX/venv"
fi
[ -L "$PREFIX/venv" ] || ln -s current "$PREFIX/venv"
echo "installed nic-edge $VERSION: $PREFIX/current -> venvs/$VERSION"
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
install -m 0644 "$HERE/nic-edge-updater.service" /etc/systemd/system/nic-edge-updater.service
if [ "$AGGREGATOR" = 1 ]; then
    install -m 0644 "$HERE/nic-aggregator.service" /etc/systemd/system/nic-aggregator.service
fi
rm -f /etc/nic-edge/NEEDS-INSTALL
UNITS="nic-edge.service nic-edge-updater.service"
# systemd runs this box (a booted Pi) or not (a chroot building an image, a container): there
# only `systemctl enable` works, offline; daemon-reload and restart fail with "System has not
# been booted with systemd as init system" and must not stop the install.
if [ -d /run/systemd/system ] && ! systemd-detect-virt --quiet --chroot 2>/dev/null; then
    systemctl daemon-reload
    systemctl enable $UNITS
    if [ -f /etc/nic-edge/device.toml ]; then
        systemctl restart $UNITS
        echo "nic-edge started: systemctl status nic-edge; journalctl -u nic-edge -f"
    fi
else
    if ! systemctl enable $UNITS; then
        # What `systemctl enable` does for WantedBy=multi-user.target, for a systemctl that
        # cannot work offline.
        mkdir -p /etc/systemd/system/multi-user.target.wants
        for unit in $UNITS; do
            ln -sfn "/etc/systemd/system/$unit" "/etc/systemd/system/multi-user.target.wants/$unit"
        done
    fi
    echo "systemd is not running here (chroot or image build): $UNITS enabled, they start at the next boot"
fi
