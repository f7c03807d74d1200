#!/bin/sh
# nic-edge first-boot hook (POSIX sh; runs on the Pi with only the base system).
#
# Started once by systemd.run= on the kernel command line (Raspberry Pi OS Bookworm style, chained
# after Raspberry Pi Imager's firstrun.sh when present) or by a cloud-init runcmd entry. It:
#   1. moves the bundle from the boot partition (<boot>/nic-edge) into /etc/nic-edge, secrets 0600
#      owned by the service user, manuals into /var/lib/nic-edge/manuals, a prebuilt content
#      bundle into /var/lib/nic-edge/content/flashed.nicb (the service applies it at start);
#   2. deletes the bundle, secrets included, from the FAT partition (keeps only this script);
#   3. installs and enables nic-edge.service when /opt/nic-edge/venv exists, else leaves
#      /etc/nic-edge/NEEDS-INSTALL and says so in the journal;
#   4. removes its own arguments from cmdline.txt.
# Leftovers of an interrupted nic-fleet flash beside the bundle (nic-edge.nic-tmp/ and
# nic-edge.nic-old/, which may hold secrets) are removed first; a bundle such a flash left
# incomplete is refused (FAILED, "flash the card again") and never half-installed.
# Running it again changes nothing. Usage: firstboot.sh [--now]   (--now also starts the service)
#
# Environment (for tests and manual runs):
#   NIC_EDGE_ROOT=/path       operate on a root prefix instead of /
#   NIC_EDGE_BOOT=/path       the boot partition (default: <root>/boot/firmware, then <root>/boot)
#   NIC_EDGE_FIRSTBOOT_FAKE=1 no useradd/chown/systemctl (automatically when not root)
#   NIC_EDGE_USER=name        service user (default nic-edge)
set -eu
umask 077

ROOT="${NIC_EDGE_ROOT:-}"
ROOT="${ROOT%/}"
SVC_USER="${NIC_EDGE_USER:-nic-edge}"
FAKE="${NIC_EDGE_FIRSTBOOT_FAKE:-0}"
[ "$(id -u)" = 0 ] || FAKE=1
NOW=0
[ "${1:-}" = "--now" ] && NOW=1

ETC="$ROOT/etc/nic-edge"
STATE="$ROOT/var/lib/nic-edge"
UNIT_DIR="$ROOT/etc/systemd/system"
VENV_BIN="$ROOT/opt/nic-edge/venv/bin/nic-edge"

log() {
    echo "nic-edge-firstboot: $*" >&2
    if [ "$FAKE" != 1 ] && command -v logger >/dev/null 2>&1; then
        logger -t nic-edge-firstboot -- "$*" 2>/dev/null || true
    fi
}

if [ -n "${NIC_EDGE_BOOT:-}" ]; then
    BOOT="${NIC_EDGE_BOOT%/}"
elif [ -d "$ROOT/boot/firmware/nic-edge" ]; then
    BOOT="$ROOT/boot/firmware"
elif [ -d "$ROOT/boot/nic-edge" ]; then
    BOOT="$ROOT/boot"
else
    log "no nic-edge bundle on the boot partition; nothing to do"
    exit 0
fi
BUNDLE="$BOOT/nic-edge"

# What a killed nic-fleet flash leaves beside the bundle (its stage, or an old bundle an older
# flash parked aside): never used from here, and it may hold secrets, so it goes.
for left in "$BOOT/nic-edge.nic-tmp" "$BOOT/nic-edge.nic-old"; do
    [ -e "$left" ] || continue
    rm -rf "$left"
    log "removed ${left##*/} left on the boot partition by an interrupted nic-fleet flash"
done

# Remove our systemd.run= (and, when no other systemd.run= is left, the actions that came with
# it) from cmdline.txt so the next boot is a normal one. Rewrites the file only when it changes.
unhook_cmdline() {
    cmd="$BOOT/cmdline.txt"
    [ -f "$cmd" ] || return 0
    grep -q 'nic-edge/firstboot\.sh' "$cmd" || return 0
    awk '{
        n = split($0, t, " "); others = 0; out = ""
        for (i = 1; i <= n; i++)
            if (t[i] ~ /^systemd\.run=/ && t[i] !~ /nic-edge\/firstboot\.sh$/) others = 1
        for (i = 1; i <= n; i++) {
            if (t[i] ~ /^systemd\.run=.*nic-edge\/firstboot\.sh$/) continue
            if (!others && (t[i] ~ /^systemd\.run_(success|failure)_action=/ ||
                            t[i] == "systemd.unit=kernel-command-line.target")) continue
            out = (out == "" ? t[i] : out " " t[i])
        }
        print out
    }' "$cmd" > "$cmd.nic-tmp"
    mv -f "$cmd.nic-tmp" "$cmd"
    sync
    log "removed the first-boot hook from cmdline.txt"
}

fail() {
    log "FAILED: $*"
    echo "$*" > "$BUNDLE/FAILED" 2>/dev/null || true
    exit 1
}

on_exit() {
    rc=$?
    [ "$rc" = 0 ] && return 0
    [ -f "$BUNDLE/FAILED" ] || echo "exit status $rc (see the journal)" > "$BUNDLE/FAILED" 2>/dev/null || true
    # Leave the bundle for inspection but never boot into this hook again (no reboot loop).
    unhook_cmdline || true
    exit "$rc"
}
trap on_exit EXIT

as_service_user() {  # chown to the service user and its group (real boxes only)
    [ "$FAKE" = 1 ] && return 0
    chown "$SVC_USER:$(id -gn "$SVC_USER")" "$@"
}

ensure_user() {
    [ "$FAKE" = 1 ] && return 0
    id -u "$SVC_USER" >/dev/null 2>&1 && return 0
    useradd --system --user-group --home-dir /var/lib/nic-edge --no-create-home \
        --shell /usr/sbin/nologin "$SVC_USER" || fail "cannot create user $SVC_USER"
    log "created system user $SVC_USER"
}

install_bundle() {
    [ -f "$BUNDLE/MANIFEST" ] || fail "$BUNDLE/MANIFEST missing (an interrupted nic-fleet flash?); flash the card again"
    # Check the whole bundle before touching /etc: a half-copied card must not half-install.
    while read -r mode name; do
        [ -n "$name" ] || continue
        # Absolute or with a ".." component (it could climb out of the target directory);
        # "rev1..2.txt" is an ordinary name. nic-fleet flash refuses the same names.
        case "$name" in /*|..|../*|*/..|*/../*) fail "unsafe name in MANIFEST: $name" ;; esac
        [ -f "$BUNDLE/$name" ] || fail "bundle file missing: $name; flash the card again"
    done < "$BUNDLE/MANIFEST"
    ensure_user
    mkdir -p "$ETC" "$STATE"
    chmod 0750 "$ETC" "$STATE"
    [ "$FAKE" = 1 ] || chown "root:$(id -gn "$SVC_USER")" "$ETC"
    as_service_user "$STATE"
    while read -r mode name; do
        [ -n "$name" ] || continue
        case "$name" in
            firstboot.sh) continue ;;  # stays on the boot partition (it is running)
            nic-edge.service) dest="$ETC/.nic-edge.service" ;;
            manuals/*) dest="$STATE/$name"; mode=0640 ;;
            content.nicb) dest="$STATE/content/flashed.nicb"; mode=0640 ;;  # serve applies it
            *) dest="$ETC/$name" ;;
        esac
        mkdir -p "$(dirname "$dest")"
        cp "$BUNDLE/$name" "$dest.nic-tmp"
        chmod "$mode" "$dest.nic-tmp"
        case "$mode" in
            600|0600|640|0640) as_service_user "$dest.nic-tmp" ;;
        esac
        mv -f "$dest.nic-tmp" "$dest"
    done < "$BUNDLE/MANIFEST"
    for dir in "$STATE/manuals" "$STATE/content"; do
        [ -d "$dir" ] || continue
        chmod 0750 "$dir"
        [ "$FAKE" = 1 ] || chown -R "$SVC_USER:$(id -gn "$SVC_USER")" "$dir"
    done
    sync
    # Now delete everything but this script from the FAT partition, secrets first.
    while read -r mode name; do
        case "$mode" in 600|0600) rm -f "$BUNDLE/$name" ;; esac
    done < "$BUNDLE/MANIFEST"
    for entry in "$BUNDLE"/* "$BUNDLE"/.[!.]*; do
        [ -e "$entry" ] || continue
        case "${entry##*/}" in firstboot.sh) ;; *) rm -rf "$entry" ;; esac
    done
    sync
    log "bundle installed into /etc/nic-edge"
}

install_service() {
    unit="$ETC/.nic-edge.service"
    if [ ! -x "$VENV_BIN" ]; then
        if [ ! -f "$ETC/NEEDS-INSTALL" ]; then
            printf '%s\n' "nic-edge is configured but not installed: run install.sh from the nic-edge" \
                "release (see docs/PROVISIONING.md); it installs and enables nic-edge.service." \
                > "$ETC/NEEDS-INSTALL"
            chmod 0644 "$ETC/NEEDS-INSTALL"
        fi
        log "no /opt/nic-edge/venv: configuration is in place, run install.sh to finish"
        return 0
    fi
    if [ -f "$unit" ] && ! cmp -s "$unit" "$UNIT_DIR/nic-edge.service" 2>/dev/null; then
        mkdir -p "$UNIT_DIR"
        cp "$unit" "$UNIT_DIR/nic-edge.service.nic-tmp"
        chmod 0644 "$UNIT_DIR/nic-edge.service.nic-tmp"
        mv -f "$UNIT_DIR/nic-edge.service.nic-tmp" "$UNIT_DIR/nic-edge.service"
        log "installed nic-edge.service"
    fi
    [ -f "$UNIT_DIR/nic-edge.service" ] || { log "nic-edge.service not found"; return 0; }
    rm -f "$ETC/NEEDS-INSTALL"
    wants="$UNIT_DIR/multi-user.target.wants/nic-edge.service"
    # Say what state the service is in either way: a unit already installed and enabled by
    # install.sh (an image built that way) must not leave the journal silent about it.
    if [ -L "$wants" ]; then
        log "nic-edge.service was already enabled; it starts at boot"
    elif [ "$FAKE" = 1 ]; then
        # What "systemctl enable" does, for fake roots and unprivileged test runs.
        mkdir -p "${wants%/*}"
        ln -s /etc/systemd/system/nic-edge.service "$wants"
        log "enabled nic-edge.service; it starts at boot"
    elif [ -n "$ROOT" ]; then
        systemctl --root="$ROOT" enable nic-edge.service
        log "enabled nic-edge.service; it starts at boot"
    else
        systemctl enable nic-edge.service
        log "enabled nic-edge.service; it starts at boot"
    fi
    if [ "$FAKE" != 1 ] && [ -z "$ROOT" ]; then
        systemctl daemon-reload || true
        if [ "$NOW" = 1 ]; then
            systemctl restart nic-edge.service
            log "started nic-edge.service"
        fi
    fi
    return 0
}

if [ -f "$BUNDLE/device.toml" ]; then
    install_bundle
else
    log "no new bundle in $BUNDLE; checking the service only"
fi
[ -f "$ETC/device.toml" ] ||
    fail "no bundle in $BUNDLE, no /etc/nic-edge/device.toml (an interrupted nic-fleet flash?); flash the card again"
install_service
unhook_cmdline
rm -f "$BUNDLE/FAILED"
exit 0
