"""``nic-edge backup`` / ``restore`` and ``nic-aggregator backup`` / ``restore`` (argument wiring;
the work is in app/backup.py, app/restore.py and fleet/aggregator/backup.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nic_edge.cli.common import EXIT_OK, EXIT_USAGE, add_common, load
from nic_edge.core.config import data_dir


def add_backup_parsers(sub: Any) -> None:
    s = sub.add_parser("backup", help="write a sealed backup of the data dir and config (safe while serve runs)",
                       description="Copy every LMDB store (compacted, one commit each), the live index generation, "
                                   "override/calibration state, audit log and the config into one sealed file. "
                                   "Secret files the config names are left out unless --include-secrets.")
    add_common(s)
    s.add_argument("--out", required=True, metavar="FILE", help="backup file to write (replaced atomically)")
    s.add_argument("--include-secrets", action="store_true",
                   help="also copy the admin token, MQTT password/TLS key and device key files")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")

    s = sub.add_parser("restore", help="check a backup and restore it into a data dir (all or nothing)",
                       description="Verify the digest over the whole file and every member, refuse a backup "
                                   "of an incompatible index format or model, then restore atomically.")
    add_common(s)
    s.add_argument("file", metavar="FILE", help="backup file written by `nic-edge backup`")
    s.add_argument("--force", action="store_true", help="replace a non-empty data dir (stop serve first)")
    s.add_argument("--config-out", metavar="DIR", help="also write the backed-up config (and its files) into DIR")
    s.add_argument("--verify-only", action="store_true", help="check the file and compatibility, write nothing")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")


def _print(summary: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        for line in lines:
            print(line)


def out_problem(out: Path) -> str | None:
    """Why FILE cannot be written as a new file, checked before any work (None: it can)."""
    if out.is_dir():
        return f"{out} is a directory; name the backup file, e.g. {out / 'nic-edge.nicbak'}"
    if not out.parent.is_dir():
        return f"{out.parent} is not a directory; create it first or name another place"
    return None


def run_device(args: argparse.Namespace) -> int:
    cfg = load(args)
    target = data_dir(cfg, args.data_dir)
    if args.command == "backup":
        problem = out_problem(Path(args.out))
        if problem:
            print(f"nic-edge: error: --out: {problem} (see nic-edge backup --help)", file=sys.stderr)
            return EXIT_USAGE
        from nic_edge.app.backup import DeviceBackup
        summary = DeviceBackup(target, cfg, args.include_secrets, cfg.device_id).run(Path(args.out))
        _print(summary, args.json, [f"backup written to {summary['file']} ({summary['bytes']} bytes, "
                                    f"{summary['members']} files, stores: {', '.join(summary['stores']) or 'none'})",
                                    f"sha256 {summary['sha256']}"])
        return EXIT_OK
    from nic_edge.app.restore import check_compatible, restore_device
    if args.verify_only:
        from nic_edge.core.archive import verify_sealed
        manifest = verify_sealed(Path(args.file))
        check_compatible(manifest)
        _print({"ok": True, "members": len(manifest["members"])}, args.json,
               [f"{args.file}: ok ({len(manifest['members'])} files, from {manifest.get('device_id')})"])
        return EXIT_OK
    summary = restore_device(Path(args.file), target, args.force,
                             Path(args.config_out) if args.config_out else None)
    _print(summary, args.json, [f"restored {summary['files']} files into {summary['data_dir']} "
                                f"(backup of {summary['device_id']}, nic-edge {summary['version']})"]
           + [f"  config: {n}" for n in summary["notes"]])
    return EXIT_OK


def aggregator_main(argv: list[str]) -> int:
    """``nic-aggregator backup|restore ...`` (cli/aggregator.py hands these over)."""
    from nic_edge.cli.common import Parser, main_wrapper

    def build() -> argparse.ArgumentParser:
        p = Parser(prog="nic-aggregator", description="Back up or restore the aggregator's series and state.")
        sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
        sub.required = True
        for name, text in (("backup", "write a sealed backup of the aggregator's state (safe while it runs)"),
                           ("restore", "check a backup and restore it into the aggregator's data dir")):
            s = sub.add_parser(name, help=text, description=text)
            s.add_argument("--config", metavar="FILE", help="aggregator config (finds aggregator.data_dir/out_dir)")
            s.add_argument("--data-dir", metavar="DIR", help="the aggregator's LMDB dir (default from the config)")
            s.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
            s.add_argument("--json", action="store_true", help="print the summary as JSON")
            if name == "backup":
                s.add_argument("--out", required=True, metavar="FILE", help="backup file to write")
                s.add_argument("--include-secrets", action="store_true",
                               help="also copy webhook/SMTP/MQTT secret files the config names")
            else:
                s.add_argument("file", metavar="FILE", help="backup file written by `nic-aggregator backup`")
                s.add_argument("--force", action="store_true", help="replace a non-empty data dir (stop the aggregator first)")
        return p

    def dispatch(args: argparse.Namespace) -> int:
        from nic_edge.fleet.aggregator.backup import backup_aggregator, restore_aggregator, state_dir
        cfg = load(args)
        data = state_dir(cfg, args.data_dir)
        if args.command == "backup":
            problem = out_problem(Path(args.out))
            if problem:
                print(f"nic-aggregator: error: --out: {problem} (see nic-aggregator backup --help)", file=sys.stderr)
                return EXIT_USAGE
            s = backup_aggregator(cfg, data, Path(args.out), args.include_secrets)
            _print(s, args.json, [f"aggregator backup written to {s['file']} ({s['bytes']} bytes)",
                                  f"sha256 {s['sha256']}"])
        else:
            s = restore_aggregator(Path(args.file), data, args.force)
            _print(s, args.json, [f"restored {s['files']} files into {s['data_dir']}"])
        return EXIT_OK

    return main_wrapper("nic-aggregator", build, dispatch, argv)
