"""``nic-fleet flash``: validate every device first, then write images, boot dirs or bundle dirs.

Targets:
  --image FILE            write into the image in place (one device), or copies OUT/<id>.img with --out
  --boot DIR              write into a mounted boot partition (one device)
  --out DIR (no target)   a directory of bundles, OUT/<id>/nic-edge/..., to copy onto cards later
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from nic_edge.core.config import Config, file_in_config
from nic_edge.core.signing import read_key
from nic_edge.errors import ConfigError, NicEdgeError, ProvisioningError
from nic_edge.fleet.provision.bundle import (
    FIRSTBOOT_NAME, SERVICE_NAME, Bundle, build_bundle, load_config_data)
from nic_edge.fleet.provision.flash import DirFS, FlashResult, open_image, write_bundle
from nic_edge.fleet.provision.inventory import absolutize, load_inventory

log = logging.getLogger(__name__)

# (file in firmware/, name in the bundle)
FIRMWARE_FILES = (("nic-edge-firstboot.sh", FIRSTBOOT_NAME), ("nic-edge.service", SERVICE_NAME))


def add_flash_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``nic-fleet flash``; the caller passes the parsed args to flash_main."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--image", metavar="FILE", help="Raspberry Pi OS image file to write into (no root needed)")
    target.add_argument("--boot", metavar="DIR", help="mounted boot partition of an SD card")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--device-config", metavar="FILE", help="one device's config (TOML)")
    source.add_argument("--inventory", metavar="FILE", help="many devices: CSV or TOML (see docs/PROVISIONING.md)")
    parser.add_argument("--template", metavar="FILE", help="base device config for --inventory rows")
    parser.add_argument("--out", metavar="DIR",
                        help="write OUT/<id>.img copies of --image, or (without --image/--boot) OUT/<id>/ bundle dirs")
    parser.add_argument("--manuals", metavar="DIR",
                        help="manuals to carry (first boot copies them to /var/lib/nic-edge/manuals)")
    parser.add_argument("--content", metavar="BUNDLE.nicb",
                        help="a prebuilt index to carry (nic-fleet content build): the box applies it at first "
                             "start instead of indexing, verified with the flashed content-signing.pub")
    parser.add_argument("--fleet-key", metavar="FILE", help="fleet key (default: fleet.key_file of the fleet config)")
    parser.add_argument("--force", action="store_true", help="overwrite existing OUT/<id>.img or OUT/<id>/")
    parser.add_argument("--dry-run", action="store_true", help="validate and show what would be written; write nothing")


def firmware_file(name: str) -> bytes:
    """A file from ``firmware/``: shipped as ``nic_edge._firmware`` in a wheel, else the checkout's."""
    try:
        ref = resources.files("nic_edge._firmware") / name
        if ref.is_file():
            return ref.read_bytes()
    except ModuleNotFoundError:
        pass
    candidate = Path(__file__).resolve().parents[3] / "firmware" / name
    try:
        return candidate.read_bytes()
    except OSError:
        raise ProvisioningError(f"firmware file {name} not found", hint="reinstall nic-edge") from None


def _fleet_key(args: argparse.Namespace, cfg: Config | None) -> bytes:
    if args.fleet_key:
        return read_key(Path(args.fleet_key))
    if cfg is not None and cfg.fleet.key_file:
        return read_key(file_in_config(cfg, cfg.fleet.key_file))
    raise ProvisioningError("no fleet key", hint="pass --fleet-key FILE or set fleet.key_file in the nic-fleet config "
                                                 "(create one with nic-fleet keygen --out FILE)")


def _signing_pub(cfg: Config | None) -> bytes | None:
    """The fleet's content signing public key (fleet.signing_pub_file, else the .pub next to
    fleet.signing_key_file), flashed so boxes can verify pushed bundles; None if neither is set."""
    if cfg is None:
        return None
    if cfg.fleet.signing_pub_file:
        path = file_in_config(cfg, cfg.fleet.signing_pub_file)
    elif cfg.fleet.signing_key_file:
        path = file_in_config(cfg, cfg.fleet.signing_key_file + ".pub")
    else:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProvisioningError(f"cannot read the signing public key {path}: {exc.strerror or exc}",
                                hint="nic-fleet keygen --signing --out FILE writes FILE.pub") from exc


def _content(path: Path, signing_pub: bytes | None) -> bytes:
    """The content bundle to flash, refused here unless the public key being flashed verifies
    it (a box would refuse it at first start and index its manuals instead, for hours)."""
    from nic_edge.core import bundle as bundle_file
    from nic_edge.core import ed25519

    if signing_pub is None:
        raise ProvisioningError("--content needs the fleet's content signing public key on the card",
                                hint="set fleet.signing_pub_file (or fleet.signing_key_file) in the nic-fleet config")
    try:
        keys = ed25519.load_public_keys(signing_pub)
        b = bundle_file.read_bundle(path, keys)
        bundle_file.check_files(b)
    except NicEdgeError as exc:
        raise ProvisioningError(f"--content {path}: {exc.message}",
                                hint="build it with nic-fleet content build, signed by the key flashed") from exc
    except OSError as exc:
        raise ProvisioningError(f"--content {path}: {exc.strerror or exc}") from exc
    log.info("content bundle %s: version %d, %s chunks, model %s", path.name, b.version,
             b.manifest.get("chunks"), (b.model_sha256 or "?")[:12])
    return path.read_bytes()


def _bundles(args: argparse.Namespace, fleet_key: bytes, signing_pub: bytes | None = None) -> list[Bundle]:
    extras = {dst: (firmware_file(src), 0o755 if dst.endswith(".sh") else 0o644) for src, dst in FIRMWARE_FILES}
    manuals = Path(args.manuals) if args.manuals else None
    content = _content(Path(args.content), signing_pub) if getattr(args, "content", None) else None
    if args.device_config:
        path = Path(args.device_config)
        data = absolutize(load_config_data(path), path.resolve().parent)
        entries: list[tuple[dict[str, Any], str]] = [(data, str(path))]
    else:
        tpl = Path(args.template) if args.template else None
        entries = [(e.data, e.where) for e in load_inventory(Path(args.inventory), tpl)]
    bundles = []
    problems: list[tuple[str, str]] = []
    for data, where in entries:
        try:
            bundles.append(build_bundle(data, Path.cwd(), fleet_key, source=where,
                                        manuals=manuals, extra_files=extras, signing_pub=signing_pub,
                                        content_bundle=content))
        except ConfigError as exc:
            problems.extend((f"{where}: {p}", m) for p, m in exc.problems)
    if problems:
        raise ConfigError(problems)
    return bundles


def _plan(args: argparse.Namespace, bundles: list[Bundle]) -> list[tuple[Bundle, str, Path]]:
    """(bundle, kind, path) per device; every refusal happens here, before any write."""
    many = len(bundles) > 1
    out = Path(args.out) if args.out else None
    if args.boot:
        if many:
            raise ProvisioningError("--boot holds one device but the inventory lists %d" % len(bundles),
                                    hint="use --out DIR for a directory of bundles, or --image with --out")
        boot = Path(args.boot)
        if not boot.is_dir():
            raise ProvisioningError(f"--boot {boot} is not a directory", hint="mount the card's boot partition")
        if not os.access(boot, os.W_OK):
            raise ProvisioningError(f"--boot {boot} is not writable", hint="check the mount options")
        return [(bundles[0], "boot", boot)]
    if args.image:
        image = Path(args.image)
        if out is None:
            if many:
                raise ProvisioningError("an inventory with --image needs --out DIR (one image per device)")
            return [(bundles[0], "image", image)]
        plan = [(b, "image-copy", out / f"{b.device_id}.img") for b in bundles]
    elif out is not None:
        plan = [(b, "bundle-dir", out / b.device_id) for b in bundles]
    else:
        raise ProvisioningError("nowhere to write", hint="pass --image FILE, --boot DIR or --out DIR")
    folded: dict[str, str] = {}
    for b, _, path in plan:
        other = folded.setdefault(b.device_id.casefold(), b.device_id)
        if other != b.device_id:  # one file on a case-insensitive medium (FAT, exFAT, macOS, Windows)
            raise ProvisioningError(f"device ids {other!r} and {b.device_id!r} differ only in letter case",
                                    hint="give each box an id that differs in more than case; nothing was written")
        if any(c in b.device_id for c in "\\:\0") or b.device_id in (".", ".."):
            raise ProvisioningError(f"device id {b.device_id!r} cannot be used as a file name under --out")
        if path.exists() and not args.force:
            raise ProvisioningError(f"{path} already exists", hint="remove it or pass --force")
    return plan


def sparse_copy(src: Path, dst: Path, block: int = 1 << 20) -> None:
    """Copy ``src`` to ``dst`` leaving all-zero blocks as holes (a 1 MB base image with a 400 MB
    empty root partition must not become 400 MB per device)."""
    zero = bytes(block)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(block):
            if chunk == zero[:len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate()  # the size, including a trailing hole


def run_flash(args: argparse.Namespace, cfg: Config | None) -> list[FlashResult]:
    """Validate all devices, then write; raises NicEdgeError subclasses."""
    bundles = _bundles(args, _fleet_key(args, cfg), _signing_pub(cfg))
    plan = _plan(args, bundles)
    if args.image:
        # Validate the base image once (writable only matters when writing in place).
        if plan[0][1] == "image":
            open_image(Path(args.image))
        else:
            from nic_edge.fleet.provision.partitions import find_boot_partition
            find_boot_partition(Path(args.image))
    if args.dry_run:
        # the same checks a real run makes before its first byte (free space, cmdline.txt and
        # user-data can take the hook), on the card or image as it is now; nothing written
        from nic_edge.fleet.provision.flash import FatImage, preflight
        from nic_edge.fleet.provision.partitions import find_boot_partition
        for b, kind, path in plan:
            if kind == "boot":
                preflight(DirFS(path), b)
            elif kind in ("image", "image-copy"):
                image = Path(args.image)
                preflight(FatImage(image, find_boot_partition(image).offset), b)
        return [FlashResult(b.device_id, f"{path} (dry run)", sorted(b.files)) for b, _, path in plan]
    results = []
    for bundle, kind, path in plan:
        if kind == "boot":
            results.append(write_bundle(DirFS(path), bundle, str(path)))
        elif kind == "bundle-dir":
            path.mkdir(parents=True, exist_ok=True)
            results.append(write_bundle(DirFS(path), bundle, str(path), hook=False))
        else:
            if kind == "image-copy":
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".partial")
                try:
                    sparse_copy(Path(args.image), tmp)  # a mostly empty image stays small on disk
                    os.chmod(tmp, 0o600)  # the copy will hold secrets
                    result = write_bundle(open_image(tmp), bundle, str(path))
                    os.replace(tmp, path)
                except BaseException:  # SIGTERM included (Terminated)
                    tmp.unlink(missing_ok=True)  # never leave a half-written image behind
                    raise
                results.append(result)
            else:
                results.append(write_bundle(open_image(path), bundle, str(path)))
    return results


class Terminated(BaseException):
    """SIGTERM during flash: a BaseException, so only the cleanups (``except BaseException``,
    ``finally``) see it on its way out and no .partial image or half-written bundle stays."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def flash_main(args: argparse.Namespace, cfg: Config | None) -> int:
    """``nic-fleet flash``: 0 done, 2 config/usage error, 1 provisioning error, 143 SIGTERM."""
    import signal
    import threading
    previous = None
    if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        results = run_flash(args, cfg)
    except Terminated:
        print("nic-fleet flash: terminated; no half-written file was left (a card whose old bundle had to make "
              "room says so above: flash it again)", file=sys.stderr)
        return 143
    except ConfigError as exc:
        print("nic-fleet flash: invalid config: " + "; ".join(exc.lines()), file=sys.stderr)
        return 2
    except NicEdgeError as exc:
        print(f"nic-fleet flash: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # boundary: disk full, permissions on --out
        print(f"nic-fleet flash: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for r in results:
        print(f"{r.device_id}: {r.target}: {len(r.files)} files" + (f", hook: {r.hook}" if r.hook else ""))
    return 0
