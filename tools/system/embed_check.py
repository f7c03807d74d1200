#!/usr/bin/env python3
"""Do the bundled int8 model's embeddings on this machine match another machine's?

    python3 tools/system/embed_check.py --write REF.json     # on the reference host (x86)
    python3 tools/system/embed_check.py --check REF.json     # on the other one (arm64 chroot)

Embeds a fixed set of manual-like sentences with the bundled model and the default TFLite
runtime; --check prints the lowest and median cosine between this machine's vectors and the
reference's and exits 1 when the lowest is under --min (default 0.999). Used by the arm64
userland test (tools/system/userland_arm64.sh): the same model file must give the same answers
on a Pi as on the x86 box where its figures were measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SENTENCES = [
    "How do I adjust the carburetor?",
    "Turn the needle valve to the right until the motor slows, then back a quarter turn.",
    "What is the tire pressure for the front wheels?",
    "The spark plug gap is 0.8 mm (0.032 inch).",
    "Remove the plate on the transmission cover under the floor boards at the driver's feet.",
    "Check the volume setting of the TV and make sure the mute button has not been pressed.",
    "Tighten the tensioner bolt to 25 newton metres.",
    "Coolant Capacity 12 quarts (11.4 liters) Coolant Type Ethylene glycol, 50/50 mix",
    "If the engine runs too fast with throttle fully retarded unscrew the adjusting screw.",
    "What's causing my ABS light to come on?",
    "Every three or four months the wheels should be removed and the bearings repacked.",
    "Symptom: Battery repeatedly goes dead overnight. Probable causes: parasitic draw.",
]


def _vectors() -> tuple[list[list[float]], str]:
    from nic_edge.engine.embedder import Embedder

    emb = Embedder(threads=1)
    mat = emb.embed_many(SENTENCES)
    return [[float(x) for x in row] for row in mat], emb.model_sha256


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", metavar="REF.json", help="write this machine's vectors here")
    g.add_argument("--check", metavar="REF.json", help="compare this machine's vectors with these")
    ap.add_argument("--min", type=float, default=0.999, help="lowest cosine accepted (default 0.999)")
    args = ap.parse_args(argv)
    vecs, sha = _vectors()
    if args.write:
        Path(args.write).write_text(json.dumps({"machine": platform.machine(), "model_sha256": sha,
                                                "vectors": vecs}), encoding="utf-8")
        print(f"embed_check: wrote {len(vecs)} vectors ({platform.machine()}) to {args.write}")
        return 0
    ref = json.loads(Path(args.check).read_text(encoding="utf-8"))
    if ref["model_sha256"] != sha:
        print(f"embed_check: different model files ({ref['model_sha256'][:12]} vs {sha[:12]})", file=sys.stderr)
        return 1
    cos = []
    for a, b in zip(ref["vectors"], vecs):
        na = sum(x * x for x in a) ** 0.5
        nb = sum(x * x for x in b) ** 0.5
        cos.append(sum(x * y for x, y in zip(a, b)) / (na * nb) if na and nb else 0.0)
    low = min(cos)
    print(f"embed_check: {platform.machine()} vs {ref['machine']}: {len(cos)} sentences, cosine lowest "
          f"{low:.6f}, median {statistics.median(cos):.6f} (accepted >= {args.min})")
    return 0 if low >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
