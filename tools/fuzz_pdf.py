#!/usr/bin/env python3
"""Fuzz PDF ingest: does reading columns, headings and bookmarks (ingest-3) fail a PDF whose
text reads without them?

Mutates small PDFs (a two-column page written across, with a bookmark; three one-column pages;
the tests' fixture manual): random bytes, runs of digits (huge numbers in boxes, matrices and
sizes) and cut spans. Each mutant is read twice, with the PDF rules switched off (pypdf's plain
extraction and the text rules, as before ingest-3) and on. A mutant that reads without the rules
and is refused or crashes with them, or that crashes either way with anything but IngestError,
is a failure (exit 1). Used by tests/tools/test_fuzz_pdf.py:

    python3 tools/fuzz_pdf.py --mutations 3000 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import sys
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nic_edge.engine.ingest import pdf  # noqa: E402
from nic_edge.errors import IngestError  # noqa: E402


def seeds() -> list[bytes]:
    from tests.engine.test_ingest_columns import LEFT, RIGHT
    from tests.support.pdf import across, column, make_pdf
    return [make_pdf([across(column(LEFT, 54), column(RIGHT, 318))], outline=[("Cleaning the Filter", 0)]),
            make_pdf([column(LEFT + RIGHT, 72, chars=90)] * 3),
            (ROOT / "tests" / "engine" / "fixtures" / "ingest" / "manual.pdf").read_bytes()]


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(out))
        kind = rng.random()
        if kind < 0.5:
            out[at] = rng.randrange(256)
        elif kind < 0.75:
            out[at:at] = bytes([rng.randrange(48, 58)]) * rng.randint(1, 12)
        else:
            del out[at:at + rng.randint(1, 20)]
    return bytes(out)


def read(data: bytes, rules: bool) -> str:
    """"ok", "refused" (IngestError) or "crash: ..." for the PDF read with or without the rules."""
    from tests.support.pdf import pdf_rules_off
    try:
        with contextlib.nullcontext() if rules else pdf_rules_off():
            pdf.parse_pdf_kind(data, "fuzz.pdf")
        return "ok"
    except IngestError:
        return "refused"
    except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
        return f"crash: {type(exc).__name__}: {exc}"[:160]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)   # pypdf warns about every broken object
    warnings.filterwarnings("ignore")
    rng = random.Random(args.seed)
    base = seeds()
    counts: Counter[str] = Counter()
    failures = []
    for n in range(args.mutations):
        data = mutate(rng.choice(base), rng)
        before, after = read(data, False), read(data, True)
        counts[f"{before} -> {after}" if before != after else before] += 1
        if after.startswith("crash") or before.startswith("crash") or (before == "ok" and after != "ok"):
            failures.append((n, before, after))
    for key, count in counts.most_common():
        print(f"{count:6d}  {key}")
    for n, before, after in failures[:10]:
        print(f"FAIL mutation {n}: without the rules {before}; with them {after}")
    print(f"{args.mutations} mutations (seed {args.seed}): {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
