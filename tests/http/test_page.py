"""The status page: self-contained HTML, escaped, and an ask form that works without JavaScript."""

from __future__ import annotations

import re
import urllib.parse

from nic_edge.http import page
from tests.http.client import request
from tests.http.fakes import FakeApp

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form(question: str) -> str:
    return urllib.parse.urlencode({"question": question})


def test_page_is_self_contained_and_phone_ready(port: int) -> None:
    html = request(port, "GET", "/").text
    assert '<meta name="viewport"' in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external asset"
    assert '<form method="post" action="/ask">' in html and 'name="question"' in html
    for shown in ("fake-01", "ultra_lite", "detected", "hybrid", "25%", "12.0 ms", "40.0 ms", "80.5 ms",
                  "61.2 / 160 MiB", "disconnected", "cpu_temp_high", "412"):
        assert shown in html, shown


def test_page_escapes_app_text(port: int) -> None:
    html = request(port, "GET", "/").text
    assert "CPU &lt;hot&gt; 81 C" in html and "<hot>" not in html
    assert "Raspberry Pi &lt;3&gt;" in html


def test_form_ask_renders_answer(port: int, app: FakeApp) -> None:
    got = request(port, "POST", "/ask", _form("How do I <start> it?"), FORM)
    assert got.status == 200 and got.headers["content-type"].startswith("text/html")
    html = got.text
    assert "<blockquote>Set the spark lever &lt;down&gt; &amp; retard.</blockquote>" in html
    assert "ford_model_t_manual_1919.txt, Para 1-2: &lt;Starting&gt;" in html
    assert "WARNING: keep thumb &lt;beside&gt; the crank" in html
    assert 'value="How do I &lt;start&gt; it?"' in html  # the question stays in the box
    assert app.calls[-1] == ("ask", ("How do I <start> it?", None))


def test_form_abstained(port: int) -> None:
    html = request(port, "POST", "/ask", _form("something unknown"), FORM).text
    assert "Not in the manuals." in html and "no_match" in html


def test_form_invalid_question_is_400_page(port: int) -> None:
    for bad in ("", "   ", "a\x00b"):
        got = request(port, "POST", "/ask", _form(bad), FORM)
        assert got.status == 400 and 'class="err"' in got.text
    got = request(port, "POST", "/ask", b"question=%ff%fe", FORM)
    assert got.status == 400 and "<!doctype html>" in got.text


def test_form_get_redirects_home(port: int) -> None:
    got = request(port, "GET", "/ask")
    assert got.status == 303 and got.headers["location"] == "/"


def test_render_tolerates_missing_and_odd_sections() -> None:
    html = page.render({}, {})
    assert "No active alerts." in html
    html = page.render({"tier": "lite", "latency": {"p95_ms": 3}, "index": [1, 2], "cache": None},
                       {"active": ["plain text <b>"]}, answer={"abstained": True, "reason": None})
    assert "lite" in html and "plain text &lt;b&gt;" in html and "Not in the manuals." in html


def test_status_page_shows_the_index_calibration_in_one_line() -> None:
    status = {"index": {"chunks": 167, "calibration": {
        "threshold_in_use": 0.42, "threshold_source": "calibration",
        "summary": "threshold 0.42 (hybrid) calibrated on 200 answerable + 200 unanswerable synthetic questions"}}}
    html = page.render(status, {})
    line = [ln for ln in html.split("<p") if "Abstain threshold" in ln]
    assert len(line) == 1 and "0.42 (calibration)" in line[0] and "calibrated on 200 answerable" in line[0]


def test_counted_pages_are_marked() -> None:
    def cite(kind: str) -> dict:
        return {"abstained": False, "answer": "x", "quotes": [],
                "citations": [{"source": "m.txt", "section": "S", "page": 7, "page_kind": kind, "snippet": "x"}]}
    assert "page 7 (counted)" in page.render({}, {}, answer=cite("counted"))
    assert "page 7</b>" in page.render({}, {}, answer=cite("printed"))
