"""``nic-fleet release build`` and ``nic-fleet release push`` (fleet side: core + schema only).

build: the project's wheel (``pip wheel --no-deps``, or a given ``--wheel``) and its dependencies'
wheels for the target (``pip download --only-binary=:all: --platform ... --python-version ...``),
a manifest with the version and every file's sha256, signed with the fleet's Ed25519 key, packed
into one tar with fixed metadata (same inputs and key -> same bytes).

push: a signed announcement on each device's retained ``<prefix>/<id>/software/desired``; then it
waits for the reports on ``software/reported`` (the updater on each box: nic_edge/updater/).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from nic_edge.comms import schema
from nic_edge.core import ed25519
from nic_edge.core.config import Config
from nic_edge.core.release import FORMAT, MANIFEST, SIGNATURE, check_version, manifest_bytes, read_bundle, sign_announcement
from nic_edge.core.storage import file_sha256
from nic_edge.errors import ReleaseError
from nic_edge.fleet.reports import summarize

log = logging.getLogger(__name__)

# pip --platform tags for each CPU architecture. pip does not widen an explicit manylinux_2_X tag
# to older glibc versions, so every one up to the target's glibc is listed: Raspberry Pi OS
# Bookworm has glibc 2.36. Pure-python wheels match any of them.
TARGET_GLIBC_MINOR = 36
PLATFORMS = {arch: [f"manylinux_2_{m}_{arch}" for m in range(TARGET_GLIBC_MINOR, 16, -1)]
             + [f"manylinux2014_{arch}", f"linux_{arch}"] for arch in ("aarch64", "x86_64")}
FINAL = ("applied", "rejected", "failed", "rolled_back")
_PYTHON_VERSION = re.compile(r"^[0-9]{1,2}\.[0-9]{1,3}$")
_WHEEL_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.+\.whl$")


def _pip(args: list[str], what: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ReleaseError(f"{what} failed: {tail}", "check the project, the index or --find-links")


def check_python_version(text: str) -> str:
    """A target python as MAJOR.MINOR ("3.11"): the box compares it with its own exactly, so
    "3" or "3.11.2" would build a bundle no box installs."""
    if not _PYTHON_VERSION.match(text):
        raise ReleaseError(f"--python-version {text!r} is not MAJOR.MINOR", "e.g. --python-version 3.11")
    return text


def build_release(out: Path, key_file: Path, project: Path | None = None, wheel: Path | None = None,
                  python_version: str = "3.11", arch: str = "aarch64", find_links: list[str] | None = None,
                  no_index: bool = False) -> dict[str, Any]:
    check_python_version(python_version)
    if arch not in PLATFORMS:
        raise ReleaseError(f"unknown --arch {arch!r}", f"use one of {', '.join(PLATFORMS)}")
    key = ed25519.load_private(key_file)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".release-", dir=out.parent) as tmp:
        wheels = Path(tmp) / "wheels"
        if wheel is None:
            _pip(["wheel", "--no-deps", "-q", "-w", str(Path(tmp) / "build"), str(project or Path.cwd())],
                 "building the project wheel")
            wheel = next((Path(tmp) / "build").glob("*.whl"))
        m = _WHEEL_NAME.match(Path(wheel).name)
        if m is None:
            raise ReleaseError(f"{wheel} is not a wheel file name", "pass the .whl built for the project")
        version = check_version(m.group("version"))
        name = m.group("name").replace("_", "-")
        links: list[str] = []
        for f in find_links or []:
            links += ["--find-links", f]
        plats: list[str] = []
        for p in PLATFORMS[arch]:
            plats += ["--platform", p]
        _pip(["download", "-q", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
              *plats, "-d", str(wheels), *(["--no-index"] if no_index else []), *links, str(wheel)],
             "downloading the dependency wheels")
        files = {}
        for w in sorted(wheels.glob("*.whl")):
            data = w.read_bytes()
            files[f"wheels/{w.name}"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        manifest = {"format": FORMAT, "name": name, "version": version, "python": python_version, "arch": [arch],
                    "platforms": PLATFORMS[arch], "requirement": f"{name}=={version}", "files": files}
        raw = manifest_bytes(manifest)
        sig = ed25519.sign(key, raw).encode("ascii")
        tmp_out = Path(tmp) / "bundle.tar"
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, MANIFEST, raw)
            _add(tar, SIGNATURE, sig + b"\n")
            for rel in sorted(files):
                _add(tar, rel, (wheels / Path(rel).name).read_bytes())
        os.replace(tmp_out, out)
    return {"file": str(out), "version": version, "name": name, "wheels": len(files), "bytes": out.stat().st_size,
            "sha256": file_sha256(out)}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime, ti.uname, ti.gname = len(data), 0o644, 0, "", ""
    tar.addfile(ti, io.BytesIO(data))


def desired_topic(prefix: str, device: str) -> str:
    """SchemaError (one line) for an id the device id rule refuses: 'a/b' would publish to
    another topic, 'x#' is a wildcard, a 100-character id no box can have."""
    schema.topic(prefix, device, schema.STATUS)  # the rule set-tier and content push apply
    return f"{prefix}/{device}/software/desired"


def reported_topic(prefix: str, device: str) -> str:
    schema.topic(prefix, device, schema.STATUS)
    return f"{prefix}/{device}/software/reported"


def _status_devices(messages: list[tuple[str, bytes, bool]], prefix: str) -> list[str]:
    """Devices with a retained ``status``; junk under an unusable id is skipped (as content
    push and status do), not a reason to push to nobody."""
    devices = set()
    for topic, _, _ in messages:
        try:
            dev, kind = schema.parse_topic(topic, prefix)
        except schema.SchemaError as exc:
            log.warning("ignoring %s: %s", topic[:100], exc)
            continue
        if kind == schema.STATUS:
            devices.add(dev)
    return sorted(devices)


def push_release(cfg: Config, bundle: Path, devices: list[str], all_devices: bool, key_file: Path,
                 url: str | None, allow_downgrade: bool, timeout: float | None, no_wait: bool) -> int:
    from nic_edge.fleet.tools import FleetClient  # noqa: PLC0415 - paho only when pushing
    if not Path(bundle).is_file():  # read_bundle's "unreadable ... download it again" fits a box, not this
        raise ReleaseError(f"{bundle}: no such bundle file", "check the path, or make one with nic-fleet release build")
    key = ed25519.load_private(key_file)
    manifest = read_bundle(Path(bundle), [key.public_key()])  # never announce what a box would reject
    if not url:
        if not cfg.fleet.content_url:
            raise ReleaseError("no download URL for the bundle", "pass --url URL or set fleet.content_url")
        url = cfg.fleet.content_url.rstrip("/") + "/" + Path(bundle).name
    prefix = cfg.mqtt.topic_prefix
    topics = {dev: desired_topic(prefix, dev) for dev in devices}  # every id checked before any publish
    fc = FleetClient(cfg, "release")
    fc.connect([schema.subscription(prefix, schema.STATUS), f"{prefix}/+/software/reported"])
    try:
        seen = fc.drain(time.monotonic() + (1.5 if all_devices else 0.3))
        if all_devices:
            devices = _status_devices(seen, prefix)
            topics = {dev: desired_topic(prefix, dev) for dev in devices}
            if not devices:
                raise ReleaseError("no devices seen under " + prefix + "/+/status", "name the devices instead of --all")
        body = {"version": manifest["version"], "url": url, "size": Path(bundle).stat().st_size,
                "sha256": file_sha256(Path(bundle)), "format": FORMAT, "allow_downgrade": bool(allow_downgrade),
                "issued_at": time.time()}
        for dev in devices:
            payload = sign_announcement(body, dev, key)
            fc.publish(topics[dev], json.dumps(payload, sort_keys=True).encode(), retain=True)
        if no_wait:
            for dev in devices:
                print(f"{dev}: announced {manifest['version']}")
            return 0
        return _wait_reports(fc, prefix, devices, body, timeout if timeout is not None else cfg.fleet.report_timeout_s)
    finally:
        fc.close()


def _wait_reports(fc: Any, prefix: str, devices: list[str], body: dict[str, Any], timeout: float) -> int:
    """The first report per device answering this push: live (a retained one predates the push:
    an earlier try of the same version), of this version and bundle (``sha256``; an updater
    that does not send it is matched by version). Not by the box's ``ts``: a Pi has no RTC, and
    a box whose clock is behind the fleet host's still answers."""
    deadline = time.monotonic() + timeout
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(devices) and time.monotonic() < deadline:
        for topic, payload, retained in fc.drain(min(deadline, time.monotonic() + 0.2)):
            dev = topic[len(prefix) + 1:].rsplit("/software/reported", 1)[0]
            try:
                rep = json.loads(payload)
            except ValueError:
                continue
            if (not retained and dev in devices and isinstance(rep, dict) and rep.get("version") == body["version"]
                    and rep.get("status") in FINAL and rep.get("sha256") in (None, body["sha256"])):
                results[dev] = rep
    return summarize(devices, results, "no report within the timeout; the announcement is retained and "
                     "applies when it connects", lambda rep: f" {rep['version']}")
