"""Build small Raspberry Pi OS-like disk images for provisioning tests (no root, no loop mounts).

A FAT32 file system is made with mkfs.vfat in a separate file, then placed at an offset inside an
image whose MBR or GPT partition table is written here in Python.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest

from nic_edge.core.storage import file_sha256

SECTOR = 512
FAT_START = 8192          # sectors (4 MiB), like Raspberry Pi OS images
FAT_SECTORS = 80 * 2048   # 80 MiB: comfortably FAT32 with 1-sector clusters
ROOT_SECTORS = 4 * 2048   # a small "ext4" partition that must stay untouched
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}

BOOKWORM_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
                    "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
CONFIG_TXT = ("# For more options and information see\n# http://rptl.io/configtxt\n"
              "dtparam=audio=on\n# /boot/firmware/overlays/README\narm_64bit=1\n")


def require_tools() -> None:
    missing = [t for t in ("mcopy", "mtype", "mdir", "mkfs.vfat") if shutil.which(t) is None]
    if missing:
        pytest.skip("needs mtools and dosfstools (apt-get install mtools dosfstools): missing "
                    + ", ".join(missing))


def _mbr(entries: list[tuple[int, int, int]]) -> bytes:
    mbr = bytearray(SECTOR)
    struct.pack_into("<I", mbr, 440, 0x4E639091)  # disk signature (PARTUUID prefix)
    for i, (ptype, start, count) in enumerate(entries):
        off = 446 + 16 * i
        mbr[off] = 0x80 if i == 0 else 0
        mbr[off + 1:off + 4] = b"\xfe\xff\xff"
        mbr[off + 4] = ptype
        mbr[off + 5:off + 8] = b"\xfe\xff\xff"
        struct.pack_into("<II", mbr, off + 8, start, count)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def _gpt(total_sectors: int, parts: list[tuple[uuid.UUID, int, int, str]]) -> tuple[bytes, bytes]:
    """(LBA 1 header + LBA 2.. entries, backup header + entries) with real CRCs."""
    entries = bytearray(128 * 128)
    for i, (ptype, first, last, name) in enumerate(parts):
        e = ptype.bytes_le + uuid.uuid4().bytes_le + struct.pack("<QQQ", first, last, 0)
        e += name.encode("utf-16-le").ljust(72, b"\0")
        entries[i * 128:(i + 1) * 128] = e
    entries_crc = zlib.crc32(entries)

    def header(current: int, backup: int, entries_lba: int) -> bytes:
        h = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x00010000, 92, 0, 0,
                                  current, backup, 34, total_sectors - 34, uuid.uuid4().bytes_le,
                                  entries_lba, 128, 128, entries_crc))
        struct.pack_into("<I", h, 16, zlib.crc32(h))
        return bytes(h).ljust(SECTOR, b"\0")

    primary = header(1, total_sectors - 1, 2) + bytes(entries)
    backup = bytes(entries) + header(total_sectors - 1, 1, total_sectors - 33)
    return primary, backup


def make_fat(path: Path, files: dict[str, bytes]) -> None:
    subprocess.run(["mkfs.vfat", "-F", "32", "-s", "1", "-n", "bootfs", "-C", str(path),
                    str(FAT_SECTORS * SECTOR // 1024)], check=True, capture_output=True)
    dirs = sorted({"/".join(n.split("/")[:i]) for n in files for i in range(1, n.count("/") + 1)})
    for d in dirs:
        subprocess.run(["mmd", "-i", str(path), "::/" + d], check=True, capture_output=True, env=MTOOLS_ENV)
    for name, data in files.items():
        src = path.parent / ("src-" + name.replace("/", "_"))
        src.write_bytes(data)
        subprocess.run(["mcopy", "-i", str(path), str(src), "::/" + name], check=True,
                       capture_output=True, env=MTOOLS_ENV)
        src.unlink()


def make_image(path: Path, files: dict[str, bytes], scheme: str = "mbr", fat_type: int = 0x0C) -> int:
    """Write a disk image; returns the FAT partition's byte offset."""
    fat = path.parent / (path.name + ".fat")
    make_fat(fat, files)
    total = FAT_START + FAT_SECTORS + ROOT_SECTORS + 64
    root_start = FAT_START + FAT_SECTORS
    with open(path, "wb") as f:
        f.truncate(total * SECTOR)
        if scheme == "mbr":
            f.write(_mbr([(fat_type, FAT_START, FAT_SECTORS), (0x83, root_start, ROOT_SECTORS)]))
        else:
            f.write(_mbr([(0xEE, 1, min(total - 1, 0xFFFFFFFF))]))
            basic = uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
            linux = uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
            primary, backup = _gpt(total, [(basic, FAT_START, FAT_START + FAT_SECTORS - 1, "boot"),
                                           (linux, root_start, root_start + ROOT_SECTORS - 1, "root")])
            f.seek(SECTOR)
            f.write(primary)
            f.seek((total - 33) * SECTOR)
            f.write(backup)
        f.seek(FAT_START * SECTOR)
        with open(fat, "rb") as src:
            shutil.copyfileobj(src, f, 1 << 20)
        f.seek(root_start * SECTOR)
        f.write(b"ROOTFS-MARKER" * 100)  # the root partition must never change
    fat.unlink()
    return FAT_START * SECTOR


def mtype(image: Path, offset: int, name: str) -> bytes | None:
    proc = subprocess.run(["mtype", "-i", f"{image}@@{offset}", "::/" + name], capture_output=True,
                          env=MTOOLS_ENV)
    return proc.stdout if proc.returncode == 0 else None


def mdir_tree(image: Path, offset: int) -> dict[str, str]:
    """path -> sha256 of every file on the FAT partition (read back with mdir + mtype)."""
    proc = subprocess.run(["mdir", "-/", "-b", "-i", f"{image}@@{offset}", "::/"], capture_output=True,
                          env=MTOOLS_ENV, check=True)
    out = {}
    for line in proc.stdout.decode().splitlines():
        path = line.strip()
        if not path or path.endswith("/"):
            continue
        rel = path.split("::/", 1)[-1]
        data = mtype(image, offset, rel)
        if data is not None:
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


sha256_file = file_sha256
