"""Words of how people ask are not what they ask about (answer.QUESTION_FILLER)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.answer import FEATURES, content_terms
from nic_edge.engine.bm25 import analyze
from tests.support.engines import lexical_engine

MANUAL = """# HYPERVISOR GUIDE

## Creating a virtual machine

To create a new virtual machine, right-click the host in the inventory pane, select New Virtual
Machine, give it a name and choose the storage for its files.

## Deleting a snapshot

Select the snapshot in the snapshot manager and click Delete.
"""


@pytest.mark.parametrize("preamble", ["I meant to ask how", "Sorry, I was wondering how", "Thanks! Hi, how"])
def test_a_conversational_preamble_does_not_lower_confidence(tmp_path: Path, preamble: str) -> None:
    """A follow-up in a conversation ("I meant to ask how to create a virtual machine?") asks
    the same as the plain question. "meant", "ask", "sorry", "wondering", "thanks", "hi" are
    words the manual does not have: counted as content, they were missing content and cut the
    question's coverage (and confidence) by more than half ("meant" alone is the rarest word)."""
    plain = "How to create a virtual machine?"
    chatty = f"{preamble} to create a virtual machine?"
    assert content_terms(list(dict.fromkeys(analyze(chatty)))) == content_terms(list(dict.fromkeys(analyze(plain))))
    eng = lexical_engine(tmp_path, "guide.md", MANUAL)
    a, b = eng.explain(plain), eng.explain(chatty)
    assert b["quoted_sections"] == a["quoted_sections"] == ["Creating a virtual machine"]
    for name in ("cov_index", "q_cov"):
        i = FEATURES.index(name)
        assert b["features"][i] == pytest.approx(a["features"][i]) == pytest.approx(1.0), name
    assert b["confidence"] == pytest.approx(a["confidence"])
