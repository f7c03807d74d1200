#!/usr/bin/env python3
"""Regenerate nic_edge/data/other_manual_questions.txt: calibration's "another product" questions.

    python3 tools/gen_pool_questions.py [--corpus ../shared/corpus] [--per-manual 150] [--check]

Each public-domain corpus manual is indexed on its own (lexically: the generator needs only the
index's words) and ``nic_edge.engine.questions.answerable`` makes up to ``--per-manual``
questions from it, seeded by the manual's content, never copying 4 consecutive words of their
passage. On a box, per-index calibration uses the questions of every manual that is NOT in its
index as questions it should abstain on. Deterministic: the same manuals give the same file.
--check exits 1 when the committed file differs. No corpus -> a clear message and exit 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.core.storage import file_sha256  # noqa: E402
from nic_edge.engine import questions as qgen  # noqa: E402
from nic_edge.engine.indexer import Indexer  # noqa: E402
from nic_edge.engine.store import IndexStore  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "nic_edge" / "data" / qgen.MANUALS_FILE
HEADER = """\
# Questions about other products for per-index calibration (nic_edge/engine/calibrate.py):
# generated from public-domain manuals by tools/gen_pool_questions.py (do not edit by hand).
# A manual's questions are not used on a box whose index holds that manual (name or sha256).
"""


def render(corpus: Path, per_manual: int) -> str:
    parts = [HEADER]
    for manual in sorted(corpus.glob("*.txt")):
        with tempfile.TemporaryDirectory() as tmp:
            # No calibration here: it would read the file this script writes.
            store = IndexStore(Path(tmp) / "index")
            Indexer(store, lambda: None, calibrate=None).index_paths([manual])
            snap = store.open_current()
            qs = qgen.answerable(snap, per_manual, qgen.content_seed(snap))
            snap.close()
        parts.append(f"\n# manual: {manual.name} sha256={file_sha256(manual)}\n")
        parts.extend(q + "\n" for q, _ in qs)
    return "".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    ap.add_argument("--per-manual", type=int, default=150)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not any(corpus.glob("*.txt")):
        print(f"skip: no manuals in {corpus}")
        return 0
    text = render(corpus, args.per_manual)
    if args.check:
        same = OUT.is_file() and OUT.read_text("utf-8") == text
        print("up to date" if same else f"{OUT} is out of date: run tools/gen_pool_questions.py")
        return 0 if same else 1
    OUT.write_text(text, "utf-8")
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
