#!/usr/bin/env bash
# Build (or take from the cache) a Debian Bookworm disk image laid out like Raspberry Pi OS, with
# nic-edge installed by firmware/install.sh in its chroot. Used by the system test
# (tests/system/, `bash tools/test.sh --system`); prints the image's path on its last line.
#
#   bash tools/system/build_image.sh [amd64|arm64] [--base-only]
#
# --base-only: build (or take from the cache) only the debootstrap base system and print the
# path of its tar (the arm64 userland test, tools/system/userland_arm64.sh, starts from it).
#
# Layout, as Raspberry Pi OS Bookworm: MBR with a FAT32 boot partition "bootfs" (config.txt,
# cmdline.txt, kernel and initramfs) and an ext4 root "rootfs", both referred to by PARTUUID
# (cmdline.txt's root=, /etc/fstab mounts the boot partition on /boot/firmware). No loop devices
# and no mounting: mkfs.vfat + mtools, `mke2fs -d`, sfdisk and dd.
#
# Two cache layers under $NIC_SYSTEM_CACHE (default ~/.cache/nic-edge-system):
#   base-<arch>-<hash>.tar   debootstrap of the base system (key: suite, arch, package list)
#   image-<arch>-<hash>.img  the installed image (key: base + the package source, firmware/ and
#                            this script), so any change of the code under test rebuilds it
# Root is needed (chroot, file ownership in the image).
#
# TEST ONLY pieces added to the image (not part of the product, all named nic-system-test*):
# the guest agent (tests/system/guest/) that runs the test's commands over a virtio-serial port,
# a persistent journal copied to the serial console, and a DHCP network config for qemu's user
# network.
#
# arm64 (on demand, `bash tools/test.sh --system-arm64`) is built the same way on an x86 host
# through qemu-user + binfmt_misc (qemu-user-static): every program run in the chroot is
# emulated. Under it QEMU_CPU=cortex-a72 (numpy gave wrong results and tflite-runtime failed on
# qemu-user's default CPU model) and an empty tmpfs over the chroot's /sys (ai-edge-litert
# segfaults reading the x86 host's /sys/devices/system/cpu cache files).
set -euo pipefail
ARCH=${1:-amd64}
BASE_ONLY=no
[ "${2:-}" = "--base-only" ] && BASE_ONLY=yes
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${NIC_SYSTEM_CACHE:-$HOME/.cache/nic-edge-system}
MIRROR=${NIC_SYSTEM_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BOOT_MB=256
say() { echo "build_image: $*" >&2; }

case "$ARCH" in
    amd64) KERNEL_PKG=linux-image-amd64; CONSOLE_TTY=ttyS0 ;;
    arm64) KERNEL_PKG=linux-image-arm64; CONSOLE_TTY=ttyAMA0 ;;  # qemu virt's PL011 UART
    *) say "unsupported arch $ARCH (amd64 or arm64)"; exit 2 ;;
esac
SYS_FS=sysfs
EMU_ENV=()  # what the chroot's `env -i` passes on to the emulator (arm64 on x86 only)
if [ "$ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || {
        say "arm64 on $(uname -m) needs qemu-user-static registered with binfmt_misc (qemu-aarch64)"; exit 2; }
    export QEMU_CPU=cortex-a72
    EMU_ENV=(QEMU_CPU=cortex-a72)
    SYS_FS=tmpfs
fi
[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot)"; exit 2; }
for tool in debootstrap mkfs.vfat mcopy mke2fs sfdisk; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || { say "missing $tool"; exit 2; }
done
export PATH="$PATH:/usr/sbin:/sbin"
mkdir -p "$CACHE"

# Only the base system: install.sh installs its own packages (python3-venv etc.) with apt.
BASE_PKGS="systemd-sysv,udev,kmod,$KERNEL_PKG,initramfs-tools,dosfstools,e2fsprogs,iproute2,procps,ca-certificates,python3"
base_key=$(printf '%s\n' "base-v1" "$SUITE" "$ARCH" "$BASE_PKGS" "$MIRROR" | sha256sum | cut -c1-16)
BASE="$CACHE/base-$ARCH-$base_key.tar"

# shellcheck source=tools/system/chroot.sh
. "$REPO/tools/system/chroot.sh"
chroot_workdir "$CACHE" work

if [ ! -f "$BASE" ]; then
    say "debootstrap $SUITE $ARCH (cached afterwards as ${BASE##*/})"
    start=$(date +%s)
    ok=0
    for attempt in 1 2; do  # a second try only for a network hiccup; a real failure fails twice
        if debootstrap --variant=minbase --arch="$ARCH" --include="$BASE_PKGS" "$SUITE" "$ROOT" "$MIRROR" \
                >"$WORK/debootstrap.log" 2>&1; then
            ok=1; break
        fi
        tail -n 30 "$WORK/debootstrap.log" >&2
        [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
        say "debootstrap failed (attempt $attempt)"
        rm -rf "$ROOT"
    done
    [ "$ok" = 1 ] || exit 1
    chroot "$ROOT" apt-get clean
    tar -C "$ROOT" -cf "$BASE.tmp" . && mv -f "$BASE.tmp" "$BASE"
    rm -rf "$ROOT"
    say "base system built in $(( $(date +%s) - start )) s"
fi
if [ "$BASE_ONLY" = yes ]; then
    echo "$BASE"
    exit 0
fi

# The package source as install.sh gets it: the files git knows (committed or not), no venvs.
SRC_TAR="$WORK/src.tar"
(cd "$REPO" && git ls-files -co --exclude-standard -- nic_edge firmware config pyproject.toml README.md LICENSE* \
    | LC_ALL=C sort | tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$SRC_TAR" -T -)
image_key=$( { echo "image-v1 $base_key"; sha256sum "$0" "$REPO/tools/system/chroot.sh" "$REPO"/tests/system/guest/*; tar -xOf "$SRC_TAR" | sha256sum;
               tar -tvf "$SRC_TAR" | awk '{print $1, $NF}'; } | sha256sum | cut -c1-16)
IMAGE="$CACHE/image-$ARCH-$image_key.img"
if [ -f "$IMAGE" ]; then
    say "cached image ${IMAGE##*/}"
    echo "$IMAGE"
    exit 0
fi

start=$(date +%s)
say "installing nic-edge into a copy of the base system with firmware/install.sh (chroot)"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$BASE"
chroot_mounts "$ROOT" "$SYS_FS"
mkdir -p "$CACHE/pip-cache" "$ROOT/root/.cache/pip"
mnt --bind "$CACHE/pip-cache" "$ROOT/root/.cache/pip"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# No package may start a service inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mkdir -p "$ROOT/tmp/nic-edge-src"
tar -C "$ROOT/tmp/nic-edge-src" -xf "$SRC_TAR"
# pip inside the chroot trusts what this host trusts (a build host may sit behind a TLS proxy
# with its own CA); the image itself keeps Debian's store.
host_ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
pip_ca=()
if [ -f "$host_ca" ]; then
    cp "$host_ca" "$ROOT/tmp/nic-edge-build-ca.crt"
    pip_ca=(PIP_CERT=/tmp/nic-edge-build-ca.crt)
fi
if ! chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip_ca[@]}" "${EMU_ENV[@]}" sh /tmp/nic-edge-src/firmware/install.sh /tmp/nic-edge-src \
        >"$WORK/install.log" 2>&1; then
    tail -n 40 "$WORK/install.log" >&2
    say "firmware/install.sh failed in the chroot"; exit 1
fi
grep -E '^(== |installed nic-edge|systemd is not running)' "$WORK/install.log" | sed 's/^/  install.sh: /' >&2
# What pip really put into the venv next to Debian's packages (docs/PROVISIONING.md, numpy).
chroot "$ROOT" /opt/nic-edge/venv/bin/python -c 'import numpy, lmdb, msgpack, psutil; print("versions: numpy", numpy.__version__, numpy.__file__.split("/")[1], "| lmdb", lmdb.__version__, "| msgpack", ".".join(map(str, msgpack.version)), "| psutil", psutil.__version__)' >&2

# ---- the rest is the image around it -------------------------------------------------------
label_id=$(printf '%s' "$image_key" | cut -c1-8)
PARTUUID_BOOT="$label_id-01"
PARTUUID_ROOT="$label_id-02"
cat > "$ROOT/etc/fstab" <<EOF
PARTUUID=$PARTUUID_BOOT  /boot/firmware  vfat  defaults  0  2
PARTUUID=$PARTUUID_ROOT  /               ext4  defaults,noatime  0  1
EOF
mkdir -p "$ROOT/boot/firmware"
echo nic-system-test > "$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 nic-system-test\n' > "$ROOT/etc/hosts"
printf 'nameserver 10.0.2.3\n' > "$ROOT/etc/resolv.conf"
# TEST ONLY: DHCP on qemu's user network, a persistent journal (the first boot's log is read in
# the second boot) and the guest agent.
mkdir -p "$ROOT/etc/systemd/network" "$ROOT/var/log/journal" "$ROOT/etc/systemd/journald.conf.d"
# ... and the journal on the serial console, whose tail a failing test prints.
printf '# nic-system-test
[Journal]
ForwardToConsole=yes
TTYPath=/dev/%s
MaxLevelConsole=info
' "$CONSOLE_TTY" \
    > "$ROOT/etc/systemd/journald.conf.d/nic-system-test.conf"
printf '# nic-system-test: qemu user network\n[Match]\nName=en* eth*\n[Network]\nDHCP=ipv4\n' \
    > "$ROOT/etc/systemd/network/20-nic-system-test.network"
install -m 0755 "$REPO/tests/system/guest/nic-system-test-agent" "$ROOT/usr/local/sbin/nic-system-test-agent"
install -m 0644 "$REPO/tests/system/guest/nic-system-test-agent.service" \
    "$ROOT/etc/systemd/system/nic-system-test-agent.service"
chroot "$ROOT" systemctl enable systemd-networkd.service nic-system-test-agent.service >/dev/null 2>&1
rm -f "$ROOT/usr/sbin/policy-rc.d"
rm -rf "$ROOT/tmp/nic-edge-src" "$ROOT/tmp/nic-edge-build-ca.crt" "$ROOT/var/cache/apt/archives/"*.deb "$ROOT/var/lib/apt/lists/"*_Packages
for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}"; done
MOUNTS=()

# Boot partition: what the Pi firmware reads (config.txt, cmdline.txt, kernel, initramfs).
kernel=$(cd "$ROOT/boot" && ls vmlinuz-* | sort -V | tail -n 1)
initrd="initrd.img-${kernel#vmlinuz-}"
mkdir -p "$WORK/bootfs"
cp "$ROOT/boot/$kernel" "$WORK/bootfs/vmlinuz"
cp "$ROOT/boot/$initrd" "$WORK/bootfs/initrd.img"
cat > "$WORK/bootfs/config.txt" <<'EOF'
# For more options and information see
# http://rptl.io/configtxt
# nic-edge system test image: Raspberry Pi OS Bookworm layout, generic Debian kernel
dtparam=audio=on
# /boot/firmware/overlays/README
enable_uart=1
kernel=vmlinuz
initramfs initrd.img followkernel
EOF
printf 'console=serial0,115200 console=tty1 root=PARTUUID=%s rootfstype=ext4 fsck.repair=yes rootwait\n' \
    "$PARTUUID_ROOT" > "$WORK/bootfs/cmdline.txt"
rm -f "$WORK/boot.img"
mkfs.vfat -F 32 -n bootfs -C "$WORK/boot.img" $((BOOT_MB * 1024)) >/dev/null 2>&1
mcopy -i "$WORK/boot.img" -s "$WORK/bootfs/"* ::

used_mb=$(du -sm "$ROOT" | cut -f1)
ROOT_MB=$(( used_mb + used_mb / 4 + 768 ))  # room for the index, caches, journal
mke2fs -q -F -t ext4 -L rootfs -d "$ROOT" "$WORK/root.img" "${ROOT_MB}M" >/dev/null
rm -rf "$ROOT"

img="$WORK/disk.img"
truncate -s $(( (4 + BOOT_MB + ROOT_MB) * 1024 * 1024 )) "$img"
sfdisk -q "$img" <<EOF
label: dos
label-id: 0x$label_id
unit: sectors
start=8192, size=$((BOOT_MB * 2048)), type=c
start=$((8192 + BOOT_MB * 2048)), size=$((ROOT_MB * 2048)), type=83
EOF
dd if="$WORK/boot.img" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$WORK/root.img" of="$img" bs=1M seek=$((4 + BOOT_MB)) conv=notrunc,sparse status=none
mv -f "$img" "$IMAGE"
# Keep the cache bounded: the two newest images of this arch.
ls -t "$CACHE"/image-"$ARCH"-*.img 2>/dev/null | tail -n +3 | xargs -r rm -f
say "image ${IMAGE##*/} built in $(( $(date +%s) - start )) s (root ${ROOT_MB} MiB, boot ${BOOT_MB} MiB)"
echo "$IMAGE"
