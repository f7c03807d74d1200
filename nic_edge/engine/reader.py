"""The reader: from the sections behind the top hits, quote the passage that answers.

Retrieval ranks chunks; a technician needs the *answer*: the procedure after the heading that
matches, the remedy after the symptom line, the whole list of steps. The reader works on whole
sections (``sections.section_text``: a chunk's section rebuilt from the index, so a quote may
cross chunk boundaries) and picks, per candidate section, the window of consecutive sentences
that answers best; then the best section's window, and a second section's only when it is
independently strong.

A window is scored by general properties of manuals and questions, not by the visible sets:

* **coverage**: IDF-weighted share of the question's content words found in the window or in
  its section heading (a heading that matches makes its whole body relevant: manuals answer
  under the heading that names the question); a word whose group-mate of the word list
  (synonyms.py) the window uses instead counts ``MATE_CREDIT`` of its weight ("smudges" in a row
  that says "Ink smears on the back of the page");
* **answer content**: content words the question does not already have. A line that only
  restates the question ("The picture is good but there is no sound.") earns nothing; what
  follows it does, and counts that line's match to the question as its own, the way a body
  counts its heading's (a FAQ: "* How many copies can I create in other regions?" then the
  answer); a window never runs past a line that asks the question (the answer comes after it);
* **structure**: windows start at a block start (section start, a paragraph, a list's lead-in,
  the line after a restating line) and end at a block end; a lead-in ending in ":" never ends a
  window; a numbered/bulleted list is kept whole when it fits;
* **length**: beyond ``TARGET_WORDS`` a window pays for every extra word, and so does its lead
  before its first line holding a question word (``DEAD_WEIGHT``; a how-to question's procedure
  steps are no lead); very short windows pay a little;
* **meaning**: the section's best cosine to the question (its chunks' int8 vectors, computed by
  retrieval anyway), against the best candidate's, and its heading's (an int8 vector per heading
  stored with the index), against the best candidate heading's; the best vector hits that fusion ranked low
  are read too (a paraphrase shares few words with the manual); between close candidates, each
  window's own meaning (rerank.py; where openings are not read, its chunk's); and the chosen
  window starts at a later paragraph of its own whose opening means the question clearly more
  (``rerank.later_start``: the answer after a procedure's first steps). A window must
  hold one of the question's words (or sit under a heading or question line that does), except
  in the section of the index's closest chunk in meaning ("What does the gearbox do?" and "What
  is the function of the Transmission?");
* **definitions**: "What is X?" prefers a window that opens with the sentence defining X, a
  small bonus (``DEF_BONUS``);
* **amounts**: a question that asks for one ("What spark plug gap should I use?", ``quantity.py``)
  prefers a window that states it, and a shorter one: the figure with what leads to it, not the
  whole procedure around it; so does a one-sentence yes/no or which/who/when/where question
  (``definition.asks_fact``: "Is canned air OK for the sensor?" is answered by one line);
* **polarity**: a troubleshooting heading names what works and what does not ("Engine cranks
  but won't start" / "Engine won't crank"); a candidate whose heading says the opposite of the
  question about a word pays ``POLARITY_WEIGHT`` per word, one that agrees on a missing thing
  gains it (``polarity.clash``); so does a window by its opening line (a symptom line, a table
  row, the question line before it) when the question itself names something missing;
* **tables**: a table's rows are records of their own; when a row holds the question's words
  (or the amount asked for), the rows that do not neither open nor close a window; a row named
  by its key is quoted alone, with the table's header row (tables.py); a window (rows or
  prose) that states the amount asked beside the thing asked is not doubted for its section's
  meaning (``AMOUNT_WAIVER``: "Specifications" is far in meaning from "How much power does it
  use in standby?", its row "| Power consumption (standby) | 0.5 W |" is the answer), and
  neither are table rows that hold every word of the question (``ROW_COVER_WAIVER``: "9
  Troubleshooting" is far in meaning from "my brakes squeal", its row "| Brakes squeal | Dirty
  pads or discs | Clean the discs ... |" is the answer), nor a window with a sentence that holds
  every word of a question of three words or more that asks something rather than names a
  topic (``SENTENCE_COVER_WAIVER``: "How is Engine cooled?" is far in meaning from "How do I
  tighten the fan belt?", its sentence "The belt should be ... tightened ... by means of the
  adjusting screw in the fan bracket" is the answer);
* **noise**: lines that are not prose (``textquality.is_noise``) are never quoted; they split a
  section into runs that are read separately.

Cost: most of the reader's time is cutting sections into units. A candidate is cut only when
its retrieval prior plus the most its windows can score (the question's words it and its heading
hold, the other words it has, its length: ``scorer.Scorer.bound``) can come within ``SECOND_MARGIN`` of
the best window so far; with rerank on, every candidate is read (meaning may lift one). Without
it the chunks' meaning may lift one too (rerank.CHUNKS), but a section its words cannot bring
within reach is not read for that, as one whose prior cannot is not: reading them all changed 18
of the 651 answer-set answers and no useful count, and costs ~1.1 ms per answer on the bench.

Quotes are verbatim slices of the section text; the only change is whitespace (a line break
inside a sentence becomes a space), which the contract allows. The units a window is made of
(sentences and lines, list items, lead-ins, titles) and that whitespace rule are units.py's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nic_edge.engine.bm25 import analyze
from nic_edge.engine.answer import QUESTION_FILLER
from nic_edge.engine.candidates import priors
from nic_edge.engine.definition import asks_fact, asks_how_to, defined_thing, names_topic
from nic_edge.engine.polarity import clash, polarity
from nic_edge.engine.quantity import AmountAsked, amount_asked
from nic_edge.engine.rerank import Embed, later_start, rerank, window_opening
from nic_edge.engine.retrieval import Retrieval
from nic_edge.engine.scorer import Scorer, Weights
from nic_edge.engine.sections import SectionText
from nic_edge.engine.quote import Quote, continued
from nic_edge.engine.store import Snapshot
from nic_edge.engine.tables import quote_parts, record_tables
from nic_edge.engine.units import (SENTENCE_END, Unit, clean_quote, near_duplicate, row_keys, section_units,
                                   table_records, title_line)

VERSION = "reader-41"      # part of the answer cache key: a changed reader never serves old answers
# reader-30: meaning (rerank.py); -32: past a lead-in (quote.continued); -33: tables.rows_beyond;
# -37: AMOUNT_WAIVER; -38: dot-leader rows and lettered items are units (units.py); -39: SENTENCE_COVER_WAIVER;
# -40: without rerank, close windows by their chunk's vector (rerank.CHUNKS); -41: rerank.later_start
TABLE_LEAVE = True
SECTION_ROWS = 7          # rows of a long section read around its best hit
TARGET_WORDS = 200        # a window longer than this pays per extra word
MAX_WORDS = 300           # never longer (one quote)
MAX_TOTAL_WORDS = 360     # all quotes together
MAX_UNITS = 40            # sentences/lines in one window
NEW_TERMS_FULL = 25       # new content words that make a window "full of answer"
CONTENT_WEIGHT = 0.20     # a window full of new content words against one with none (0.25 before reader-27)
LENGTH_WEIGHT = 0.1       # a window of TARGET_WORDS against an empty one
QUANTITY_TARGET_WORDS = 100  # TARGET_WORDS when the question asks for an amount
FACT_TARGET_WORDS = 100   # ... and when it asks one fact: yes/no, which, who, when, where (definition.asks_fact)
QUANTITY_BONUS = 0.15     # a window that states the amount asked for, against one that does not
COSINE_WEIGHT = 3.0       # the section's semantic match to the question, against the best
HEADING_WEIGHT = 3.0      # its heading's semantic match to the question, against the best heading
HEAD_LEAD_MIN = 0.6       # a candidate heading this close to the question (cosine), and the closest, names it
SECOND_MARGIN = 0.06      # a second section is quoted when it scores within this of the first
POLARITY_WEIGHT = 0.3    # per word a candidate's heading says the opposite of the question about
# A window (rows, or prose since reader-37) stating the amount asked beside the thing asked is not doubted
# for its section's meaning: "Specifications" names no topic, nor "What must be done before starting the Car?".
AMOUNT_WAIVER = 1.0
ROW_COVER_WAIVER = 1.0  # the same for table rows that hold every word of the question
ROW_COVER_MIN = 0.999   # (share of the question's IDF mass in the rows themselves)
SENTENCE_COVER_WAIVER = 1.0  # ... and for one sentence holding every word of a question that is no topic
SENTENCE_COVER_TERMS = 3  # (2 also changed answers on the visible sets, none for the better)
MATE_CREDIT = 0.5       # a question word's share for its list group-mate (0.25 gained one lexical appliance answer fewer)
DEF_BONUS = 0.1         # a window that opens with the sentence defining what "What is X?" asks
DEAD_WEIGHT = 0.5       # per TARGET_WORDS of lead before a window's first line with a question word (as past target)
# The most a window scores: full coverage, new content and length, block start and end, the
# asked amount, a defining sentence; and, when the question names a symptom, an opening line
# that agrees with it (at most 2 words, POLARITY_MAX).
WINDOW_MAX = 1.0 + CONTENT_WEIGHT + LENGTH_WEIGHT + 0.08 + QUANTITY_BONUS + DEF_BONUS
POLARITY_MAX = 2 * POLARITY_WEIGHT
# Without rerank, a section whose words (coverage, new content, length: Scorer.bound) cannot lift a
# window within SECOND_MARGIN of the best found so far is not cut into units: the same answers, but
# for a section its chunk's meaning would have lifted (rerank.CHUNKS; module docstring, "Cost").
BOUND_PRUNE = True
RESTATE_NEW = 0.25        # a line whose words are at most this share new restates the question ...
RESTATE_COV = 0.4         # ... when it holds at least this share of the question's IDF mass


def _best_window(units: list[Unit], sc: Scorer, heading_terms: frozenset[str],
                 asked: AmountAsked | None = None, defines: list[bool] | None = None,
                 closest: bool = False, polar: list[int] | None = None,
                 target: int = TARGET_WORDS, text: str = "") -> tuple[float, int, int]:
    """(score, i, j) of the best window units[i..j] (inclusive), or (-inf, -1, -1).

    A window holds at least one of the question's words (in it, its heading, or the line that
    asks before it), unless ``closest``: the section holds the index's closest chunk in meaning.

    Windows start only where a block starts or the question's words appear, hold at most
    ``MAX_UNITS`` units, and are scored incrementally: the cost stays linear-ish in the section
    even for tables split into hundreds of one-word lines."""
    best = (float("-inf"), -1, -1)
    n = len(units)
    restating = [sc.restates(u) for u in units]
    q = sc.q
    idf = sc.idf
    q_in = [u.terms & q for u in units]
    # a question word the unit lacks but whose group-mate it uses ("restart" in a line about
    # rebooting) is half there (MATE_CREDIT)
    mates, any_mate = sc.mates, sc.any_mate
    q_half = [frozenset(t for t, m in mates.items() if t not in u.terms and m & u.terms)
              if any_mate and not any_mate.isdisjoint(u.terms) else frozenset() for u in units]
    # Other records of a table that has a row holding the question's words neither open nor
    # close a window ("What does E21 mean?" is the E21 row, not the error table from E10 on; "How
    # many LAN ports?" the row that names them, not every row with a number).
    hit_row, table_hit = table_records(units, q_in)
    # Tables with a row named by a figure or code of the question (tables.record_tables)
    rec_table = record_tables(units, table_hit, q_in, text) if TABLE_LEAVE and text else [0] * n
    head_q = heading_terms & q
    head_cov = sum(idf[t] for t in head_q)
    for i in range(n):
        u0 = units[i]
        if u0.noise or (restating[i] and i + 1 < n and not units[i + 1].noise and not u0.lead_in):
            continue  # a window never starts on noise, nor on a line that only restates
        starts_block = (i == 0 or u0.para_start or u0.item or units[i - 1].lead_in
                        or restating[i - 1] or units[i - 1].noise)
        if not starts_block and not q_in[i]:
            continue  # mid-paragraph starts are worth trying only where the question's words are
        if table_hit[i] and not hit_row[i]:
            continue
        covered = set(head_q)
        cov_sum = head_cov
        # A window that opens on a symptom line (or a table row, or after a question line)
        # saying the same thing is missing as the question gains, one saying the opposite pays.
        opens = 0
        if polar is not None:
            opens = polar[i] or (polar[i - 1] if i > 0 and restating[i - 1] else 0)
            opens = max(-POLARITY_MAX, min(POLARITY_MAX, POLARITY_WEIGHT * opens))
        if i > 0 and restating[i - 1]:
            # What follows a line that asks or restates the question answers it, like a heading.
            for t in q_in[i - 1] - covered:
                covered.add(t)
                cov_sum += idf[t]
        new_terms: set[str] = set()
        half: set[str] = set()
        others = False   # the window holds other records of a keyed table after its last keyed row
        words = top_num = 0
        dead = list_at = -1
        amount = False
        for j in range(i, min(n, i + MAX_UNITS)):
            u = units[j]
            if u.noise:
                break
            if rec_table[j]:
                others = rec_table[j] == 1 and (others or (j > i and rec_table[j - 1] > 0))
            elif others:
                break  # what follows the table is not reached through its other records
            if j > i and u.question and sc.cov(u.terms) >= RESTATE_COV:
                break  # the line that asks the question: the answer starts after it, not before
            if u.number == 1:   # a procedure's steps before the matching one are lead only for
                list_at = words  # an amount or fact question (the step stating it), not for "how do I"
            elif u.para_start and not u.item:
                list_at = -1
            if dead < 0 and q_in[j]:
                dead = list_at if list_at >= 0 and target >= TARGET_WORDS else words
            words += u.words
            if words > MAX_WORDS and j > i:
                break
            for t in q_in[j]:
                if t not in covered:
                    covered.add(t)
                    cov_sum += idf[t] * (1.0 - MATE_CREDIT if t in half else 1.0)
            for t in q_half[j]:
                if t not in covered and t not in half:
                    half.add(t)
                    cov_sum += idf[t] * MATE_CREDIT
            top_num = max(top_num, u.number)
            amount = amount or u.amount
            if not restating[j] and len(new_terms) < NEW_TERMS_FULL:
                new_terms |= u.terms - q
            if u.lead_in and j + 1 < n:
                continue  # a lead-in never ends a window
            if cov_sum <= 0 and not closest:
                continue
            if table_hit[j] and not hit_row[j]:
                continue  # another record of the table
            nxt = units[j + 1] if j + 1 < n else None
            ends_block = nxt is None or (nxt.para_start or nxt.noise or (nxt.item and not u.item)
                                         or restating[j + 1])
            # A numbered list or procedure cut before its next number is cut short.
            cut_list = top_num > 0 and any(v.number == top_num + 1 for v in units[j + 1:j + 12])
            s = cov_sum / sc.total + CONTENT_WEIGHT * min(1.0, len(new_terms) / NEW_TERMS_FULL) \
                + LENGTH_WEIGHT * min(words, target) / target + QUANTITY_BONUS * amount
            s += 0.04 * starts_block + 0.04 * ends_block - 0.1 * cut_list
            s -= 0.02 * i / n  # answers come early in a section
            s -= opens
            if dead > 0:
                s -= DEAD_WEIGHT * dead / target
            if defines is not None and (defines[i] or (i + 1 < n and defines[i + 1] and u0.words <= 8)):
                s += DEF_BONUS
            if words > target:
                s -= 0.5 * (words - target) / target
            elif words < 8:
                s -= 0.08
            if s > best[0]:
                best = (s, i, j)
    return best


def read(snap: Snapshot, ret: Retrieval, q_terms: Sequence[str], question: str = "",
         embed: Embed | None = None) -> list[Quote]:
    """Quotes answering the question, best first (at most two sections); ``embed``: rerank.py."""
    bm = snap.bm25
    uniq = list(dict.fromkeys(q_terms))
    if not ret.hits or not uniq:
        return []
    sc = Scorer(uniq, {t: bm.term_idf(t) for t in uniq}, ret.groups,
                Weights(MATE_CREDIT, CONTENT_WEIGHT, NEW_TERMS_FULL, LENGTH_WEIGHT, RESTATE_COV, RESTATE_NEW))
    asked = amount_asked(question) if question else None
    defn = defined_thing(question) if DEF_BONUS else None
    # A question that asks for an amount wants the line that states it, not the whole procedure;
    # one that asks a single fact, the sentence that states it.
    target = QUANTITY_TARGET_WORDS if asked is not None else \
        FACT_TARGET_WORDS if asks_fact(question) else TARGET_WORDS
    # Retrieval's view of each candidate section first (cheap): candidates.priors. A section whose
    # retrieval part plus the most any window can score cannot come within SECOND_MARGIN of the
    # best found so far is never read.
    prior, meaning, lead = priors(snap, ret, question, SECTION_ROWS, COSINE_WEIGHT, HEADING_WEIGHT,
                                  POLARITY_WEIGHT, HEAD_LEAD_MIN)
    # The index's closest chunk in meaning: its section may answer in words of its own.
    closest_row = int(np.argmax(ret.cosines)) if ret.cosines is not None and ret.cosines.size else -1
    negates = bool(question) and bool(polarity(question)[1])   # the question names a symptom
    window_max = WINDOW_MAX + (POLARITY_MAX if negates else 0.0)
    # what a window may add to Scorer.bound: block start and end, the amount asked, a definition, polarity
    extra_max = 0.08 + QUANTITY_BONUS * (asked is not None) + DEF_BONUS * (defn is not None) \
        + (POLARITY_MAX if negates else 0.0)
    waiver_max = max(AMOUNT_WAIVER, ROW_COVER_WAIVER, SENTENCE_COVER_WAIVER)
    cands: list[Quote] = []
    windows: dict[int, tuple[SectionText, list[Unit], int, int]] = {}   # id(candidate) -> its window
    best = float("-inf")
    # The meaning priors (section and heading cosine against the best) of a section whose window states the
    # asked amount beside the asked thing are waived; such a section is read even when its prior would not be.
    waivable = bool(AMOUNT_WAIVER) and asked is not None and bool(asked.dims)
    subject = asked.subject(uniq, bm) if waivable else []
    # ... and so are those of a section whose window is table rows that hold every word of the question
    # ("| Brakes squeal | Dirty pads or discs | Clean the discs ... |" under "9 Troubleshooting" for "my
    # brakes squeal"): a troubleshooting or error table's heading and its chunk's vector name no row's topic.
    row_waivable = bool(ROW_COVER_WAIVER) and len(sc.q) >= 2
    # ... and of one whose window has a sentence holding every word of a question (said in passing, under a
    # heading about something else) -- not of a topic's ("What is X?"): the section about it answers that.
    sentence_waivable = bool(SENTENCE_COVER_WAIVER) and len(sc.q) >= SENTENCE_COVER_TERMS and not names_topic(question)
    table_read = waivable or row_waivable or sentence_waivable
    for p, rank, hit, st in prior:
        key = (st.source, st.section, st.rows[0])
        if p + window_max < best - SECOND_MARGIN:
            if not table_read:
                break
            if p - waiver_max * meaning.get(key, 0.0) + window_max < best - SECOND_MARGIN:
                continue
            if "|" not in st.text and not (waivable and asked.stated_for(st.text, subject, st.section or "")):
                continue   # prose is read past its prior only where it states the amount beside the thing
        heading_terms = frozenset(analyze(st.section or ""))
        if BOUND_PRUNE and embed is None and cands and p + table_read * waiver_max * -meaning.get(key, 0.0) \
                + extra_max + sc.bound(st.text, heading_terms, target) < best - SECOND_MARGIN:
            continue   # no window of its can come within reach by its words (rerank is off)
        units = section_units(st, bm, asked)
        defines = [bool(defn.search(st.text[u.a:u.b])) for u in units] if defn is not None else None
        polar = [clash(question, st.text[u.a:u.b], QUESTION_FILLER) for u in units] if negates else None
        is_closest = closest_row in st.rows
        s, i, j = _best_window(units, sc, heading_terms, asked, defines,
                               is_closest, polar, target, st.text)
        if i < 0:
            continue
        # A window does not end on the title of what comes next (a page header, a heading, a
        # figure label) after a finished sentence; a run of them (figure callouts OCR'd one per
        # line: "The Steering Gear Rim" / "Steering Gear Spider Wheel Nut cr Key i") as a whole.
        k = j
        while k > i and not units[k].item and title_line(st.text[units[k].a:units[k].b]):
            k -= 1
        if k < j and SENTENCE_END.search(st.text[units[k].a:units[k].b].rstrip()):
            j = k
        s += p
        a, b = units[i].a, units[j].b
        if table_read and meaning.get(key, 0.0) < 0:
            rows = {u.row for u in units[i:j + 1]}
            if waivable and asked.stated_for(st.text[a:b], subject, st.section or ""):
                s -= AMOUNT_WAIVER * meaning[key]
            elif row_waivable and -1 not in rows and sc.cov(row_keys(st.text, rows)) >= ROW_COVER_MIN:
                # every word, in the rows' first cells: what each record is about ("| Brakes
                # squeal |", "| E21 |", "| Power consumption |"), not what it says of it ("| Wi-Fi
                # | On (blue) | Connected to a wireless network. |" is no answer to "How do I connect
                # it to Wi-Fi?"); a word the index lacks ("spits", "winter") is still asked about
                s -= ROW_COVER_WAIVER * meaning[key]
            elif sentence_waivable and any(not u.question and sc.cov(u.terms) >= ROW_COVER_MIN
                                           for u in units[i:j + 1]):   # (a question line restates)
                s -= SENTENCE_COVER_WAIVER * meaning[key]
        best = max(best, s)
        asked_in = ""
        if i > 0 and units[i - 1].question:  # (a question line always counts as restating)
            asked_in = st.text[units[i - 1].a:units[i - 1].b]
        cands.append(Quote(st.row_at(a), clean_quote(st.text[a:b]), s, key, hit.score, hit.cosine, rank,
                           key in lead, lead.get(key, 0.0), asked_in, is_closest,
                           opening=window_opening(st.text, a) if embed is not None else ""))
        windows[id(cands[-1])] = (st, units, i, j)
    if not cands:
        return []
    cands.sort(key=lambda q: -q.score)
    rerank(cands, ret.qvec, embed, question, uniq, ret.cosines)
    out = [cands[0]]
    total = len(cands[0].text.split())
    first_terms = set(analyze(cands[0].text))
    for q in cands[1:]:
        if q.score < cands[0].score - SECOND_MARGIN:
            break
        words = len(q.text.split())
        terms = set(analyze(q.text))
        if total + words > MAX_TOTAL_WORDS or near_duplicate(first_terms, terms):
            continue
        out.append(q)
        break
    for q in out:   # table parts, keyed records (tables.py) for the chosen quotes only
        st, units, i, j = windows[id(q)]
        if embed is not None and ret.qvec is not None:   # where the window's body means the question
            k = later_start(snap, st.text, units, i, j, ret.qvec, asks_how_to(question), q.opening)
            if k > i:
                q.text, q.row, i = clean_quote(st.text[units[k].a:units[j].b]), st.row_at(units[k].a), k
                windows[id(q)] = (st, units, i, j)
        quote_parts(q, st, units, i, j, sc.q, snap)
    return continued(snap, out, windows[id(out[0])], SECTION_ROWS)

