#!/usr/bin/env python3
"""How long does one long line of unclosed markup take to read, by format? (hostile input)

Usage: python3 tools/bench_ingest_lines.py [--units N] [--runs R] [--kinds md,rst,...] [--only UNIT]... [--skip UNIT]...

Each case is a page holding one line of N copies of a unit that opens markup and never closes
it ("*a ", "[a ", "<a ", "{% a ", ":r:`a "), read by the ingest parser of each text format at N
and at 2N copies (median of R runs). Reading is linear when doubling the line doubles the time
(ratio ~2); a ratio near 4 is a scan repeated from every mark (quadratic), which a megabyte-long
line turns into hours of `nic-edge index`. The baseline, run in the same process, is splitting
the same page into words. Prints the CPU (model, int8 features) first, as every benchmark here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
from nic_edge.engine.ingest import adoc  # noqa: E402  (absent before ingest-8)
from nic_edge.engine.ingest.chunking import chunk_spans  # noqa: E402
from nic_edge.engine.ingest.html import parse_html  # noqa: E402
from nic_edge.engine.ingest.markdown import parse_markdown  # noqa: E402
from nic_edge.engine.ingest.rst import parse_rst  # noqa: E402
from nic_edge.engine.ingest.text import parse_text_kind  # noqa: E402
from nic_edge.engine.units import sentences  # noqa: E402

PARSERS: dict[str, Callable[[str], object]] = {
    "md": parse_markdown,
    "mdx": lambda text: parse_markdown(text, mdx=True),
    "rst": parse_rst,
    "html": parse_html,
    "text": parse_text_kind,
    "adoc": adoc.parse_adoc,
    # not formats: the page cut into chunks (ingest) and into the reader's units, as one section
    "chunk": chunk_spans,
    "units": lambda text: sentences(text, lambda term: True),
}
# What opens and never closes: emphasis, links and images, tags and comments, template tags,
# roles, attribute lists, brackets of other formats' macros
UNITS = ("*a ", "_a ", "**a ", "[a ", "[a](", "![a](", "<a ", "<!--", "{% a ", "{{< a ", "{:a=b.",
         ":r:`a ", "a:", "A-1-", "ab_cd:", "`a ``b ", "kbd:[", "footnote:[", "<<a,", "&#1",
         "#a ", "^a ", "~a ", "+a ", "++a ", "+++a ", "pass:[", "xref:a[", "link:a[", "https://a[",
         "((a ", "[.r]#a ", "{a", "|a ", "a::",
         # sentences, dot leaders and lettered items (chunking and the reader's units)
         "Ab. ", ". ", "Ab. b. ")


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def page(unit: str, n: int) -> str:
    return "Title\n=====\n\n# Title\n\nword " + unit * n + " end\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=8000, help="copies of the unit at the smaller size (8000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per size, median taken (3)")
    ap.add_argument("--kinds", default=",".join(PARSERS), help="formats: " + ", ".join(PARSERS))
    ap.add_argument("--only", action="append", default=[], help="a unit to run (repeat it), default all")
    ap.add_argument("--skip", action="append", default=[], help="a unit to leave out (repeat it)")
    ap.add_argument("--slow", type=float, default=60.0,
                    help="skip the 2N run when N already took longer than this many seconds (60)")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in PARSERS]
    if unknown:
        ap.error(f"unknown format(s) {', '.join(unknown)}; use {', '.join(PARSERS)}")
    units = [u for u in (args.only or UNITS) if u not in args.skip]
    print(cpu_banner())
    print(f"one line of N = {args.units} and 2N copies of each unit, median of {args.runs} runs")
    print(f"{'format':6s} {'unit':14s} {'line KB':>8s} {'N s':>8s} {'2N s':>8s} {'2N/N':>6s} {'x split':>8s}")
    worst = 0.0
    for kind in kinds:
        parse = PARSERS[kind]
        for unit in units:
            small, big = page(unit, args.units), page(unit, 2 * args.units)
            t1 = _median(lambda: parse(small), args.runs)
            t2 = _median(lambda: parse(big), args.runs) if t1 < args.slow else float("nan")
            base = _median(lambda: big.split(), args.runs)
            worst = max(worst, t2 if t2 == t2 else t1)
            print(f"{kind:6s} {unit!r:14s} {len(big) / 1000:8.1f} {t1:8.3f} {t2:8.3f} "
                  f"{t2 / t1 if t1 > 0 else 0:6.2f} {t2 / base if base > 0 else 0:8.0f}", flush=True)
    print(f"slowest 2N line: {worst:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
