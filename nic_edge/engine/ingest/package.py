"""Reading the ZIP packages office documents are (Word .docx, OpenDocument .odt), hostile ones
included: each part read no further than a limit (a ZIP bomb's header claims what it likes;
zipfile reads no further than that claim and a forged one fails its CRC), no DOCTYPE (office
formats never write one; entity tricks need one), damaged ZIP or XML refused with a reason, and
the document part streamed one top-level block at a time."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import IO, Iterator

from nic_edge.errors import IngestError

MAX_PART_BYTES = 64 * 1024 * 1024   # the document part unpacked: ~8-20 MB of text, a very long manual
MAX_SIDE_BYTES = 16 * 1024 * 1024   # styles, numbering, relationships, manifest
# What zipfile raises on a damaged or hostile archive (a flipped bit in a deflate stream is a
# zlib.error; a forged header an unsupported "version" or a short struct).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
              NotImplementedError, RuntimeError, zlib.error, struct.error, UnicodeDecodeError,
              KeyError, IndexError, OverflowError)
_XML_ERRORS = (ET.ParseError, LookupError, UnicodeError, ValueError)   # LookupError: an unknown encoding


def damaged(name: str, what: str, ext: str) -> IngestError:
    return IngestError(f"{name}: {what}", f"open it in the word processor and save it again as "
                                          f"{ext}, or as PDF")


def too_big(name: str, path: str, limit: int) -> IngestError:
    return IngestError(f"{name}: {path} unpacks to more than {limit // 2**20} MiB, more than a "
                       "manual holds", "split the document, or save it as PDF")


def open_zip(data: bytes, name: str, label: str, ext: str) -> zipfile.ZipFile:
    """The package, or IngestError naming it ("not a readable Word document")."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as exc:
        raise damaged(name, f"not a readable {label} document ({exc})", ext) from None


class Limited(io.RawIOBase):
    """A part's bytes (its first ``head`` already read), read no further than ``limit``."""

    def __init__(self, member: IO[bytes], head: bytes, limit: int, name: str, path: str,
                 ext: str) -> None:
        self.member, self.head, self.limit = member, head, limit
        self.name, self.path, self.ext = name, path, ext
        self.done = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
        else:
            try:
                data = self.member.read(size if size and size > 0 else 65536)
            except ZIP_ERRORS as exc:
                raise damaged(self.name, f"cannot unpack {self.path} ({exc})", self.ext) from None
        self.done += len(data)
        if self.done > self.limit:
            raise too_big(self.name, self.path, self.limit)
        return data

    def close(self) -> None:
        self.member.close()
        super().close()


def part(zf: zipfile.ZipFile, path: str, name: str, ext: str, limit: int) -> IO[bytes] | None:
    """A part of the package as a stream that stops at ``limit`` bytes unpacked and refuses a
    DOCTYPE; None if the part is absent."""
    try:
        info = zf.getinfo(path)
    except KeyError:
        return None
    if info.file_size > limit:
        raise too_big(name, path, limit)
    try:
        member = zf.open(info)
        head = member.read(4096)
    except ZIP_ERRORS as exc:
        raise damaged(name, f"cannot unpack {path} ({exc})", ext) from None
    if b"<!DOCTYPE" in head.upper():
        raise damaged(name, f"{path} declares a DOCTYPE, which {ext} documents never do", ext)
    return Limited(member, head, limit, name, path, ext)


def parse(stream: IO[bytes], path: str, name: str, ext: str) -> ET.Element:
    try:
        return ET.parse(stream).getroot()
    except _XML_ERRORS as exc:
        raise damaged(name, f"{path} is damaged ({exc})", ext) from None


def blocks(stream: IO[bytes], container: str, path: str, name: str, ext: str) -> Iterator[ET.Element]:
    """The top-level elements of the document's ``container`` (Word's body, OpenDocument's
    office:text) one at a time, each complete, and dropped once read: what is held at once is
    one paragraph, list or table, not the whole manual's tree."""
    depth = 0
    body: ET.Element | None = None
    body_depth = 0
    try:
        for event, el in ET.iterparse(stream, events=("start", "end")):
            if event == "start":
                depth += 1
                if el.tag == container and body is None:
                    body, body_depth = el, depth
                continue
            if body is not None and depth == body_depth + 1:
                yield el
                body.clear()
            depth -= 1
    except _XML_ERRORS as exc:
        raise damaged(name, f"{path} is damaged ({exc})", ext) from None


def member_size(data_or_path: object, path: str) -> int | None:
    """The unpacked size a package's header gives ``path``, or None if it cannot tell."""
    try:
        with zipfile.ZipFile(data_or_path) as zf:   # type: ignore[arg-type]
            return sum(i.file_size for i in zf.infolist() if i.filename == path)
    except ZIP_ERRORS:
        return None


def has_member(data: bytes, path: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return path in zf.namelist()
    except ZIP_ERRORS:
        return False


__all__ = ["MAX_PART_BYTES", "MAX_SIDE_BYTES", "ZIP_ERRORS", "Limited", "blocks", "damaged",
           "has_member", "member_size", "open_zip", "parse", "part", "too_big"]
