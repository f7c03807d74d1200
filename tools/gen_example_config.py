#!/usr/bin/env python3
"""Regenerate config/device.example.toml from the config dataclasses (every key, its default, its doc).

Usage: python tools/gen_example_config.py [--check]
--check exits 1 when the committed file is out of date (used by a test).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.core.config import SECTIONS  # noqa: E402

HEADER = """\
# nic_edge device configuration: every key with its default.
# Validate with: nic-edge check-config FILE. Unknown keys are errors.
# Secrets are never written here: keys ending in _file name files that hold them (mode 0600);
# relative paths are relative to this file.
# The [aggregator] section is read by nic-aggregator only; nic-fleet reads [mqtt] and [fleet].
"""

SECTION_DOCS = {
    "device": "The box itself.",
    "http": "Local status page and JSON API (stdlib server). TLS: put a reverse proxy in front.",
    "mqtt": "Telemetry to a broker. Empty host = no MQTT.",
    "cache": "Answer cache: tiny in-process L1 over an LMDB L2 in the data dir. 0 = tier profile value.",
    "engine": "Retrieval and answers. 0 / -1 = tier profile or built-in default.",
    "alerts": "Alert rules (config/alerts.toml ships the defaults).",
    "audit": "Audit log (JSONL in the data dir, size-rotated).",
    "fleet": "Signed tier overrides. On a device key_file is its derived key; for nic-fleet the fleet key.",
    "content": "Signed content bundles pushed by nic-fleet content push (downloads, retries).",
    "aggregator": "nic-aggregator only.",
    "software": "Software updates (nic-edge updater): venvs beside each other, health deadline, rollback.",
}


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def render() -> str:
    out = [HEADER]
    for name, cls in SECTIONS.items():
        out.append(f"\n# {SECTION_DOCS.get(name, '')}\n[{name}]")
        for f in dataclasses.fields(cls):
            out.append(f"{f.name} = {toml_value(f.default)}  # {f.metadata.get('doc', '')}")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the committed file is current")
    args = ap.parse_args()
    target = Path(__file__).resolve().parent.parent / "config" / "device.example.toml"
    text = render()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run python tools/gen_example_config.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
