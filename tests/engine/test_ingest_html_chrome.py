"""What a documentation site or help system wraps around each HTML page (breadcrumbs, menus,
"Previous / Next", the copyright footer) is not indexed; the page's own text is."""

from __future__ import annotations

from nic_edge.engine.ingest.html import html_lines, parse_html
from nic_edge.engine.ingest.structure import HEADING_MARK

# The shape of a Sphinx page in the Read the Docs theme (QEMU's manual in /usr/share/doc): the
# whole page inside one <section>, the footer inside it too.
SPHINX = """<!DOCTYPE html><html><head><title>GDB usage</title></head><body>
<div role="search"><form><input type="text" name="q"><button>Search</button></form></div>
<section class="wy-nav-content-wrap">
<div role="navigation" aria-label="Page navigation"><ul class="wy-breadcrumbs">
<li>System Emulation</li><li>GDB usage</li><li><a href="#">Edit on GitLab</a></li></ul><hr/></div>
<div role="main"><section id="gdb-usage"><h1>GDB usage</h1>
<p>QEMU supports working with gdb via gdb's remote-connection facility.</p>
<p>Start QEMU with the -s option, then connect gdb to port 1234.</p></section></div>
<footer><div class="rst-footer-buttons" role="navigation" aria-label="Footer">
<a href="a.html">Previous</a> <a href="b.html">Next</a></div><hr/>
<div role="contentinfo"><p>&#169; Copyright 2026, The QEMU Project Developers.</p></div>
Built with <a href="https://www.sphinx-doc.org/">Sphinx</a> using a theme.
</footer></section></body></html>"""


def _text(html: str) -> str:
    return "\n".join(line for _, line in html_lines(html))


def test_a_documentation_site_s_navigation_and_footer_are_not_indexed() -> None:
    sections = parse_html(SPHINX)
    assert [s.heading for s in sections] == ["GDB usage"]
    body = " ".join(t for _, t in sections[0].paras)
    assert body == ("QEMU supports working with gdb via gdb's remote-connection facility. "
                    "Start QEMU with the -s option, then connect gdb to port 1234.")


def test_menus_buttons_and_hidden_parts_are_not_indexed() -> None:
    page = """<body><h1>Filter care</h1>
<ul role="menu"><li role="none"><button role="menuitem">Auto</button></li>
<li role="none"><button role="menuitem">Light</button></li></ul>
<div hidden><p>Old text kept for the archive.</p></div>
<span aria-hidden="true">&#9733;</span>
<p>Rinse the filter under warm water every month.</p>
<button type="button">Copy to clipboard</button></body>"""
    assert _text(page) == HEADING_MARK + "Filter care\nRinse the filter under warm water every month."


def test_a_footer_inside_an_article_is_its_content() -> None:
    page = """<body><article><h1>Descaling</h1><p>Run the descaling program once a month.</p>
<footer><p>See also: Water hardness settings.</p></footer></article>
<footer><p>Copyright Example Corp.</p></footer></body>"""
    text = _text(page)
    assert "See also: Water hardness settings." in text and "Copyright" not in text


def test_a_skipped_element_left_open_does_not_take_the_rest_of_the_page() -> None:
    """The page is read again without these rules rather than lose everything after it."""
    page = """<body><h1>Pairing</h1><div role="navigation">Home &gt; Pairing
<p>Hold the button for 5 seconds until the light blinks blue.</p>
<h2>Resetting</h2><p>Hold both buttons for 10 seconds.</p></body>"""
    text = _text(page)
    assert "Hold the button for 5 seconds until the light blinks blue." in text
    assert "Hold both buttons for 10 seconds." in text
