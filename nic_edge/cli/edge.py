"""``nic-edge``: the device runtime and its local tools (DESIGN.md, Commands)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from nic_edge.cli.common import (EXIT_OK, EXIT_USAGE, Parser, add_common, int_in, load, main_wrapper,
                                 version_action)
from nic_edge.core.config import load_config
from nic_edge.engine.validate import MAX_K, MAX_TOP_K
from nic_edge.errors import ConfigError

PROG = "nic-edge"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="NIC edge: offline, citation-first answers from technical manuals.")
    version_action(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    s = sub.add_parser("serve", help="run the device runtime (HTTP page and API, MQTT telemetry)",
                       description="Run the device runtime. With no manuals indexed it indexes the bundled sample manual first.")
    add_common(s)
    s.add_argument("--bind", metavar="ADDR", help="override http.bind")
    s.add_argument("--port", type=int_in(0, 65535), metavar="N", help="override http.port (0 = any free port)")

    s = sub.add_parser("index", help="add manuals to the index (or --remove them)",
                       description="Index manuals: .txt .md .mdx .rst .adoc .html .pdf (pdf extra) .docx .odt and BEIR-style .jsonl. "
                                   "Exit 0 all indexed, 3 some skipped, 1 nothing indexed, 2 usage/config error "
                                   "(--remove: the same for removals). Another index run on the same data "
                                   "dir is waited for.")
    add_common(s)
    s.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (or SOURCE names with --remove)")
    s.add_argument("--remove", action="store_true",
                   help="remove the named manuals: a file path, a folder (every manual indexed from it), "
                        "a file's source name, or a BEIR record _id")
    s.add_argument("--quiet", action="store_true", help="no progress output")

    s = sub.add_parser("manuals", help="list indexed manuals, one entry per file",
                       description="List indexed manuals, one entry per file: source (the table shows its label, "
                                   "a trailing path such as b/manual.md when two files share a name), file "
                                   "(absolute path), chunks, sections, indexed at.")
    add_common(s)
    s.add_argument("--json", action="store_true", help="JSON output")
    s.add_argument("--records", action="store_true", help="also list each BEIR file's records")

    s = sub.add_parser("ask", help="ask a question (or --jsonl batch from stdin)",
                       description="Answer a question from the indexed manuals, with quoted, cited passages.")
    add_common(s)
    s.add_argument("question", nargs="?", help="the question (omit with --jsonl)")
    s.add_argument("--json", action="store_true", help="print the Answer JSON")
    s.add_argument("--jsonl", action="store_true", help='read {"id","question"} lines on stdin, write one Answer per line')
    s.add_argument("--top-k", type=int_in(1, MAX_TOP_K), metavar="N",
                   help=f"chunks to retrieve, 1-{MAX_TOP_K} (default: tier)")
    s.add_argument("--no-cache", action="store_true", help="bypass the answer cache")

    s = sub.add_parser("retrieve", help="show the ranked chunks behind an answer",
                       description="Show the ranked chunks (source, section, page, score) that an answer "
                                   "would be built from. Exit 1 when no manuals are indexed.")
    add_common(s)
    s.add_argument("query", nargs="?", help="the query (omit with --jsonl)")
    s.add_argument("--k", type=int_in(1, MAX_K), default=10, metavar="N", help=f"hits to return, 1-{MAX_K} (default 10)")
    s.add_argument("--json", action="store_true", help="JSON output")
    s.add_argument("--jsonl", action="store_true", help='read {"id","question"|"query"} lines on stdin')

    s = sub.add_parser("tier", help="show the hardware tier, its source and reasons, and thread counts",
                       description="Show the hardware tier this box runs at, where the choice came from "
                                   "(fleet override > device.tier > NIC_EDGE_TIER > detection) and why, and the "
                                   "thread counts per job (question embedding, indexing). --measure times the "
                                   "embedder at 1..4 threads on this box and stores the winners in the data dir.")
    add_common(s)
    s.add_argument("--json", action="store_true", help="JSON output")
    s.add_argument("--measure", action="store_true",
                   help="measure the fastest thread count per job on this box (takes ~10-60 s) and keep it")

    from nic_edge.cli.backup_cmds import add_backup_parsers
    add_backup_parsers(sub)

    s = sub.add_parser("updater", help="run the software updater (separate service beside serve)",
                       description="Apply signed releases announced on <prefix>/<id>/software/desired: install "
                                   "into a new venv, switch the current symlink, restart the service, roll back "
                                   "when it is not healthy within software.health_deadline_s.")
    add_common(s)

    s = sub.add_parser("check-config", help="validate a config file (exit 0 valid, 2 invalid)",
                       description="Validate a device config file: every key, the tier profiles and the alert "
                                   "rules it names. Exit 0 valid, 2 invalid (key.path: message, and a hint).")
    s.add_argument("file", metavar="FILE", nargs="?",
                   help="config TOML to validate (default: --config, then $NIC_EDGE_CONFIG)")
    s.add_argument("--config", metavar="FILE", dest="config", help="same as FILE")
    s.add_argument("-v", "--verbose", action="count", default=0, help="more log output")

    s = sub.add_parser("cache", help="answer cache: stats or clear",
                       description="Show answer cache statistics, or clear the cache (L1 and L2). "
                                   "A running `serve` keeps its own L1: clear through POST /api/cache/clear there.")
    add_common(s)
    s.add_argument("action", choices=("stats", "clear"), help="what to do")
    s.add_argument("--json", action="store_true", help="JSON output")
    return p


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.file and args.config and args.file != args.config:
        print(f"{PROG}: error: give the file once (FILE or --config) (see {PROG} check-config --help)", file=sys.stderr)
        return EXIT_USAGE
    path = args.file or args.config or os.environ.get("NIC_EDGE_CONFIG")
    if not path:
        print(f"{PROG}: error: no config file: give FILE, --config FILE or set NIC_EDGE_CONFIG "
              f"(see {PROG} check-config --help)", file=sys.stderr)
        return EXIT_USAGE
    args.file = path
    try:
        cfg = load_config(path)
    except ConfigError as err:
        for line in err.lines():
            print(line, file=sys.stderr)
        return EXIT_USAGE
    from nic_edge.core.tiers import load_profiles
    load_profiles()
    if cfg.alerts.rules_file:
        from nic_edge.core.config import file_in_config
        from nic_edge.telemetry.alerts import load_rules
        load_rules(file_in_config(cfg, cfg.alerts.rules_file), "ultra_lite")
    if cfg.engine.words_file:
        from nic_edge.core.config import file_in_config
        from nic_edge.engine.synonyms import read_groups
        try:
            read_groups(file_in_config(cfg, cfg.engine.words_file))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"{args.file}: engine.words_file: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(f"{args.file}: ok")
    return EXIT_OK


def cmd_tier(args: argparse.Namespace) -> int:
    from nic_edge.core.config import data_dir
    from nic_edge.core.tiers import resolve
    from nic_edge.core.override_state import override_of

    from nic_edge.core.threads import load_measured, save_measured, thread_counts

    cfg = load(args)
    ddir = data_dir(cfg, args.data_dir)
    override, by = override_of(ddir)
    decision = resolve(cfg.device.tier, override=override, override_by=by)
    cpus = decision.hardware.cpus if decision.hardware else None
    if args.measure:
        from nic_edge.engine.embedder import Embedder
        from nic_edge.engine.thread_probe import measure

        result = measure(lambda t: Embedder(threads=t), cpus)
        save_measured(ddir, result)
    d = decision.as_dict()
    d["threads"] = thread_counts(decision.profile, cpus, load_measured(ddir, cpus)).as_dict()
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        print(f"tier: {d['tier']} (source: {d['source']}, memory budget {d['memory_budget_mib']} MiB)")
        print(f"hardware: {d['ram_mib']} MiB RAM, {d['cpus']} CPUs, board: {d['board'] or 'unknown'}")
        for r in d["reasons"]:
            print(f"  - {r}")
        t = d["threads"]
        print(f"threads: questions {t['question']}, indexing {t['index']} ({t['source']})")
        for r in t["reasons"]:
            print(f"  - {r}")
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return cmd_check_config(args)
    if args.command == "tier":
        return cmd_tier(args)
    if args.command == "updater":
        from nic_edge.updater.agent import run_updater
        return run_updater(load(args))
    if args.command in ("backup", "restore"):
        from nic_edge.cli import backup_cmds
        return backup_cmds.run_device(args)
    from nic_edge.cli import edge_cmds
    return getattr(edge_cmds, "cmd_" + args.command.replace("-", "_"))(args)


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(PROG, build_parser, dispatch, argv, daemon=lambda a: a.command in ("serve", "updater"))


if __name__ == "__main__":
    sys.exit(main())
