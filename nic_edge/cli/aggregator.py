"""``nic-aggregator``: subscribe to the fleet and render a static dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from nic_edge.cli.common import Parser, load, main_wrapper, version_action

PROG = "nic-aggregator"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Subscribe to the fleet's MQTT topics and render a static dashboard "
                                      "(index.html, fleet.json, per-device pages) into --out. "
                                      "`nic-aggregator backup --out FILE` / `nic-aggregator restore FILE` "
                                      "copy its state (see their --help).")
    version_action(p)
    p.add_argument("--config", metavar="FILE", help="config with [mqtt] and [aggregator] sections")
    p.add_argument("--out", metavar="DIR", help="output directory (default aggregator.out_dir)")
    p.add_argument("--client-id", metavar="ID",
                   help="MQTT client id, i.e. this aggregator's persistent session (default mqtt.client_id, "
                        "else nic-aggregator-<hostname>); each of several aggregators needs its own")
    p.add_argument("--state-dir", metavar="DIR",
                   help="this aggregator's own state (LMDB) dir (default aggregator.data_dir, else <out>/.state); "
                        "locked while it runs")
    p.add_argument("--once", action="store_true", help="render once from stored state and exit")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    return p


def dispatch(args: argparse.Namespace) -> int:
    from nic_edge.fleet.aggregator.main import run_aggregator
    return run_aggregator(args, load(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("backup", "restore"):  # subcommands with their own parser (cli/backup_cmds.py)
        from nic_edge.cli.backup_cmds import aggregator_main
        return aggregator_main(args)
    return main_wrapper(PROG, build_parser, dispatch, argv, daemon=lambda a: not a.once)


if __name__ == "__main__":
    sys.exit(main())
