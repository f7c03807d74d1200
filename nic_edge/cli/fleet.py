"""``nic-fleet``: fleet admin tools (tier overrides, status, alerts, keys, provisioning)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from nic_edge.cli.common import EXIT_OK, Parser, load, main_wrapper, version_action
from nic_edge.core.config import TIER_NAMES

PROG = "nic-fleet"


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    # On subcommands the defaults are suppressed so `nic-fleet --config F status` keeps F.
    default = None if top else argparse.SUPPRESS
    p.add_argument("--config", metavar="FILE", default=default,
                   help="fleet config: [mqtt] broker settings, fleet.key_file = the fleet key")
    p.add_argument("-v", "--verbose", action="count", default=0 if top else argparse.SUPPRESS, help="more log output")


def _seconds(text: str) -> float:
    """A --wait value: a finite number of seconds >= 0 (argparse turns the error into a usage line)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= v < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more seconds")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Fleet tools for NIC edge boxes.")
    version_action(p)
    _common(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    s = sub.add_parser("set-tier", help="push a signed tier override to devices and wait for their reports")
    _common(s)
    s.add_argument("devices", nargs="+", metavar="DEVICE", help="device ids")
    s.add_argument("tier", metavar="TIER", help=f"the tier: {', '.join(TIER_NAMES)}")
    s.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for reports (default fleet.report_timeout_s)")
    s.add_argument("--no-wait", action="store_true", help="publish and exit without waiting")
    s.add_argument("--fleet-key", metavar="FILE", help="fleet key file (default fleet.key_file)")

    s = sub.add_parser("clear-tier", help="clear the override: devices return to their config/auto tier")
    _common(s)
    s.add_argument("devices", nargs="+", metavar="DEVICE", help="device ids")
    s.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for reports (default fleet.report_timeout_s)")
    s.add_argument("--no-wait", action="store_true", help="publish and exit without waiting")
    s.add_argument("--fleet-key", metavar="FILE", help="fleet key file (default fleet.key_file)")

    s = sub.add_parser("status", help="devices online/offline, tier, source, last report (retained topics)")
    _common(s)
    s.add_argument("--json", action="store_true", help="JSON output")
    s.add_argument("--wait", type=_seconds, default=1.5, metavar="S",
                   help="seconds to collect retained messages (default %(default)s)")

    s = sub.add_parser("alerts", help="show alerts (de-duplicated); --follow keeps listening")
    _common(s)
    s.add_argument("--follow", action="store_true", help="keep printing new alerts until interrupted")
    s.add_argument("--wait", type=_seconds, default=2.0, metavar="S",
                   help="seconds to listen without --follow (default %(default)s)")
    s.add_argument("--json", action="store_true", help="one JSON object per line")

    s = sub.add_parser("forget", help="remove devices: clear their retained topics; aggregators drop them")
    _common(s)
    s.add_argument("devices", nargs="+", metavar="DEVICE")

    s = sub.add_parser("keygen", help="create a new fleet key (or, with --signing, an Ed25519 signing key)")
    s.add_argument("--out", required=True, metavar="FILE", help="where to write the key (mode 0600)")
    s.add_argument("--signing", action="store_true",
                   help="Ed25519 content/release signing key: private key in FILE, public key in FILE.pub")

    from nic_edge.cli import fleet_content
    fleet_content.add_parser(sub, _common)

    s = sub.add_parser("device-key", help="derive the key a device holds (for provisioning)")
    _common(s)
    s.add_argument("device", metavar="DEVICE")
    s.add_argument("--out", required=True, metavar="FILE", help="where to write the device key (mode 0600)")
    s.add_argument("--fleet-key", metavar="FILE", help="fleet key file (default fleet.key_file)")

    s = sub.add_parser("flash", help="write a device's config bundle onto its SD card image or boot partition")
    _common(s)
    try:
        from nic_edge.fleet.provision.cli import add_flash_arguments
    except ImportError:  # provisioning not installed in this build
        add_flash_arguments = None
    if add_flash_arguments is not None:
        add_flash_arguments(s)

    from nic_edge.cli.fleet_release import add_release_parser
    add_release_parser(sub, _common)
    return p


def _fleet_key(args: argparse.Namespace, cfg: object) -> bytes:
    from nic_edge.core.config import Config, file_in_config
    from nic_edge.core.signing import read_key
    from nic_edge.errors import ConfigError
    assert isinstance(cfg, Config)
    if getattr(args, "fleet_key", None):
        return read_key(Path(args.fleet_key))
    if not cfg.fleet.key_file:
        raise ConfigError([("fleet.key_file", "not set; pass --fleet-key FILE or set it in --config")])
    return read_key(file_in_config(cfg, cfg.fleet.key_file))


def dispatch(args: argparse.Namespace) -> int:
    from nic_edge.core import signing
    if args.command == "device-key":
        from nic_edge.core.config import device_id_problem
        problem = device_id_problem(args.device)
        if problem:  # a key for an id no box can have (flash and the topics refuse it) helps nobody
            raise_usage(f"device id {args.device[:100]!r} {problem}")
    if args.command in ("keygen", "device-key"):
        _check_out_dir(Path(args.out))
    if args.command == "keygen" and args.signing:
        from nic_edge.core import ed25519
        ed25519.generate(Path(args.out))
        print(f"signing key written to {args.out}, public key to {ed25519.public_path(args.out)} "
              "(the .pub goes on the devices; keep the key on the fleet box)")
        return EXIT_OK
    if args.command == "keygen":
        signing.write_key(Path(args.out), signing.generate_key())
        print(f"fleet key written to {args.out} (keep it off the devices)")
        return EXIT_OK
    cfg = load(args)
    if args.command == "device-key":
        key = signing.derive_device_key(_fleet_key(args, cfg), args.device)
        signing.write_key(Path(args.out), key)
        print(f"device key for {args.device} written to {args.out}")
        return EXIT_OK
    if args.command == "content":
        from nic_edge.cli import fleet_content
        return fleet_content.dispatch(args, cfg)
    if args.command == "rotate-key":
        from nic_edge.cli import fleet_content
        return fleet_content.rotate_key(args, cfg)
    if args.command == "flash":
        from nic_edge.fleet.provision.cli import flash_main
        return flash_main(args, cfg)
    if args.command == "release":
        from nic_edge.cli.fleet_release import dispatch_release
        return dispatch_release(args, cfg)
    from nic_edge.fleet import tools
    if args.command == "set-tier":
        if args.tier not in TIER_NAMES:
            raise_usage(f"unknown tier {args.tier!r}; choose from {', '.join(TIER_NAMES)}")
        return tools.set_tier(cfg, args.devices, args.tier, _fleet_key(args, cfg), args.timeout, args.no_wait)
    if args.command == "clear-tier":
        return tools.set_tier(cfg, args.devices, None, _fleet_key(args, cfg), args.timeout, args.no_wait)
    if args.command == "status":
        return tools.status(cfg, args.json, args.wait)
    if args.command == "forget":
        return tools.forget(cfg, args.devices)
    if args.command == "alerts":
        return tools.alerts(cfg, args.follow, args.wait, args.json)
    raise AssertionError(args.command)


def _check_out_dir(out: Path) -> None:
    """A key goes only into a directory that exists: a typo must not create a tree silently."""
    from nic_edge.errors import NicEdgeError
    if not out.parent.is_dir():
        raise NicEdgeError(f"directory {out.parent} does not exist", hint="create it first or choose another --out")


def raise_usage(msg: str) -> None:
    print(f"{PROG}: error: {msg} (see {PROG} --help)", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(PROG, build_parser, dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
