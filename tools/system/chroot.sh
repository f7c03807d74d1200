# Sourced by tools/system/build_image.sh and tools/system/userland_arm64.sh: a throwaway work dir
# holding a chroot's root folder, and the chroot's mounts, undone in reverse with the dir on exit.

chroot_workdir() {  # chroot_workdir DIR PREFIX: sets WORK (a new dir in DIR) and ROOT (WORK/root)
    WORK=$(mktemp -d "$1/$2.XXXXXX")
    ROOT="$WORK/root"
    MOUNTS=()
    trap chroot_cleanup EXIT
}

chroot_cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
    MOUNTS=()
    rm -rf "$WORK"
}

mnt() { mount "$@"; MOUNTS+=("${@: -1}"); }

chroot_mounts() {  # chroot_mounts ROOT SYS_FS: /proc, /sys (sysfs; tmpfs under qemu-user), /dev, /dev/pts
    mnt -t proc proc "$1/proc"
    mnt -t "$2" "$2" "$1/sys"
    mnt --bind /dev "$1/dev"
    mnt --bind /dev/pts "$1/dev/pts"
}
