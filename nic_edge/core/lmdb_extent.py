"""How much of an LMDB data file its readers can touch, read with ``pread`` (never the mmap).

Why: LMDB maps ``data.mdb`` and a reader that touches a page past the end of a truncated file
dies of SIGBUS, with nothing reported. The meta page's ``last_pgno`` is not the bound to
compare the file size with: LMDB grows the file only by writing pages (``pwrite`` at the
page's offset), and pages a transaction allocated and freed again before commit ("loose"
pages) are counted in ``last_pgno`` but never written. A healthy file can therefore end
before ``(last_pgno + 1) * psize`` -- seen on a real answer cache: 1,527,808 bytes on disk,
1,789,952 by ``last_pgno``, every entry readable. What readers can touch is the pages
reachable from the newest meta page: both B-trees (free list and main), the named databases
whose roots the main tree holds, and overflow pages of large values. This module walks them
with ``os.pread`` (a short read past EOF is harmless) and returns the highest page needed.

Layout (lmdb.h/mdb.c 0.9, the version py-lmdb bundles), for a word size W (8 on 64-bit, 4 on
a 32-bit userland): page header ``pgno(W) pad(2) flags(2) lower(2) upper(2)``; meta after the
header: ``magic(4) version(4) address(W) mapsize(W) dbs[2] last_pg(W) txnid(W)``; a db record:
``pad(4) flags(2) depth(2) branch(W) leaf(W) overflow(W) entries(W) root(W)``; a node:
``lo(2) hi(2) flags(2) ksize(2) key data``.
"""

from __future__ import annotations

import os
import struct

MAGIC = 0xBEEFC0DE
P_BRANCH, P_LEAF, P_OVERFLOW, P_LEAF2 = 0x01, 0x02, 0x04, 0x20
F_BIGDATA, F_SUBDATA = 0x01, 0x02


class Truncated(Exception):
    """A page readers can reach lies past the end of the file."""


class _Layout:
    def __init__(self, word: int) -> None:
        self.w = word
        self.fmt = "<Q" if word == 8 else "<I"
        self.hdr = word + 8                      # PAGEHDRSZ
        self.db_size = 8 + 5 * word              # sizeof(MDB_db)
        self.db_root = 8 + 4 * word              # offset of md_root in MDB_db
        self.meta_dbs = self.hdr + 8 + 2 * word  # offset of mm_dbs in the meta page
        self.invalid = (1 << (8 * word)) - 1     # P_INVALID: empty tree

    def word_at(self, buf: bytes, off: int) -> int:
        return struct.unpack_from(self.fmt, buf, off)[0]


def needed_pages(path: str, psize: int, word: int | None = None) -> int:
    """Pages the file must hold for every reachable page to be readable (max pgno + 1).

    Raises Truncated as soon as a reachable page lies past EOF, ValueError on a page that does
    not parse (the caller treats both as an unusable store)."""
    lay = _Layout(word or struct.calcsize("P"))
    fd = os.open(path, os.O_RDONLY)
    try:
        n_pages = os.fstat(fd).st_size // psize

        def page(pgno: int) -> bytes:
            if pgno >= n_pages:
                raise Truncated(f"page {pgno} is past the end of the file ({n_pages} pages)")
            buf = os.pread(fd, psize, pgno * psize)
            if len(buf) < psize:
                raise Truncated(f"page {pgno} is short")
            return buf

        roots = _newest_meta_roots(page(0), page(1), lay)
        highest = 1
        stack = [r for r in roots if r != lay.invalid]
        seen: set[int] = set()
        while stack:
            pgno = stack.pop()
            if pgno in seen:
                raise ValueError(f"page {pgno} reached twice")
            seen.add(pgno)
            highest = max(highest, pgno)
            buf = page(pgno)
            flags = struct.unpack_from("<H", buf, lay.w + 2)[0]
            lower = struct.unpack_from("<H", buf, lay.w + 4)[0]
            if flags & P_LEAF2:
                continue  # fixed-size duplicates: no nodes, no children
            if not flags & (P_BRANCH | P_LEAF) or lower < lay.hdr or lower > psize:
                raise ValueError(f"page {pgno} is not a tree page (flags {flags:#x})")
            for i in range((lower - lay.hdr) // 2):
                off = struct.unpack_from("<H", buf, lay.hdr + 2 * i)[0]
                lo, hi, nflags, ksize = struct.unpack_from("<4H", buf, off)
                if flags & P_BRANCH:
                    child = lo | (hi << 16) | ((nflags << 32) if lay.w == 8 else 0)
                    stack.append(child)
                    continue
                data = off + 8 + ksize
                if nflags & F_BIGDATA:
                    first = lay.word_at(buf, data)
                    ov = page(first)
                    count = struct.unpack_from("<I", ov, lay.w + 4)[0]
                    if not struct.unpack_from("<H", ov, lay.w + 2)[0] & P_OVERFLOW or count < 1:
                        raise ValueError(f"page {first} is not an overflow page")
                    page(first + count - 1)
                    highest = max(highest, first + count - 1)
                elif nflags & F_SUBDATA:
                    root = lay.word_at(buf, data + lay.db_root)
                    if root != lay.invalid:
                        stack.append(root)
        return highest + 1
    finally:
        os.close(fd)


def _newest_meta_roots(m0: bytes, m1: bytes, lay: _Layout) -> tuple[int, int]:
    best: tuple[int, int, int] | None = None
    for buf in (m0, m1):
        if struct.unpack_from("<I", buf, lay.hdr)[0] != MAGIC:
            continue
        txnid = lay.word_at(buf, lay.meta_dbs + 2 * lay.db_size + lay.w)
        free_root = lay.word_at(buf, lay.meta_dbs + lay.db_root)
        main_root = lay.word_at(buf, lay.meta_dbs + lay.db_size + lay.db_root)
        if best is None or txnid > best[0]:
            best = (txnid, free_root, main_root)
    if best is None:
        raise ValueError("no valid meta page")
    return best[1], best[2]
