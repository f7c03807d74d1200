"""``nic-fleet content build | verify | push | status | serve`` (argument parsing and dispatch).

``build`` is the one fleet command that runs the engine and the embedding model (it indexes
once for the whole fleet); it imports them only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nic_edge.cli.common import EXIT_OK, Parser
from nic_edge.errors import ConfigError, NicEdgeError


def add_parser(sub: Any, common: Any) -> None:
    c = sub.add_parser("content", help="build, verify, push and track signed manual bundles")
    common(c)
    csub = c.add_subparsers(dest="content_command", metavar="ACTION", parser_class=Parser)
    csub.required = True

    s = csub.add_parser("build", help="index manuals once with the real model; write a signed bundle")
    common(s)
    s.add_argument("manuals", nargs="+", metavar="MANUAL", help="manual files or folders")
    s.add_argument("--key", metavar="FILE", help="Ed25519 signing key (default fleet.signing_key_file)")
    s.add_argument("--out", required=True, metavar="BUNDLE", help="bundle file to write")
    s.add_argument("--version", dest="bundle_version", type=_bundle_version, metavar="N",
                   help="bundle version (default: created_at, i.e. SOURCE_DATE_EPOCH or newest input mtime)")
    s.add_argument("--threads", type=int, default=0, metavar="N", help="embedding threads (default: all CPUs this process may use)")
    s.add_argument("--tier", default="lite", choices=("ultra_lite", "lite", "standard", "full"),
                   help="calibrate the abstain threshold as a box of this tier would (default lite)")

    s = csub.add_parser("verify", help="check a bundle's signature and every file offline")
    common(s)
    s.add_argument("bundle", metavar="BUNDLE")
    s.add_argument("--pub", metavar="FILE", help="public key(s) (default fleet.signing_pub_file)")

    s = csub.add_parser("push", help="announce a bundle to devices (retained, signed) and wait for reports")
    common(s)
    s.add_argument("bundle", metavar="BUNDLE")
    s.add_argument("devices", nargs="*", metavar="DEVICE")
    s.add_argument("--all", action="store_true", help="every device with a retained status on the broker")
    s.add_argument("--url", metavar="URL", help="where devices download it (default fleet.content_url/<file name>)")
    s.add_argument("--key", metavar="FILE", help="Ed25519 signing key (default fleet.signing_key_file)")
    s.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for reports (default fleet.report_timeout_s)")
    s.add_argument("--no-wait", action="store_true", help="publish and exit")

    s = csub.add_parser("status", help="desired vs reported content version per device")
    common(s)
    s.add_argument("--json", action="store_true", help="JSON output")
    s.add_argument("--wait", type=float, default=1.5, metavar="S", help="seconds to collect retained messages")

    r = sub.add_parser("rotate-key", help="rotate the content signing key with an overlap window (no reflashing)")
    common(r)
    r.add_argument("--key", metavar="FILE",
                   help="current key (default fleet.signing_key_file; with --hmac fleet.key_file)")
    r.add_argument("--hmac", action="store_true", help="rotate the fleet HMAC key of tier overrides instead")
    r.add_argument("devices", nargs="*", metavar="DEVICE", help="--hmac start: the devices to give the new key")
    r.add_argument("--all", action="store_true", help="--hmac start: every device with a retained status")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--status", action="store_true", help="which devices have the new key")
    g.add_argument("--finish", action="store_true", help="make the new key current (all devices have it)")
    r.add_argument("--force", action="store_true", help="--finish even though some devices lack the new key")
    r.add_argument("--wait", type=float, default=1.5, metavar="S", help="seconds to collect retained reports")

    s = csub.add_parser("serve", help="serve a folder of bundles over HTTP (Range supported)")
    common(s)
    s.add_argument("folder", metavar="DIR")
    s.add_argument("--bind", default="127.0.0.1", metavar="ADDR", help="address (0.0.0.0 for the devices' network)")
    s.add_argument("--port", type=int, default=8070, metavar="N")


def _bundle_version(text: str) -> int:
    """--version: an integer >= 0 (what content/desired allows; argparse makes the usage line)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more (boxes refuse a negative version)")
    return v


def _check_out(out: Path) -> None:
    """Before minutes of indexing: --out names a file in a directory that exists (a typo must
    not create a tree silently, nor fail only at the end)."""
    if out.is_dir():
        raise NicEdgeError(f"--out {out} is a directory", hint="--out names the bundle file to write, e.g. DIR/name.nicb")
    if not out.parent.is_dir():
        raise NicEdgeError(f"directory {out.parent} does not exist", hint="create it first or choose another --out")


def _cfg_file(cfg: Any, value: str | None, key: str, flag: str) -> Path:
    from nic_edge.core.config import file_in_config
    if value:
        return Path(value)
    setting = getattr(cfg.fleet, key.split(".")[1])
    if not setting:
        raise ConfigError([(key, f"not set; pass {flag} FILE or set it in --config")])
    return file_in_config(cfg, setting)


def dispatch(args: argparse.Namespace, cfg: Any) -> int:
    from nic_edge.core import ed25519
    from nic_edge.fleet import content

    action = args.content_command
    if action == "build":
        return _build(args, cfg)
    if action == "verify":
        keys = ed25519.load_public_keys(_cfg_file(cfg, args.pub, "fleet.signing_pub_file", "--pub"))
        manifest = content.verify(Path(args.bundle), keys)
        print(f"{args.bundle}: signature and {len(manifest['files'])} files OK: {content.describe(manifest)}")
        return EXIT_OK
    if action == "push":
        if bool(args.devices) == bool(args.all):
            raise NicEdgeError("name devices or pass --all (not both)", hint="nic-fleet content push BUNDLE DEVICE...")
        key = ed25519.load_private(_cfg_file(cfg, args.key, "fleet.signing_key_file", "--key"))
        return content.push(cfg, Path(args.bundle), None if args.all else list(args.devices), key,
                            args.url, args.timeout, args.no_wait)
    if action == "status":
        return content.status(cfg, args.json, args.wait)
    if action == "serve":
        return _serve(args)
    raise AssertionError(action)


def _build(args: argparse.Namespace, cfg: Any) -> int:
    from nic_edge.core import ed25519
    from nic_edge.core.threads import usable_cpus
    from nic_edge.engine import bundle_build
    from nic_edge.engine.embedder import Embedder
    from nic_edge.fleet.content import describe

    from nic_edge.fleet import rotation

    _check_out(Path(args.out))
    key_path = _cfg_file(cfg, args.key, "fleet.signing_key_file", "--key")
    key = ed25519.load_private(key_path)
    embedder = Embedder(threads=args.threads or usable_cpus(), batch_size=8)

    def progress(done: int, total: int, what: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{what}: {done}/{total}   ", end="", file=sys.stderr, flush=True)

    fleet_key = _cfg_file(cfg, None, "fleet.key_file", "--key") if cfg.fleet.key_file else None
    manifest = bundle_build.build([Path(m) for m in args.manuals], key, Path(args.out), embedder,
                                  version=args.bundle_version, progress=progress, tier=args.tier,
                                  trusted_keys=rotation.trusted_pems(key_path),
                                  device_keys=rotation.wrapped_device_keys(fleet_key) if fleet_key else None)
    for k in (key_path, fleet_key):
        if k is not None:
            rotation.note_build(k, manifest["version"])
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"{args.out}: {describe(manifest)}")
    return EXIT_OK


def rotate_key(args: argparse.Namespace, cfg: Any) -> int:
    from nic_edge.fleet import content, rotation

    key = _cfg_file(cfg, args.key, "fleet.key_file" if args.hmac else "fleet.signing_key_file", "--key")
    if not (args.status or args.finish):
        if args.hmac:
            devices = list(args.devices) or (content.known_devices(cfg) if args.all else [])
            rec = rotation.start_hmac(key, devices)
            what = f"bundles now carry the new device keys of {len(rec['devices'])} device(s)"
        else:
            rec = rotation.start(key)
            what = "bundles now carry both public keys"
        print(f"rotation started: new key {rec['new_key_id']} in {rotation.next_path(key)} (old {rec['old_key_id']}); "
              f"{what}: build and push one, then --status, then --finish")
        return EXIT_OK
    rec = rotation.read_record(key)
    if rec is None:
        raise NicEdgeError("no rotation record", hint="start one with nic-fleet rotate-key")
    reports = {dev: row["reported"] for dev, row in content.collect(cfg, args.wait).items()} if cfg.mqtt.host else {}
    if args.finish:
        rec = rotation.finish(key, reports, args.force)
        print(f"key {rec['new_key_id']} is now current in {key}; old key retired (record {rotation.record_path(key)})")
        return EXIT_OK
    print(f"rotation {rec['state']}: old {rec['old_key_id']} -> new {rec['new_key_id']}, "
          f"first bundle with the new key: {rec.get('first_version') or 'none built yet'}")
    for row in rotation.device_rows(rec, reports):
        print(f"{row['id']:<20} applied {str(row['applied_version']):>12}  new key: {'yes' if row['has_new_key'] else 'NO'}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from nic_edge.core.lifecycle import Runtime
    from nic_edge.fleet.content_server import BundleServer

    runtime = Runtime()
    server = runtime.add(BundleServer(Path(args.folder), args.bind, args.port))
    restore = runtime.install_signal_handlers()
    try:
        try:
            runtime.start()
        except OSError as exc:
            raise NicEdgeError(f"cannot serve on {args.bind}:{args.port}: {exc.strerror or exc}",
                               hint="choose another --port") from exc
        print(f"serving {args.folder} on {server.url} (Ctrl-C to stop)", flush=True)  # type: ignore[attr-defined]
        runtime.wait()
    finally:
        runtime.stop()
        restore()
    return EXIT_OK
