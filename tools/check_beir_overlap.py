#!/usr/bin/env python3
"""Issue 17 must-show: two BEIR corpora whose `_id`s overlap, in one data dir, both kept.

    python3 tools/check_beir_overlap.py [--work DIR] [--questions N]

Builds two BEIR files from two public-domain corpus manuals (../shared/corpus): one record per
section, ids `section_1`, `section_2`, ... in each, both files named `corpus.jsonl` (as held-out
style sets are). Indexes each alone into its own data dir, then both into one, with the real
`nic-edge` CLI, and asks each set's questions (its own section titles, N per set) in all three.
Prints, per set, how many questions are answered, how many cite the same record of the same
file first as when indexed alone, and how many give the identical answer text (the text can
differ a little: BM25 term statistics are corpus-wide, so a bigger index can pick another
sentence of the same record, or a neighbouring record). Exit 0 when every question answered
alone is answered together, and every first citation comes from the question's own file.
Before issue 17 the second file replaced the first's records.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
MANUALS = {"ford": "ford_model_t_manual_1919.txt", "tm9": "tm9_802.txt"}


def to_beir(manual: Path, out: Path) -> list[str]:
    from nic_edge.engine.ingest import load_file

    (doc,) = load_file(manual).documents
    sections: dict[str, list[str]] = {}
    for c in doc.chunks:
        sections.setdefault(c.section or "(untitled)", []).append(c.text)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for n, (title, texts) in enumerate(sections.items(), 1):
            fh.write(json.dumps({"_id": f"section_{n}", "title": title, "text": "\n".join(texts)}) + "\n")
    return [t for t in sections if t.endswith("?") or len(t.split()) >= 3]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nic_edge", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT)


def ask_all(data: Path, qs: list[str]) -> list[tuple]:
    lines = "".join(json.dumps({"id": str(i), "question": q}) + "\n" for i, q in enumerate(qs))
    r = cli("ask", "--jsonl", "--no-cache", "--data-dir", str(data), stdin=lines)
    out = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    res = []
    for a in out:
        c = (a.get("citations") or [{}])[0]
        res.append((a.get("answer"), c.get("source"), c.get("chunk_id")))
    return res


def main() -> int:
    from nic_edge.core.cpuinfo import cpu_banner

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path)
    ap.add_argument("--questions", type=int, default=15)
    args = ap.parse_args()
    print(cpu_banner())
    if not all((CORPUS / m).exists() for m in MANUALS.values()):
        print(f"{CORPUS} not present: nothing to check")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="beir-overlap-"))
    files, qs = {}, {}
    for key, name in MANUALS.items():
        files[key] = work / key / "corpus.jsonl"
        titles = to_beir(CORPUS / name, files[key])
        step = max(1, len(titles) // args.questions)
        qs[key] = titles[::step][:args.questions]
        print(f"{key}: {files[key]} ({sum(1 for _ in files[key].open())} records)")
    alone = {}
    for key in MANUALS:
        d = work / f"alone-{key}"
        r = cli("index", str(files[key]), "--data-dir", str(d), "--quiet")
        print(f"index {key} alone: exit {r.returncode}: {r.stdout.strip()}")
        alone[key] = ask_all(d, qs[key])
    both = work / "both"
    for key in MANUALS:
        r = cli("index", str(files[key]), "--data-dir", str(both), "--quiet")
        print(f"index {key} into the shared dir: exit {r.returncode}: {r.stdout.strip()}")
    r = cli("manuals", "--json", "--data-dir", str(both))
    for m in json.loads(r.stdout)["manuals"]:
        print(f"  manuals: {m['source']} {m['file']} chunks={m['chunks']} records={m.get('record_count')}")
    from nic_edge.engine.store import IndexStore

    snap = IndexStore(both / "index").open_current()
    file_of = {snap.chunk_id(i): snap.file(i) for i in range(snap.n)}
    ok = True
    for key in MANUALS:
        together = ask_all(both, qs[key])
        own = str(files[key].resolve())
        from_own = sum(1 for _, _, cid in together if file_of.get(cid) == own)
        n = len(qs[key])
        answered = sum(1 for a, _, _ in together if a)
        same_record = sum(1 for x, y in zip(alone[key], together) if x[1] == y[1] and y[0])
        same_text = sum(1 for x, y in zip(alone[key], together) if x[0] == y[0])
        print(f"{key}: {answered}/{n} answered (alone: {sum(1 for a, _, _ in alone[key] if a)}), "
              f"{from_own}/{n} first citations from its own file, {same_record}/{n} the same record "
              f"as alone, {same_text}/{n} identical answer text")
        ok &= from_own == n and answered == sum(1 for a, _, _ in alone[key] if a)
    print("both corpora kept: each set answered from its own records" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
