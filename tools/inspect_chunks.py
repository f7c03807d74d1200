#!/usr/bin/env python3
"""Print what ingest makes of a manual: chunk count, sections found, a few sample chunks.

Usage: python3 tools/inspect_chunks.py PATH [--samples N] [--sections N] [--grep TEXT]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.engine.ingest import load_file  # noqa: E402
from nic_edge.engine.notices import find_notices  # noqa: E402
from nic_edge.errors import NicEdgeError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--samples", type=int, default=3, help="sample chunks to print")
    ap.add_argument("--sections", type=int, default=25, help="section names to print")
    ap.add_argument("--grep", help="print chunks whose section or text contains TEXT")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        result = load_file(args.path)
    except NicEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    chunks = [c for d in result.documents for c in d.chunks]
    sections = Counter(c.section for c in chunks)
    words = sorted(len(c.text.split()) for c in chunks)
    pages = {c.page for c in chunks if c.page is not None}
    print(f"{args.path.name}: {len(result.documents)} document(s), {len(chunks)} chunks, "
          f"{len(sections)} sections, {len(pages)} pages, {elapsed:.3f} s")
    if words:
        print(f"words/chunk: min {words[0]} median {words[len(words) // 2]} max {words[-1]}")
    print(f"chunks without section: {sections.get(None, 0)}; notices: "
          f"{sum(len(find_notices(c.text)) for c in chunks)}")
    if result.duplicates_replaced or result.warnings:
        print(f"duplicates replaced: {result.duplicates_replaced}; warnings: {len(result.warnings)}")
        for w in result.warnings[:5]:
            print(f"  warning: {w}")
    print("sections (first %d):" % args.sections)
    for name in list(sections)[: args.sections]:
        print(f"  [{sections[name]:3d}] {name}")
    picks = chunks if not args.grep else [
        c for c in chunks if args.grep.lower() in f"{c.section} {c.text}".lower()]
    step = max(1, len(picks) // max(1, args.samples))
    for c in picks[::step][: args.samples]:
        print(f"--- {c.chunk_id} | section={c.section!r} | page={c.page}")
        print(c.text[:600] + (" ..." if len(c.text) > 600 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
