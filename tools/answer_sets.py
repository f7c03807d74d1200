"""Question sets with gold answer text for tools/eval_answers.py.

Each loader returns an ``AnswerSet``: the corpus files to index, the in-scope questions with their
gold answers (several alternatives allowed: a question is scored against the one it matches
best), the set's own out-of-scope questions, and how to tell whether a cited chunk is relevant.

* ford: tools/data/ford_qa.jsonl over the bundled 1919 Ford manual (always available).
* nic_qa: ../shared/eval/nic_qa; gold = the text of each ``context`` paragraph or table of
  vehicle_manual.txt (a sub-paragraph label "Para 4-2.2" is the step that cites it);
  out-of-scope = ``hard_refusal_cases``.
* heldout_camera, heldout_heatpump, heldout_soundbar, heldout_mower, heldout_tv, heldout_phone,
  heldout_printer, heldout_vacuum: tools/data/<name>, BEIR folders of eight manuals written
  blind, gold = the expert's copied answer (tools/data/README.md).
* mtragun (or any BEIR-layout folder): gold = ``metadata.reference_answer``; ANSWERABLE and
  PARTIAL are in scope, UNANSWERABLE out of scope, others (UNDERSPECIFIED) left out; relevance
  from qrels/test.tsv. A BEIR set without answerability labels has every query in scope.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from answer_metrics import tokens

ROOT = Path(__file__).resolve().parent.parent
FORD_SET = ROOT / "tools" / "data" / "ford_qa.jsonl"
FORD_MANUAL = ROOT / "nic_edge" / "data" / "ford_model_t_manual_1919.txt"
OFF_TOPIC = ROOT / "tools" / "data" / "off_topic_eval.txt"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
BUNDLED_BEIR = ("heldout_camera", "heldout_heatpump",   # tools/data/<name>, BEIR layout
                "heldout_soundbar", "heldout_mower", "heldout_tv", "heldout_phone", "heldout_printer",
                "heldout_vacuum")

# relevant(item, source, section, chunk_text) -> bool
Relevance = Callable[["Item", str, "str | None", str], bool]


@dataclass
class Item:
    qid: str
    question: str
    golds: list[str] = field(default_factory=list)   # empty for out-of-scope questions
    relevant: frozenset[str] = frozenset()           # doc ids / section labels / section name


@dataclass
class AnswerSet:
    name: str
    corpus: list[Path]
    in_scope: list[Item]
    out_scope: list[Item]
    relevance: Relevance
    notes: list[str] = field(default_factory=list)
    # Sets of one domain may answer each other's questions (the Ford and nic_qa vehicle manuals
    # both cover overheating); only other domains' questions count as out of scope.
    domain: str = ""


class SetUnavailable(Exception):
    """The set's data is not on this machine (../shared is local only)."""


# --- Ford -----------------------------------------------------------------------------------
SHINGLE = 8


def _shingles(text: str) -> set[tuple[str, ...]]:
    t = tokens(text)
    return {tuple(t[i:i + SHINGLE]) for i in range(len(t) - SHINGLE + 1)}


def _ford_relevant(item: Item, source: str, section: str | None, text: str) -> bool:
    """The heading's section, by name or (if the ingest names sections differently) by content:
    the cited chunk shares a run of 8 content words with the gold answer."""
    if " ".join((section or "").split()) in item.relevant:
        return True
    return any(_shingles(text) & _shingles(g) for g in item.golds)


def load_ford(path: Path = FORD_SET, limit: int | None = None) -> AnswerSet:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [Item(r["id"], r["question"], [r["gold"]], frozenset({" ".join(r["section"].split())}))
             for r in rows[:limit]]
    return AnswerSet("ford", [FORD_MANUAL], items, [], _ford_relevant, domain="vehicle")


# --- nic_qa ---------------------------------------------------------------------------------
_BLOCK = re.compile(r"^(Para \d+-\d+|Table \d+-\d+|Safety Notice \d+-[A-Z]|SECTION \d+)\b", re.M)
_PAGE = re.compile(r"^--- PAGE \d+ ---$", re.M)


def nic_qa_paragraphs(manual_text: str) -> dict[str, str]:
    """Label ("Para 1-2", "Table 7-1", "Para 4-2.2") -> its text, page markers removed."""
    text = _PAGE.sub("", manual_text)
    marks = list(_BLOCK.finditer(text))
    out: dict[str, str] = {}
    for m, nxt in zip(marks, marks[1:] + [None]):
        body = text[m.start(): nxt.start() if nxt else len(text)]
        label = m.group(1)
        # The heading line ("Para 1-2: Engine Cranks But Won't Start") is the citation's
        # section, not part of the answer.
        out.setdefault(label, " ".join(body.split("\n", 1)[-1].split()))
        if label.startswith("Para "):
            # Sub-paragraphs are the steps that end in "[Citation: Para 4-2.2 ...]".
            lines = body.splitlines()
            start = 1
            for i, line in enumerate(lines):
                for sub in re.findall(r"\[Citation: ([^\]]+)\]", line):
                    for lab in (s.strip() for s in sub.split(",")):
                        if re.fullmatch(r"Para \d+-\d+\.\d+", lab):
                            out.setdefault(lab, " ".join(" ".join(lines[start:i + 1]).split()))
                if "[Citation:" in line:
                    start = i + 1
    return out


def _label(section: str | None) -> str:
    return (section or "").split(":")[0].strip().lower()


def _nic_relevant(item: Item, source: str, section: str | None, text: str) -> bool:
    """An expected label matches the section or its parent paragraph ("Para 4-2.2" -> "Para 4-2")."""
    lab = _label(section)
    return any(lab in (e.lower(), re.sub(r"\.\d+$", "", e.lower())) for e in item.relevant)


def load_nic_qa(root: Path | None = None) -> AnswerSet:
    root = root or SHARED_EVAL / "nic_qa"
    ds_path, manual = root / "nic_qa_dataset.json", root / "vehicle_manual.txt"
    if not ds_path.is_file() or not manual.is_file():
        raise SetUnavailable(f"nic_qa data not found under {root}")
    ds = json.loads(ds_path.read_text(encoding="utf-8"))
    paras = nic_qa_paragraphs(manual.read_text(encoding="utf-8"))
    items, notes = [], []
    for c in ds["positive_cases"]:
        golds = [paras[lab] for lab in c["context"] if lab in paras]
        missing = [lab for lab in c["context"] if lab not in paras]
        if missing:
            notes.append(f"{c['id']}: no text found for {missing}")
        items.append(Item(c["id"], c["query"], golds, frozenset(c["context"])))
    oos = [Item(c["id"], c["query"]) for c in ds["hard_refusal_cases"]]
    return AnswerSet("nic_qa", [manual], items, oos, _nic_relevant, notes, domain="vehicle")


# --- BEIR (MTRAG-UN) ------------------------------------------------------------------------
def _beir_relevant(item: Item, source: str, section: str | None, text: str) -> bool:
    return source in item.relevant


def load_beir(root: Path, name: str) -> AnswerSet:
    if not (root / "corpus.jsonl").is_file() or not (root / "queries.jsonl").is_file():
        raise SetUnavailable(f"no BEIR set at {root} (corpus.jsonl / queries.jsonl missing)")
    qrels: dict[str, set[str]] = {}
    qrels_path = root / "qrels" / "test.tsv"
    if qrels_path.is_file():
        for line in qrels_path.read_text(encoding="utf-8").splitlines()[1:]:
            q, d, s = line.split("\t")[:3]
            if float(s) > 0:
                qrels.setdefault(q, set()).add(d)
    ins, oos, other = [], [], 0
    for line in (root / "queries.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        meta = q.get("metadata") or {}
        lab = meta.get("answerability", "ANSWERABLE")
        if lab in ("ANSWERABLE", "PARTIAL"):
            gold = meta.get("reference_answer") or meta.get("answer") or ""
            ins.append(Item(q["_id"], q["text"], [gold] if gold else [], frozenset(qrels.get(q["_id"], ()))))
        elif lab == "UNANSWERABLE":
            oos.append(Item(q["_id"], q["text"]))
        else:
            other += 1
    notes = [f"{other} queries neither answerable nor unanswerable (e.g. UNDERSPECIFIED) left out"] if other else []
    return AnswerSet(name, [root / "corpus.jsonl"], ins, oos, _beir_relevant, notes, domain=name)


def load_off_topic(path: Path = OFF_TOPIC) -> list[Item]:
    """Bundled off-topic questions (other products and domains), out of scope for every set."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [Item(f"offtopic-{i:02d}", q) for i, q in enumerate((x for x in lines if x and not x.startswith("#")), 1)]


def beir_folder(name: str) -> Path | None:
    """A bundled BEIR set's folder (``BUNDLED_BEIR``, by name), else ``name`` as a folder path;
    None when neither exists."""
    path = ROOT / "tools" / "data" / name if name in BUNDLED_BEIR else Path(name)
    return path if path.is_dir() else None


def load_set(name: str, ford_limit: int | None = None) -> AnswerSet:
    """``ford``, ``nic_qa``, ``mtragun``, a set of tools/data in BEIR layout
    (``BUNDLED_BEIR``: ``heldout_camera`` ...) or a path to a BEIR-layout folder."""
    if name == "ford":
        return load_ford(limit=ford_limit)
    if name == "nic_qa":
        return load_nic_qa()
    if name == "mtragun":
        return load_beir(SHARED_EVAL / "mtragun_cloud", "mtragun")
    path = beir_folder(name)
    if path is not None:
        return load_beir(path, path.name)
    raise SetUnavailable(f"unknown set {name!r}: use ford, nic_qa, mtragun, "
                         f"{', '.join(BUNDLED_BEIR)} or a BEIR folder")
