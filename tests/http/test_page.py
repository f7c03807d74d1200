"""The status page: answer first (notices on top, quotes with [n], sources once), abstentions in
plain words naming the manuals, manuals by name, health in human units, diagnostics collapsed;
self-contained HTML, escaped, and an ask form that works without JavaScript.

The layout in a real browser (360 px and 1280 px) is checked in tests/http/test_page_chromium.py.
"""

from __future__ import annotations

import re
import urllib.parse

from nic_edge.http import page
from tests.http.client import request
from tests.http.fakes import FakeApp

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MANUALS = [{"source": "tm9_802.txt", "sections": 40, "indexed_at": 1796305822.5},
           {"source": "ford_model_t_manual_1919.txt", "sections": 119, "indexed_at": 1796305822.5}]


def _form(question: str) -> str:
    return urllib.parse.urlencode({"question": question})


def _outside_diagnostics(html: str) -> str:
    return re.sub(r"<details>.*?</details>", "", html, flags=re.S)


def test_page_is_self_contained_and_phone_ready(port: int) -> None:
    html = request(port, "GET", "/").text
    assert '<meta name="viewport"' in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html), "external asset"
    assert '<form method="post" action="/ask">' in html and 'name="question"' in html
    for shown in ("fake-01", "ultra_lite (detected from the hardware)", "typical 12 ms", "95 % within 40 ms", "99 % within 81 ms", "61 MiB of 160 MiB budget",
                  "5,120 MiB", "48 °C", "disconnected, 4 reports waiting on disk", "67 min", "CPU &lt;hot&gt; 81 C"):
        assert shown in html, shown


def test_manuals_by_name_and_health_in_human_units(port: int) -> None:
    html = request(port, "GET", "/").text
    top = _outside_diagnostics(html)
    assert "<td>ford_model_t_manual_1919.txt</td><td class=n>119</td>" in top
    assert re.search(r"<td>2026-\d\d-\d\d \d\d:\d\d [A-Z]+</td>", top), "indexed date, not an epoch"
    # the internal keys and raw values live only in the collapsed diagnostics
    for raw in ("1796305822", "tokenize", "hit_rate", "sha256", "64172851"):
        assert raw not in top, raw
    assert "<details><summary>Diagnostics</summary>" in html and "<details open" not in html
    diag = re.search(r"<details>.*?</details>", html, re.S).group(0)
    assert "latency › stages › tokenize › p95_ms" in diag and "1796305822" not in diag
    assert '<a href="/api/status">' in diag


def test_page_escapes_app_text(port: int) -> None:
    html = request(port, "GET", "/").text
    assert "CPU &lt;hot&gt; 81 C" in html and "<hot>" not in html
    assert "Raspberry Pi &lt;3&gt;" in html


def test_form_ask_renders_answer_first_with_markers(port: int, app: FakeApp) -> None:
    got = request(port, "POST", "/ask", _form("How do I <start> it?"), FORM)
    assert got.status == 200 and got.headers["content-type"].startswith("text/html")
    html = got.text
    assert ('<blockquote>Set the spark lever &lt;down&gt; &amp; retard. <span class="mk">[1]</span></blockquote>'
            in html)
    assert '<span class="mk">[1]</span> ford_model_t_manual_1919.txt, Para 1-2: &lt;Starting&gt;, page 7</li>' in html
    notice = html.index("WARNING: keep thumb &lt;beside&gt; the crank")
    assert notice < html.index("<blockquote>") < html.index("Manuals on this box"), "notice, answer, then the box"
    assert 'value="How do I &lt;start&gt; it?"' in html  # the question stays in the box
    assert app.calls[-1] == ("ask", ("How do I <start> it?", None))


def test_get_ask_with_a_question_answers_too(port: int, app: FakeApp) -> None:
    got = request(port, "GET", "/ask?" + _form("How do I start it?"))
    assert got.status == 200 and '<span class="mk">[1]</span>' in got.text
    assert app.calls[-1] == ("ask", ("How do I start it?", None))


def test_form_abstained_names_the_manuals(port: int) -> None:
    html = request(port, "POST", "/ask", _form("something unknown"), FORM).text
    assert "no_match" not in _outside_diagnostics(html)
    assert re.search(r'<p class="abstain">Nothing in the manuals on this box matches that question\. '
                     r"Manual on this box: ford_model_t_manual_1919\.txt\.", html)


def test_abstention_uses_the_engine_message_when_there_is_one() -> None:
    answer = {"abstained": True, "answer": None, "reason": "low_confidence", "citations": [],
              "message": "The manuals here cover the Ford Model T <1919>; nothing about tyres."}
    html = page.render({"manuals": MANUALS}, {}, answer=answer)
    assert '<p class="abstain">The manuals here cover the Ford Model T &lt;1919&gt;; nothing about tyres.</p>' in html
    answer["message"] = None
    html = page.render({"manuals": MANUALS}, {}, answer=answer)
    assert "do not answer that clearly enough" in html
    assert "The 2 manuals on this box: tm9_802.txt and ford_model_t_manual_1919.txt." in html
    assert "low_confidence" not in _outside_diagnostics(html)


def test_each_source_once_and_quotes_keep_their_number() -> None:
    cite = {"source": "tm9_802.txt", "section": "Para 2-4: Fuel", "page": 12, "page_kind": "counted",
            "chunk_id": "tm9_802.txt#4", "snippet": "x", "score": 0.7}
    other = {"source": "tm9_802.txt", "section": "Para 3-1: Oil", "page": 30, "page_kind": "printed",
             "chunk_id": "tm9_802.txt#9", "snippet": "y", "score": 0.6}
    answer = {"abstained": False, "answer": "a\n\nb\n\nc", "warnings": ["CAUTION: hot"],
              "citations": [cite, dict(cite, chunk_id="tm9_802.txt#5"), other],
              "quotes": [{"text": "Open the fuel cock.", "citation": 2}, {"text": "Drain the bowl.", "citation": 0},
                         {"text": "Close it again.", "citation": 1}]}
    html = page.render({"manuals": MANUALS}, {}, answer=answer)
    assert 'Open the fuel cock. <span class="mk">[1]</span>' in html
    assert 'Drain the bowl. <span class="mk">[2]</span>' in html
    assert 'Close it again. <span class="mk">[2]</span>' in html  # same place, same number
    assert html.count("Para 2-4: Fuel") == 1
    assert "tm9_802.txt, Para 2-4: Fuel, page 12 (counted)" in html  # a counted page says so
    assert "tm9_802.txt, Para 3-1: Oil, page 30</li>" in html
    assert html.index("CAUTION: hot") < html.index("Open the fuel cock.")


def test_same_named_manuals_are_told_apart_by_label() -> None:
    """Two manual.md files (a mower's, a generator's): each source is listed once under its
    label, the quotes keep their own numbers, and the manuals table and an abstention without
    the engine's message name them by label too."""
    oil = {"source": "manual.md", "section": "Oil", "page": None, "chunk_id": "manual.md#0",
           "snippet": "s", "score": 1.0}
    gen = dict(oil, label="b/manual.md", chunk_id="manual.md#0@da5afaef")
    answer = {"abstained": False, "answer": "a\n\nb", "citations": [gen, dict(oil, label="a/manual.md")],
              "quotes": [{"text": "Use 5W-40 oil.", "citation": 0}, {"text": "Use SAE 30 oil.", "citation": 1}]}
    manuals = [{"source": "manual.md", "label": "a/manual.md", "sections": 1, "indexed_at": 1796305822.5},
               {"source": "manual.md", "label": "b/manual.md", "sections": 1, "indexed_at": 1796305822.5}]
    html = page.render({"manuals": manuals}, {}, answer=answer)
    assert 'Use 5W-40 oil. <span class="mk">[1]</span>' in html and 'Use SAE 30 oil. <span class="mk">[2]</span>' in html
    assert '<span class="mk">[1]</span> b/manual.md, Oil</li>' in html
    assert '<span class="mk">[2]</span> a/manual.md, Oil</li>' in html
    assert "<td>a/manual.md</td>" in html and "<td>b/manual.md</td>" in html
    html = page.render({"manuals": manuals}, {}, answer={"abstained": True, "answer": None, "citations": [],
                                                         "reason": "no_match", "message": None})
    assert "The 2 manuals on this box: a/manual.md and b/manual.md." in html


def test_a_quote_keeps_its_lines() -> None:
    """Steps, table rows and list entries of a quote stay on their own lines on the page (the
    quote's line breaks are kept and the style shows them), not run into one paragraph."""
    cite = {"source": "m.txt", "section": "Oil", "page": None, "chunk_id": "m#1", "snippet": "s", "score": 1.0}
    text = "Drain the oil:\n1. Remove the plug.\n2. Fit a new washer.\n| Oil | 4.5 qt |"
    html = page.render({}, {}, answer={"abstained": False, "answer": text, "citations": [cite],
                                       "quotes": [{"text": text, "citation": 0}]})
    assert f"<blockquote>{text}" in html
    assert re.search(r"blockquote\{[^}]*white-space:pre-line", html)


def test_answer_without_quotes_falls_back_to_answer_text() -> None:
    answer = {"abstained": False, "answer": "Retard the spark.", "citations": [
        {"source": "m.txt", "section": None, "page": None, "chunk_id": "m#1", "snippet": "s", "score": 1.0}]}
    html = page.render({}, {}, answer=answer)
    assert "<blockquote>Retard the spark.</blockquote>" in html and '<span class="mk">[1]</span> m.txt</li>' in html


def test_form_invalid_question_is_400_page(port: int) -> None:
    for bad in ("", "   ", "a\x00b"):
        got = request(port, "POST", "/ask", _form(bad), FORM)
        assert got.status == 400 and 'class="err"' in got.text
        assert "\x00" not in got.text  # the rejected question is put back without its NUL
    assert 'value="ab"' in request(port, "POST", "/ask", _form("a\x00b"), FORM).text
    got = request(port, "POST", "/ask", b"question=%ff%fe", FORM)
    assert got.status == 400 and "<!doctype html>" in got.text


def test_form_get_redirects_home(port: int) -> None:
    got = request(port, "GET", "/ask")
    assert got.status == 303 and got.headers["location"] == "/"


def test_render_tolerates_missing_and_odd_sections() -> None:
    html = page.render({}, {})
    assert "No manuals are indexed yet" in html
    html = page.render({"tier": "lite", "latency": {"p95_ms": 3}, "index": [1, 2], "cache": None, "manuals": "x"},
                       {"active": ["plain text <b>"]}, answer={"abstained": True, "reason": None})
    assert "lite" in html and "plain text &lt;b&gt;" in html and "No manuals are indexed on this box yet" in html


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
    assert "S, page 7</li>" in page.render({}, {}, answer=cite("printed"))  # printed: no marker


def test_small_sizes_and_one_answer_read_right() -> None:
    status = {"latency": {"answer": {"count": 1, "p50_ms": 3.0, "p95_ms": 3.0, "p99_ms": 3.0}},
              "resources": {"index_bytes": 352905.0, "disk_free_bytes": 0}}
    html = page.render(status, {})
    assert "(1 answer)" in html and "(1 answers)" not in html
    assert "<td>resources › index_bytes</td><td>345 KiB</td>" in html  # was "0 MiB" for a 345 KiB index
    assert "Disk free</dt><dd>0 MiB" in html  # nothing really is nothing


def test_an_info_alert_is_not_labelled_a_warning(port: int, app: FakeApp) -> None:
    app.alerts = lambda: {"active": [  # type: ignore[method-assign]
        {"rule": "cache_hit_rate_low", "severity": "info", "message": "cache hit rate is 2 %"},
        {"rule": "model_degraded_to_lexical", "severity": "critical", "message": "lexical only"}], "recent": []}
    html = request(port, "GET", "/").text
    assert '<span class="info">info</span> cache hit rate is 2 %' in html
    assert '<span class="critical">critical</span> lexical only' in html and 'class="warning"' not in html


def test_a_form_body_over_the_limit_gets_a_page_not_json(port: int, app: FakeApp) -> None:
    body = _form("发动机" * 666)  # 1,998 characters, within the input's maxlength: 17,991 bytes
    assert len(body) > 16384
    got = request(port, "POST", "/ask", body, FORM)
    assert got.status == 413 and got.headers["content-type"].startswith("text/html")
    assert "too long to send" in got.text and '<form method="post" action="/ask">' in got.text
    assert not [c for c in app.calls if c[0] == "ask"]
    assert request(port, "POST", "/api/ask", b"x" * 20000).json()["reason"] == "too_large"  # the API: JSON


def test_every_page_forbids_scripts_and_framing(port: int) -> None:
    """Defence in depth: should any text ever slip past escaping, the browser runs nothing."""
    for got in (request(port, "GET", "/"), request(port, "POST", "/ask", _form("spark"), FORM),
                request(port, "POST", "/ask", _form(""), FORM), request(port, "GET", "/ask?question=spark")):
        assert got.headers["content-type"].startswith("text/html")
        csp = got.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "content-security-policy" not in request(port, "GET", "/api/status").headers


def test_a_failed_start_up_is_named_on_the_page() -> None:
    status = {"mode": "lexical", "manuals": MANUALS, "index": {"generation": "gen-1"},
              "health": {"status": "starting", "reason": "startup failed: <disk> gone"}}
    html = _outside_diagnostics(page.render(status, {}))
    assert '<span class="bad">start-up failed</span>: &lt;disk&gt; gone' in html
    assert "working normally" not in html and "tm9_802.txt" in html and "being indexed" not in html


def test_degraded_to_keyword_search_says_why() -> None:
    status = {"mode": "lexical", "index": {"generation": "gen-1"}, "health": {"status": "degraded"},
              "model": {"available": True, "error": "TFLite runtime tflite_runtime is not installed (hint: pip install tflite-runtime)"}}
    html = _outside_diagnostics(page.render(status, {}))
    assert ("degraded</span>: answers use keyword search only (TFLite runtime tflite_runtime is not installed "
            "(hint: pip install tflite-runtime))") in html
    status["model"] = {"available": True, "error": None}
    status["index"]["problem"] = "index was embedded with model 1e6485dc7d0e, loaded model is 9f...: re-run `nic-edge index`"
    assert "keyword search only (index was embedded with model 1e6485dc7d0e" in page.render(status, {})


def test_quoted_table_rows_are_drawn_as_a_table() -> None:
    """The header row (a quote of its own) and the rows quoted after it are one table on the
    page, cells escaped; prose around them stays a quote; one row among prose stays in it."""
    cite = {"source": "v.md", "section": "Codes", "page": None, "chunk_id": "v#0", "snippet": "s", "score": 1.0}
    quotes = [{"text": "| Code | Meaning |", "citation": 0},
              {"text": "| E21 | Pump <blocked> |\n| E22 | Door open |", "citation": 0},
              {"text": "Call support if it repeats.", "citation": 0}]
    html = page.render({}, {}, answer={"abstained": False, "answer": "x", "citations": [cite], "quotes": quotes})
    assert ('<div class="qt"><table><tr><th>Code</th><th>Meaning</th></tr><tr><td>E21</td>'
            '<td>Pump &lt;blocked&gt;</td></tr><tr><td>E22</td><td>Door open</td></tr></table>') in html
    assert "<blockquote>Call support if it repeats." in html and "| E21 |" not in html
    # a table of records (no header quote, first row with a figure): every row a <td>
    html = page.render({}, {}, answer={"abstained": False, "answer": "x", "citations": [cite], "quotes": [
        {"text": "| Liquid line | 3/8 in |\n| Gas line | 5/8 in |", "citation": 0}]})
    assert "<th>" not in html.split('id="answer"')[1].split("</section>")[0]
    assert "<td>Gas line</td><td>5/8 in</td>" in html
