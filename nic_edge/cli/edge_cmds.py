"""Bodies of the ``nic-edge`` subcommands that need the engine (imported lazily by edge.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from nic_edge.cli.common import EXIT_FAIL, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, load
from nic_edge.core.config import Config, data_dir
from nic_edge.engine.labels import visible
from nic_edge.errors import InvalidInputError, NicEdgeError


def _app(args: argparse.Namespace, cfg: Config | None = None, **kw: Any) -> Any:
    from nic_edge.app.device import DeviceApp
    cfg = cfg or load(args)
    return DeviceApp(cfg, data_dir(cfg, args.data_dir), **kw)


class Progress:
    """Progress on stderr: on a terminal one rewritten line; otherwise (a log, `| tee`, ssh
    without a tty) a plain line every ``LOG_EVERY_S`` seconds, so hours of indexing on a small
    board are not silent; nothing with --quiet."""

    LOG_EVERY_S = 30.0

    def __init__(self, stream: TextIO, enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.enabled = enabled
        self.clock = clock
        self._last = 0.0
        self._started = clock()
        self._logged = self._started

    def __call__(self, done: int, total: int, label: str = "") -> None:
        if not self.enabled:
            return
        now = self.clock()
        pct = 100.0 * done / total if total else 100.0
        if not self.tty:
            if now - self._logged >= self.LOG_EVERY_S:
                self._logged = now
                self.stream.write(f"[{done}/{total} {pct:5.1f}%] {label[:60]} ({now - self._started:.0f} s)\n")
                self.stream.flush()
            return
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write(f"\r[{done}/{total} {pct:5.1f}%] {label[:60]:<60}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def cmd_index(args: argparse.Namespace) -> int:
    app = _app(args)
    try:
        if args.remove:
            report = app.engine.remove(args.paths)
        else:
            missing = [p for p in args.paths if not Path(p).exists()]
            report = app.engine.index_paths([p for p in args.paths if Path(p).exists()],
                                            progress=Progress(sys.stderr, not args.quiet))
            for p in missing:
                report.skipped.append((p, "no such file or directory"))
        if app.cache is not None:
            app.cache.purge_stale(app._fingerprint(None))
    finally:
        app.close()
    for path, reason in report.skipped:
        print(f"nic-edge: skipped {path}: {reason}", file=sys.stderr)
    for w in report.warnings:
        print(f"nic-edge: warning: {w}", file=sys.stderr)
    print(str(report))
    if report.calibration is not None:
        from nic_edge.engine.calibrate import summary
        print(f"calibration: {summary(report.calibration)}")
    if args.remove:
        # as for adding: 0 all removed, 3 some named nothing indexed (each on stderr), 1 none
        return (EXIT_PARTIAL if report.skipped else EXIT_OK) if report.removed else EXIT_FAIL
    done = report.indexed_files or report.unchanged
    if report.skipped:
        return EXIT_PARTIAL if done else EXIT_FAIL
    return EXIT_OK if done else EXIT_FAIL


def _config(args: argparse.Namespace) -> tuple[Config, bool]:
    """The config, and whether its data dir exists yet: without it nothing is indexed, and a
    command that only reads (manuals, ask, retrieve) says so without creating the dir (and its
    cache) in whatever folder it was run from."""
    cfg = load(args)
    return cfg, data_dir(cfg, args.data_dir).exists()


def cmd_manuals(args: argparse.Namespace) -> int:
    cfg, exists = _config(args)
    if not exists:
        from nic_edge.engine.engine import Engine
        from nic_edge.core.threads import ThreadCounts
        # no index: the engine reads nothing from disk and creates nothing
        engine = Engine(data_dir(cfg, args.data_dir), None, cfg.engine, None,
                        threads=ThreadCounts(1, 1, "none", []))
        rows, calibration = [], engine.calibration()
    else:
        # With the embedder (it loads lazily, never here): the calibration shown is the one of
        # the mode `serve` would answer in.
        app = _app(args, cfg)
        try:
            rows = app.engine.manuals(records=args.records)
            calibration = app.engine.calibration()
        finally:
            app.close()
    from nic_edge.engine.catalog import changed_on_disk
    for r in rows:  # a file moved, deleted or edited since: its old text answers until re-indexed
        f = str(r.get("file") or "")
        r["file_exists"] = None if f.startswith("bundle:") else Path(f).is_file()
        r["file_changed"] = changed_on_disk(r)
    if args.json:
        print(json.dumps({"manuals": rows, "calibration": calibration}, indent=2))
        return EXIT_OK
    if not rows:
        print("no manuals indexed (nic-edge index PATH...)")
        return EXIT_OK
    print(f"{'SOURCE':<32} {'CHUNKS':>7} {'SECTIONS':>9}  {'INDEXED AT':<20}  FILE")
    for r in rows:
        at = r.get("indexed_at")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) + "Z" if isinstance(at, (int, float)) else str(at)
        extra = f" ({r['record_count']} records)" if "record_count" in r else ""
        if r["file_exists"] is False:
            extra += "  [file gone: still answers; `nic-edge index --remove` it, or index it where it is now]"
        elif r["file_changed"]:
            extra += "  [file changed since indexed: answers quote the old text; `nic-edge index` it again]"
        print(f"{_fit(str(r.get('label') or r.get('source')), 32):<32} {r.get('chunks', 0):>7} {r.get('sections', 0):>9}  {when:<20}  "
              f"{visible(str(r.get('file')))}{extra}")
        for rec in r.get("records") or []:
            print(f"  {visible(str(rec['source']))[:30]:<30} {rec.get('chunks', 0):>7} {rec.get('sections', 0):>9}")
    print(f"abstain threshold {calibration['threshold_in_use']:.2f} ({calibration['threshold_source']}): "
          f"{calibration['summary']}")
    return EXIT_OK


def _fit(name: str, width: int) -> str:
    """A manual's name cut to ``width`` from the left: "…ts/b/manual.md" still says which file."""
    return name if len(name) <= width else "\u2026" + name[-(width - 1):]


def _lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(stream, 1):
        if line.strip():
            yield n, line


def _parse_line(line: str, keys: tuple[str, ...]) -> tuple[Any, Any]:
    """(id, text) from a JSONL line; raises ValueError with a reason."""
    try:
        obj = json.loads(line)
    except RecursionError:  # [[[[... deeper than the parser's stack: a bad line, not a dead batch
        raise ValueError("line nests too deeply to be a question") from None
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    for k in keys:
        if k in obj:
            return obj.get("id"), obj[k]
    raise ValueError(f"missing {' or '.join(repr(k) for k in keys)}")


def _emit(obj: dict[str, Any]) -> None:
    """One JSONL output line. Text that cannot be written as UTF-8 (a lone surrogate in an
    echoed id) goes out \\u-escaped instead of killing the batch."""
    try:
        line = json.dumps(obj, ensure_ascii=False)
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj)
    print(line, flush=True)


def _format_answer(a: dict[str, Any], manuals: list[dict[str, Any]]) -> str:
    """Safety notices first (as on the page), then the quotes with [n], then each source once."""
    from nic_edge.app import wording
    out = [f"! {w}" for w in a.get("warnings") or []]
    quotes, sources = wording.numbered(a)
    if a["abstained"]:
        out.append(wording.abstention(a, manuals))
    elif quotes:
        out.extend(f'"{text}" [{n}]' if n else f'"{text}"' for text, n in quotes)
    else:
        out.append(a["answer"])
    for n, c in sources:
        out.append(f"  [{n}] {wording.where(c)} (score {c['score']:.3f})")
    out.append(f"  ({a['mode']}, {a['latency_ms']:.1f} ms{', cached ' + a['cached'] if a.get('cached') else ''}, "
               f"confidence {a['confidence']:.2f})")
    return "\n".join(out)


def cmd_ask(args: argparse.Namespace) -> int:
    if args.jsonl == (args.question is not None):
        print("nic-edge: error: give a QUESTION or --jsonl (not both) (see nic-edge ask --help)", file=sys.stderr)
        return EXIT_USAGE
    if not args.jsonl:
        from nic_edge.engine.validate import validate_question
        try:
            validate_question(args.question, max_chars=1 << 30)  # before the model loads; length: below
        except InvalidInputError as exc:
            print(f"nic-edge: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    cfg, exists = _config(args)
    if not exists:
        raise NicEdgeError("no manuals indexed", hint="run `nic-edge index PATH...` first")
    app = _app(args, cfg)
    try:
        manuals = app.engine.manuals()
        if not manuals:
            raise NicEdgeError("no manuals indexed", hint="run `nic-edge index PATH...` first")
        if not args.jsonl:
            a = app.ask(args.question, args.top_k, surface="cli", use_cache=not args.no_cache)
            if a.get("reason") == "invalid_input":
                print(f"nic-edge: error: question is too long (at most {app.engine.max_chars} characters)",
                      file=sys.stderr)
                return EXIT_USAGE
            print(json.dumps(a, ensure_ascii=False, indent=2) if args.json else _format_answer(a, manuals))
            return EXIT_OK
        for n, line in _lines(sys.stdin):
            try:
                qid, question = _parse_line(line, ("question",))
            except ValueError as exc:
                _emit({"id": None, "error": f"line {n}: {exc}"})
                continue
            try:
                a = app.ask(question, args.top_k, qid=None if qid is None else str(qid), surface="cli",
                            use_cache=not args.no_cache)
            except InvalidInputError as exc:
                _emit({"id": qid, "error": exc.message})
                continue
            if qid is not None:
                a["id"] = qid  # echoed as given: 5 stays 5, not "5"
            _emit(a)
        return EXIT_OK
    finally:
        app.close()


def cmd_retrieve(args: argparse.Namespace) -> int:
    if args.jsonl == (args.query is not None):
        print("nic-edge: error: give a QUERY or --jsonl (not both) (see nic-edge retrieve --help)", file=sys.stderr)
        return EXIT_USAGE
    cfg, exists = _config(args)
    if not exists:
        raise NicEdgeError("no manuals indexed", hint="run `nic-edge index PATH...` first")
    app = _app(args, cfg)
    try:
        if not app.engine.manuals():
            raise NicEdgeError("no manuals indexed", hint="run `nic-edge index PATH...` first")
        if not args.jsonl:
            res = app.retrieve(args.query, args.k)
            if args.json:
                print(json.dumps(res, ensure_ascii=False, indent=2))
            else:
                for i, h in enumerate(res["hits"], 1):
                    # a manual whose file name another indexed file has too: its folder, by label
                    where = f"  [{h['label']}]" if h.get("label") not in (None, h.get("source")) else ""
                    print(f"{i:>2}. {h['score']:.4f}  {h['chunk_id']}  {h.get('section') or ''}{where}")
            return EXIT_OK
        for n, line in _lines(sys.stdin):
            try:
                qid, query = _parse_line(line, ("question", "query"))
            except ValueError as exc:
                _emit({"id": None, "error": f"line {n}: {exc}"})
                continue
            try:
                res = app.retrieve(query, args.k)
            except InvalidInputError as exc:
                _emit({"id": qid, "error": f"line {n}: {exc}"})
                continue
            res["id"] = qid
            _emit(res)
        return EXIT_OK
    finally:
        app.close()


def cmd_cache(args: argparse.Namespace) -> int:
    app = _app(args, use_embedder=False)
    try:
        if app.cache is None:
            raise NicEdgeError("the answer cache is disabled", hint="set cache.enabled = true")
        res = app.clear_cache("cli") if args.action == "clear" else app.cache.stats()
    finally:
        app.close()
    if args.json or args.action == "stats":
        print(json.dumps(res, indent=2))
    else:
        # this process's L1 is empty by definition; a running serve keeps its own until it restarts
        print(f"answer cache cleared on disk (L2): {_count(res.get('l2'))}. A running `nic-edge serve` keeps "
              "the answers in its memory (L1): clear both there with POST /api/cache/clear (admin token)")
    return EXIT_OK


def _count(n: Any) -> str:
    return f"{n} answer" + ("" if n == 1 else "s") if isinstance(n, int) else "no answers"


def cmd_serve(args: argparse.Namespace) -> int:
    from nic_edge.app.serve import serve
    return serve(args, load(args))
