"""``nic-fleet release build|push`` (argument wiring; the work is in fleet/release.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from nic_edge.cli.common import EXIT_OK, EXIT_USAGE, Parser
from nic_edge.core.config import Config, file_in_config
from nic_edge.errors import ConfigError, ReleaseError


class _IntermixedParser(Parser):
    """Options anywhere among the positionals: ``push BUNDLE --key K DEV1 DEV2``. Plain argparse
    takes BUNDLE and an empty DEVICE list from the first run of positionals and then calls
    DEV1 "unrecognized"."""

    _inner = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._inner:  # parse_known_intermixed_args calls this method itself
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def _python_version(text: str) -> str:
    from nic_edge.fleet.release import check_python_version  # noqa: PLC0415 - fleet code at use
    try:
        return check_python_version(text)
    except ReleaseError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MAJOR.MINOR, e.g. 3.11") from None


def add_release_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    r = sub.add_parser("release", help="software release bundles: build, push",
                       description="Build signed release bundles (wheels for a target) and announce them to boxes.")
    rs = r.add_subparsers(dest="release_command", metavar="ACTION", parser_class=_IntermixedParser)
    rs.required = True
    b = rs.add_parser("build", help="build a signed release bundle",
                      description="Pack the project's wheel and its dependencies' wheels for one python version and "
                                  "CPU architecture, with a manifest signed by the fleet's Ed25519 key.")
    common(b)
    b.add_argument("--out", required=True, metavar="BUNDLE", help="bundle file to write")
    b.add_argument("--key", metavar="FILE", help="Ed25519 signing key (default fleet.signing_key_file)")
    b.add_argument("--project", metavar="DIR", help="project to build (default: the current directory)")
    b.add_argument("--wheel", metavar="FILE", help="use this project wheel instead of building one")
    b.add_argument("--python-version", default="3.11", type=_python_version, metavar="X.Y",
                   help="target python, MAJOR.MINOR (default 3.11)")
    b.add_argument("--arch", default="aarch64", choices=("aarch64", "x86_64"), help="target CPU (default aarch64)")
    b.add_argument("--find-links", action="append", default=[], metavar="DIR", help="extra wheel source for pip")
    b.add_argument("--no-index", action="store_true", help="no package index: wheels from --find-links only")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    p = rs.add_parser("push", help="announce a bundle to devices (retained, signed) and wait for their reports")
    common(p)
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("devices", nargs="*", default=[], metavar="DEVICE")
    p.add_argument("--all", action="store_true", help="every device seen on <prefix>/+/status")
    p.add_argument("--key", metavar="FILE", help="Ed25519 signing key (default fleet.signing_key_file)")
    p.add_argument("--url", metavar="URL", help="where devices download it (default fleet.content_url/BUNDLE)")
    p.add_argument("--allow-downgrade", action="store_true", help="let boxes on a newer version install this one")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for reports (default fleet.report_timeout_s)")
    p.add_argument("--no-wait", action="store_true", help="publish and exit")


def _key(args: argparse.Namespace, cfg: Config) -> Path:
    if args.key:
        return Path(args.key)
    if not cfg.fleet.signing_key_file:
        raise ConfigError([("fleet.signing_key_file", "not set; pass --key FILE (nic-fleet keygen --signing)")], cfg.source)
    return file_in_config(cfg, cfg.fleet.signing_key_file)


def dispatch_release(args: argparse.Namespace, cfg: Config) -> int:
    from nic_edge.fleet import release
    if args.release_command == "build":
        s = release.build_release(Path(args.out), _key(args, cfg), Path(args.project) if args.project else None,
                                  Path(args.wheel) if args.wheel else None, args.python_version, args.arch,
                                  args.find_links, args.no_index)
        print(json.dumps(s, indent=2) if args.json else
              f"release {s['name']} {s['version']} ({s['wheels']} wheels, {s['bytes']} bytes) written to {s['file']}")
        return EXIT_OK
    if bool(args.devices) == bool(args.all):
        print("nic-fleet release push: error: name DEVICE... or pass --all (not both) "
              "(see nic-fleet release push --help)", file=sys.stderr)
        return EXIT_USAGE
    return release.push_release(cfg, Path(args.bundle), args.devices, args.all, _key(args, cfg), args.url,
                                args.allow_downgrade, args.timeout, args.no_wait)
