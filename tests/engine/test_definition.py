"""Question kinds that shape the answer (engine/definition.py): "What is X?" and its defining
sentence; a question that asks one fact."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("question,sentence,defines", [
    ("What are query operators?", "Operators are the separators between the parts of a query.", True),
    ("What is an identifier?", "An identifier is a name that identifies an entity.", True),
    ("What is an Intent?", "An intent represents the purpose of a user's input.", True),
    ("What is an identifier?", "Identifiers can be quoted with grave accents.", False),
    ("How do I reset the hub?", "A reset is done with the pin.", None),   # no "What is X?"
    ("What is the fuel pressure supposed to be at idle?", "Fuel pressure is 40 PSI.", None),  # X too long
])
def test_defining_sentence_rule(question: str, sentence: str, defines: bool | None) -> None:
    from nic_edge.engine.reader import defined_thing
    pattern = defined_thing(question)
    assert (None if pattern is None else bool(pattern.search(sentence))) is defines


@pytest.mark.parametrize("question,fact", [
    ("Is compressed air from a can OK for the sensor?", True),
    ("Does the Z50 have built-in GPS?", True),
    ("Which ports are accessible from the public internet?", True),
    ("Where\u2019s the setting for the outline?", True),
    ("My brake pedal sinks to the floor when I hold it. Is this dangerous?", False),  # about what it describes
    ("Can you use it with AirPrint?", True),
    ("Does it support the 2.4 GHz band?", True),
    ("Can you tell me about its policies.", False),   # a request to explain
    ("Could you explain how the timer works?", False),
    ("How do I reset the hub?", False),
    ("What is an identifier?", False),
    ("what does Err 05 mean", False),
    ("battery drains fast", False),
])
def test_questions_that_ask_one_fact(question: str, fact: bool) -> None:
    from nic_edge.engine.definition import asks_fact
    assert asks_fact(question) is fact


@pytest.mark.parametrize("question,topic", [
    ("What is IBM Cloud Pak for Data?", True),            # "What is X?" of any length
    ("IBM Cloud Event Notifications", True),              # a topic
    ("Defining network policies", True),
    ("my brakes squeal", True),                           # a statement: no question word or mark
    ("How do I tighten the fan belt?", False),
    ("How and why do I configure index rate alerts?", False),
    ("how to clean the drum", False),                     # a question word, no mark
    ("alarm keeps beeping, what now?", False),            # a mark, no question word first
    ("Can I add glycol to the water?", False),
])
def test_questions_that_name_a_topic(question: str, topic: bool) -> None:
    """A topic is answered by the section about it, not by a sentence naming it in passing
    (reader.SENTENCE_COVER_WAIVER is not for such questions)."""
    from nic_edge.engine.definition import names_topic
    assert names_topic(question) is topic
