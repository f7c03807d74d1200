"""Read an image's partition table (MBR, or GPT behind a protective MBR) and find the FAT boot partition.

Raspberry Pi OS images use MBR with a FAT32 (LBA) first partition; GPT is handled for boards and
images that use it. Every partition is checked against the image size so a truncated download is
caught here, before anything is written.
"""

from __future__ import annotations

import logging
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from nic_edge.errors import ProvisioningError

log = logging.getLogger(__name__)

SECTOR = 512  # Pi images (and mtools' @@offset) use 512-byte logical sectors
FAT_MBR_TYPES = {0x0B: "FAT32 (CHS)", 0x0C: "FAT32 (LBA)", 0x0E: "FAT16 (LBA)", 0x06: "FAT16"}
GPT_PROTECTIVE = 0xEE
EXTENDED_TYPES = {0x05, 0x0F, 0x85}
GPT_BASIC_DATA = uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
GPT_EFI_SYSTEM = uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
GPT_FAT_TYPES = {GPT_BASIC_DATA: "Microsoft basic data", GPT_EFI_SYSTEM: "EFI system"}


@dataclass(frozen=True)
class Partition:
    index: int          # 1-based, as fdisk numbers them
    scheme: str         # "mbr" | "gpt"
    type_id: str        # "0x0c" or a GPT type GUID
    type_name: str
    offset: int         # bytes from the start of the image
    size: int           # bytes
    name: str = ""      # GPT partition name

    @property
    def is_fat(self) -> bool:
        if self.scheme == "mbr":
            return int(self.type_id, 16) in FAT_MBR_TYPES
        return uuid.UUID(self.type_id) in GPT_FAT_TYPES


def _read_at(f, offset: int, length: int) -> bytes:  # type: ignore[no-untyped-def]
    f.seek(offset)
    return f.read(length)


def read_partitions(image: Path) -> list[Partition]:
    """All primary (MBR) or GPT partitions of ``image``; ProvisioningError when unreadable."""
    try:
        size = image.stat().st_size
        with open(image, "rb") as f:
            mbr = _read_at(f, 0, SECTOR)
            if len(mbr) < SECTOR or mbr[510:512] != b"\x55\xaa":
                raise ProvisioningError(
                    f"{image}: no partition table (no MBR boot signature)",
                    hint="pass a whole-disk Raspberry Pi OS image (.img), not a partition or archive")
            entries = [mbr[446 + 16 * i: 462 + 16 * i] for i in range(4)]
            if any(e[4] == GPT_PROTECTIVE for e in entries):
                parts = _read_gpt(f, image, size)
            else:
                parts = _read_mbr(entries)
    except OSError as exc:
        raise ProvisioningError(f"cannot read image {image}: {exc.strerror or exc}",
                                hint="check the path and permissions") from exc
    for p in parts:
        if p.offset + p.size > size:
            raise ProvisioningError(
                f"{image}: partition {p.index} ends at byte {p.offset + p.size} but the image has "
                f"only {size} bytes (truncated image?)",
                hint="download or decompress the image again and compare its checksum")
    return parts


def _read_mbr(entries: list[bytes]) -> list[Partition]:
    parts = []
    for i, e in enumerate(entries, start=1):
        ptype = e[4]
        start_lba, sectors = struct.unpack_from("<II", e, 8)
        if ptype == 0 or sectors == 0:
            continue
        if ptype in EXTENDED_TYPES:
            continue  # Pi boot partitions are primary; logical partitions are not searched
        parts.append(Partition(i, "mbr", f"0x{ptype:02x}", FAT_MBR_TYPES.get(ptype, "other"),
                               start_lba * SECTOR, sectors * SECTOR))
    return parts


def _read_gpt(f, image: Path, size: int) -> list[Partition]:  # type: ignore[no-untyped-def]
    hdr = _read_at(f, SECTOR, 92)
    if len(hdr) < 92 or hdr[:8] != b"EFI PART":
        raise ProvisioningError(f"{image}: protective MBR but no GPT header at LBA 1",
                                hint="the image is damaged or uses 4096-byte sectors (unsupported)")
    entries_lba, count, entry_size = struct.unpack_from("<QII", hdr, 72)
    if entry_size < 128 or count > 1024:
        raise ProvisioningError(f"{image}: GPT header has implausible entries ({count} x {entry_size})",
                                hint="the partition table is damaged")
    table_end = entries_lba * SECTOR + count * entry_size
    if table_end > size:
        raise ProvisioningError(f"{image}: GPT entries extend past the end of the image (truncated?)",
                                hint="download or decompress the image again")
    table = _read_at(f, entries_lba * SECTOR, count * entry_size)
    parts = []
    for i in range(count):
        e = table[i * entry_size:(i + 1) * entry_size]
        type_guid = uuid.UUID(bytes_le=e[:16])
        if type_guid.int == 0:
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le", "replace").rstrip("\x00")
        parts.append(Partition(i + 1, "gpt", str(type_guid), GPT_FAT_TYPES.get(type_guid, "other"),
                               first * SECTOR, (last - first + 1) * SECTOR, name))
    return parts


def _looks_like_fat(image: Path, offset: int) -> bool:
    """A FAT boot sector ends in 55 AA and names its type at 0x36 (FAT12/16) or 0x52 (FAT32)."""
    with open(image, "rb") as f:
        bs = _read_at(f, offset, SECTOR)
    return len(bs) == SECTOR and bs[510:512] == b"\x55\xaa" and (
        bs[0x36:0x39] == b"FAT" or bs[0x52:0x55] == b"FAT")


def find_boot_partition(image: Path) -> Partition:
    """The first FAT partition that holds a FAT file system; ProvisioningError if none."""
    parts = read_partitions(image)
    fat = [p for p in parts if p.is_fat]
    if not fat:
        found = ", ".join(f"{p.index}:{p.type_id}" for p in parts) or "none"
        raise ProvisioningError(f"{image}: no FAT boot partition (partitions: {found})",
                                hint="use a Raspberry Pi OS image; its first partition is FAT32")
    for p in fat:
        try:
            if _looks_like_fat(image, p.offset):
                log.debug("boot partition %d at offset %d (%s)", p.index, p.offset, p.type_name)
                return p
        except OSError as exc:
            raise ProvisioningError(f"cannot read image {image}: {exc}") from exc
    raise ProvisioningError(f"{image}: partition {fat[0].index} is typed FAT but holds no FAT file system",
                            hint="the image may be damaged or not yet formatted")
