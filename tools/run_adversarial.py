#!/usr/bin/env python3
"""Adversarial and stress suites through ``nic-edge ask --jsonl`` (a fresh process, as a user runs it).

    python3 tools/run_adversarial.py --data-dir DIR [--suites ../shared/eval/adversarial] [--index]

``--index`` first indexes the bundled sample manual and the public-domain corpus manuals
(../shared/corpus/*.txt) into DIR (the engine's indexer; embeddings from the evaluation cache).
Every question of every category is sent as one ``{"id","question"}`` line; entries stored as
``{"python_expr": ...}`` (e.g. ``"A" * 5000``) are expanded by a tiny evaluator that accepts
only string literals, ``*`` by an int and ``+`` -- never ``eval``. Checks: exit code 0, no
traceback on stderr, one answer per input line with the same id and no ``error`` key. Prints
per category how many questions were answered / abstained (and why), and the abstain count
over the out-of-scope categories (those whose expected behaviour is to refuse), listing the
out-of-scope questions that were answered. Data missing -> a message and exit 0.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def expand(expr: str) -> str:
    """Value of a string expression made of literals, ``str * int`` and ``str + str``."""
    def ev(node: ast.AST) -> object:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add)):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add) and isinstance(a, str) and isinstance(b, str):
                return a + b
            if isinstance(node.op, ast.Mult) and isinstance(a, str) and isinstance(b, int) \
                    and 0 <= b <= 10_000:
                return a * b
        raise ValueError(f"unsupported expression {expr!r}")
    out = ev(ast.parse(expr, mode="eval").body)
    if not isinstance(out, str):
        raise ValueError(f"not a string: {expr!r}")
    return out


def load_suites(folder: Path) -> list[tuple[str, str, str, str]]:
    """(id, suite/category, expected, question) for every question of every suite file."""
    out = []
    for f in sorted(folder.glob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))["data"]
        for cats in data.values():
            for cat, spec in cats.items():
                for i, q in enumerate(spec.get("questions", [])):
                    text = expand(q["python_expr"]) if isinstance(q, dict) else q
                    out.append((f"{f.stem}:{cat}:{i}", f"{f.stem}/{cat}", spec.get("expected", ""), text))
    return out


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nic_edge", *args]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--suites", default=str(SHARED / "eval" / "adversarial"))
    ap.add_argument("--index", action="store_true", help="index the sample manual + corpus manuals first")
    ap.add_argument("--tier", default="ultra_lite")
    args = ap.parse_args(argv)
    suites = Path(args.suites)
    if not suites.is_dir():
        print(f"skip: no suites at {suites}")
        return 0
    env = dict(os.environ, NIC_EDGE_TIER=args.tier, PYTHONPATH=str(ROOT))
    if args.index:
        # Same indexer as `nic-edge index`; embeddings come from the evaluation cache
        # (tools/evaluate.py) so re-runs do not re-embed the corpus for minutes.
        sys.path.insert(0, str(ROOT))
        sys.path.insert(0, str(ROOT / "tools"))
        from evaluate import build_engine, make_embedder
        from nic_edge.core.resources import SAMPLE_MANUAL, data_file

        paths = [data_file(SAMPLE_MANUAL), *sorted((SHARED / "corpus").glob("*.txt"))]
        build_engine(Path(args.data_dir), paths, tier=args.tier, embedder=make_embedder())
    items = load_suites(suites)
    stdin = "".join(json.dumps({"id": i, "question": q}) + "\n" for i, _, _, q in items)
    proc = subprocess.run(cli("ask", "--jsonl", "--no-cache", "--data-dir", args.data_dir), input=stdin,
                          capture_output=True, text=True, env=env)
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    by_id = {a.get("id"): a for a in answers}
    problems = []
    if proc.returncode != 0:
        problems.append(f"exit code {proc.returncode}")
    if "Traceback" in proc.stderr:
        problems.append("traceback on stderr:\n" + proc.stderr[-2000:])
    if len(answers) != len(items):
        problems.append(f"{len(answers)} answers for {len(items)} questions")
    problems += [f"{a.get('id')}: error {a['error']}" for a in answers if "error" in a]
    problems += [f"{i}: no answer" for i, *_ in items if i not in by_id]
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    expected: dict[str, str] = {}
    for i, cat, exp, _ in items:
        a = by_id.get(i, {})
        expected[cat] = exp
        table[cat]["n"] += 1
        table[cat]["answered" if a.get("abstained") is False else f"abstained:{a.get('reason')}"] += 1
    print(f"{len(items)} questions from {', '.join(f.name for f in sorted(suites.glob('*.json')))}; "
          f"exit {proc.returncode}; modes {sorted({a.get('mode') for a in answers})}")
    for cat, c in table.items():
        rest = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k not in ("n",))
        print(f"  {cat:55s} expected {expected[cat]:32s} n {c['n']:3d}: {rest}")
    oos = [cat for cat, exp in expected.items() if exp == "refuse"]
    n = sum(table[c]["n"] for c in oos)
    abst = sum(table[c]["n"] - table[c]["answered"] for c in oos)
    print(f"out-of-scope (expected 'refuse'): abstained {abst}/{n}")
    for i, cat, exp, q in items:
        a = by_id.get(i, {})
        if exp == "refuse" and a.get("abstained") is False:
            print(f"  answered: {q[:80]!r} (confidence {a.get('confidence')})")
    print("errors: none" if not problems else "PROBLEMS:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
