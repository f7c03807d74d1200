#!/usr/bin/env python3
"""Ingest + chunk timing: median of several runs per file.

Usage: python3 tools/bench_ingest.py [--runs N] [--sample-pdf PAGES] [--index-tier TIER] FILE...
Baseline in the same process: reading the file and splitting it into words (a floor no
ingest can beat), so the printed ratio says how much the cleanup/structure/chunking costs.
For a PDF it also times the same ingest without the layout pass (pypdf's plain extraction
only, as before pages set in columns were read from the layout grid) and prints the ratio.
``--sample-pdf PAGES`` adds a generated manual of PAGES two-column pages written line by line
across the page (tests/support/pdf.py). ``--index-tier TIER`` times whole indexing of the files
(model, calibration and all) with and without the layout pass instead.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.engine.ingest import load_file  # noqa: E402


def _median(fn, runs: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sample-pdf", type=int, default=0, metavar="PAGES",
                    help="also time a generated two-column PDF manual of PAGES pages")
    ap.add_argument("--index-tier", metavar="TIER",
                    help="time indexing the files (model, calibration and all) on TIER instead, with "
                         "and without the PDF layout pass, runs alternated")
    args = ap.parse_args(argv)
    if args.sample_pdf > 0:
        args.files.append(_sample_pdf(args.sample_pdf))
    if not args.files:
        ap.error("give FILE(s) or --sample-pdf PAGES")
    if args.index_tier:
        return _index_cost(args.files, args.index_tier, args.runs)
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    # CPU seconds too: on a shared or busy box wall time mostly measures the neighbours.
    print(f"{'file':34s} {'KiB':>7s} {'chunks':>7s} {'ingest s':>9s} {'cpu s':>7s} "
          f"{'baseline s':>10s} {'ratio':>6s}")
    for path in args.files:
        result = load_file(path)  # warm-up (imports, regex compilation)
        ingest = _median(lambda p=path: load_file(p), args.runs)
        cpu = _median(lambda p=path: load_file(p), args.runs, time.process_time)
        base = _median(lambda p=path: p.read_text(errors="replace").split(), args.runs)
        print(f"{path.name[:34]:34s} {path.stat().st_size / 1024:7.0f} {result.chunk_count:7d} "
              f"{ingest:9.3f} {cpu:7.3f} {base:10.4f} {ingest / base:6.0f}x")
        if path.suffix.lower() == ".pdf":
            _pdf_passes(path, args.runs, ingest)
    return 0


def _pdf_passes(path: Path, runs: int, ingest: float) -> None:
    """The same ingest with the layout pass switched off (pypdf's plain extraction only, as
    before pages set in columns were read from the layout grid), median of ``runs``."""
    import io

    import pypdf

    from tests.support.pdf import pdf_rules_off
    pages = len(pypdf.PdfReader(io.BytesIO(path.read_bytes())).pages)
    with pdf_rules_off():
        plain = _median(lambda: load_file(path), runs)
    print(f"  {pages} pages: ingest without the layout pass {plain:.3f} s; with it {ingest:.3f} s "
          f"({ingest / plain:.2f}x, +{(ingest - plain) / pages * 1e3:.1f} ms/page)")


def _index_cost(files: list[Path], tier: str, runs: int) -> int:
    """Median seconds of Engine.index_paths(files) into a fresh data dir, with and without the
    layout pass (runs alternated so both see the same box)."""
    import tempfile

    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.embedder import Embedder
    from nic_edge.engine.engine import Engine
    from tests.support.pdf import pdf_rules_off
    embedder = Embedder()
    embedder.load()
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(runs):
        for mode in times:
            with tempfile.TemporaryDirectory() as tmp, \
                    (contextlib.nullcontext() if mode == "with" else pdf_rules_off()):
                eng = Engine(Path(tmp) / "data", load_profiles()[tier], EngineConfig(), embedder)
                t0 = time.perf_counter()
                eng.index_paths(files)
                times[mode].append(time.perf_counter() - t0)
    w, wo = statistics.median(times["with"]), statistics.median(times["without"])
    print(f"index {len(files)} file(s) on {tier}: with the layout pass {w:.2f} s, without {wo:.2f} s "
          f"({w / wo:.2f}x; runs {', '.join(f'{t:.2f}' for t in times['with'])} / "
          f"{', '.join(f'{t:.2f}' for t in times['without'])})")
    return 0


def _sample_pdf(pages: int) -> Path:
    """A generated manual: every page two columns of wrapped prose, written across the page."""
    import random
    import tempfile

    from tests.support.pdf import across, column, make_pdf
    rng = random.Random(7)
    words = ("check the seal hose clamp filter belt motor drum valve before each season and replace "
             "any part that shows wear turn the unit off unplug it wait until it cools").split()
    body = []
    for n in range(pages):
        cols = [column([(f"{n + 1}.{k} Maintenance step", " ".join(rng.choice(words) for _ in range(150)))
                        for k in (1, 2)], x, top=740, chars=44) for x in (54, 318)]
        body.append(across(*cols))
    out = Path(tempfile.mkdtemp(prefix="nic-bench-")) / f"two_column_{pages}p.pdf"
    out.write_bytes(make_pdf(body))
    return out


if __name__ == "__main__":
    sys.exit(main())
