"""Markdown from a documentation site (Jekyll, MkDocs, Hugo, Docusaurus) is indexed as the site
renders it: template tags, attribute lists, admonition markers and MDX code are not manual text;
an admonition's title, a tab's label and code blocks are."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.ingest import SUPPORTED_SUFFIXES, load_file
from nic_edge.engine.ingest.markdown import parse_markdown
from nic_edge.engine.ingest.mdsite import admonition


def _sections(text: str, mdx: bool = False) -> list[tuple[str | None, str]]:
    return [(s.heading, "\n".join(t for _, t in s.paras)) for s in parse_markdown(text, mdx)]


def _body(text: str, mdx: bool = False) -> str:
    return "\n".join(body for _, body in _sections(text, mdx))


def test_liquid_and_hugo_template_tags_are_not_text() -> None:
    page = """# Installing the firmware

{% alert warning %}
Your printer may need additional libraries.
{% endalert %}

{{< note >}}
Back up the EEPROM first.
{{< /note >}}

{% include media_floater.html float="right" src="/assets/board.jpg" %}
Flash the board with the upload button."""
    body = _body(page)
    assert "{%" not in body and "{{<" not in body and "alert" not in body
    assert body.split("\n") == ["Your printer may need additional libraries.", "Back up the EEPROM first.",
                                "Flash the board with the upload button."]


def test_attribute_lists_are_not_text_but_braces_of_the_manual_are() -> None:
    page = """## Setup {#setup}

See the [releases](https://example.com/r){:target="_blank"} page, or the icon ![Build](b.png){: .inline} in the bar.
Open the emulator{width=353}{target=_blank} first.

Send {"Power": 1} to switch it on; the {x} in Timer{x} is the timer number."""
    sections = _sections(page)
    assert sections[0][0] == "Setup"
    assert sections[0][1].split("\n") == [
        "See the releases page, or the icon Build in the bar.",
        "Open the emulator first.",
        'Send {"Power": 1} to switch it on; the {x} in Timer{x} is the timer number.']


@pytest.mark.parametrize("line, shown", [
    ('!!! warning "Hot surface"', "Hot surface:"),
    ("!!! note", "Note:"),
    ('??? failure "This feature is not included in precompiled binaries"',
     "This feature is not included in precompiled binaries:"),
    ('???+ example "View script"', "View script:"),
    ('!!! question "Why does it beep?"', "Why does it beep?"),
    ('!!! note ""', ""),
    ("!!! warning: gpio 34 is input only", "Warning: gpio 34 is input only"),
    (":::tip Share Channels", "Share Channels:"),
    (":::danger[Mains voltage]", "Mains voltage:"),
    (":::info", "Info:"),
    (":::", ""),
    ("> [!NOTE]", "> Note:"),
    ("> [!WARNING] Unplug first", "> Warning: Unplug first"),
    ("Press !!! to reset", None),
    ("The ratio is 3:1", None),
])
def test_an_admonition_marker_shows_its_box_title(line: str, shown: str | None) -> None:
    assert admonition(line) == shown


def test_admonition_boxes_keep_their_title_and_body() -> None:
    page = """# Wiring

!!! warning
    `ot_tboiler` does not write the value to flash.

??? failure "Not in precompiled binaries"
    When compiling your build add this to user_config_override.h:
    ```arduino
    #ifndef USE_OPENTHERM
    #define USE_OPENTHERM
    #endif
    ```

:::tip Share Channels
A QR code holds the LoRa settings and channels.
:::

> [!CAUTION]
> Disconnect mains power before opening the case."""
    sections = _sections(page)
    # a box's title is a label of the box, not a heading that would take the page after it
    assert [h for h, _ in sections] == ["Wiring"]
    lines = sections[0][1].split("\n")
    assert "Warning: ot_tboiler does not write the value to flash." in lines
    assert "Not in precompiled binaries:" in lines
    # the fence inside the box is code: its underscores and lines are kept as written
    assert "#ifndef USE_OPENTHERM" in lines and "#define USE_OPENTHERM" in lines
    assert "Share Channels:" in lines and "A QR code holds the LoRa settings and channels." in lines
    assert "Caution:" in lines and "Disconnect mains power before opening the case." in lines
    assert not any(marker in _body(page) for marker in ("!!!", "???", ":::", "[!CAUTION]", "`arduino"))


def test_escapes_and_entities_are_the_characters_they_stand_for() -> None:
    page = r"""# Keys

Hold \*  and press &lt;Enter&gt; (the &quot;OK&quot; key) for 3&nbsp;s.
Set VAR&#60;x> to 99; \&amp; stays as typed; so does `C:\*.cfg` and `a &lt; b` in code.
<b>Bold</b> tags go, &lt;b&gt; written as text stays, _**nested**_ emphasis goes.

| Value | Meaning |
| --- | --- |
| `ON\|1` | power on \| relay closed |"""
    lines = _body(page).split("\n")
    assert lines == ['Hold * and press <Enter> (the "OK" key) for 3 s.',
                     "Set VAR<x> to 99; &amp; stays as typed; so does C:\\*.cfg and a &lt; b in code.",
                     "Bold tags go, <b> written as text stays, nested emphasis goes.",
                     "| Value | Meaning |", "| --- | --- |", "| ON|1 | power on | relay closed |"]


def test_a_thematic_break_is_no_text_and_a_setext_underline_still_makes_a_heading() -> None:
    page = """Filter care
===========

Rinse the filter every month.

---

* * *

Descaling
---------
Use white vinegar."""
    assert _sections(page) == [("Filter care", "Rinse the filter every month."),
                               ("Descaling", "Use white vinegar.")]


def test_fences_follow_commonmark() -> None:
    page = """# Install

```pip3 install --upgrade "meshtastic[cli]"```

The command runs from the shell prompt.

````markdown
```
{% alert %} stays inside this fence
```
````

After the fence."""
    lines = _body(page).split("\n")
    # a backtick run with a backtick after it is a code span in a line, not a fence that
    # turns the rest of the page into code
    assert 'pip3 install --upgrade "meshtastic[cli]"' in lines
    assert "The command runs from the shell prompt." in lines
    # a fence closes only with a run as long as its own: the inner ``` lines are its code
    assert "{% alert %} stays inside this fence" in lines
    assert lines[-1] == "After the fence."


def test_an_html_tag_written_over_several_lines_is_one_tag() -> None:
    page = """# Front panel

<img
  src="/img/front.png"
  alt="Front panel"
  width="400"
/>
The power switch is on the left.
<picture>
<source media="(prefers-color-scheme: dark)"
        srcset="/img/dark.webp" />
</picture>"""
    assert _body(page) == "The power switch is on the left."


MDX = """---
id: remote-admin
title: Remote Admin
---

import Tabs from "@theme/Tabs";
import TabItem from "@theme/TabItem";
import {
  DeviceImage,
  DeviceSection,
} from "/src/components/DeviceImage";

export const Faq = {
  general: [
    {
      title: "Where can I get help?",

      content: `Ask on the {forum} [here](x).`,
    },
  ],
};

{/* the tabs below are kept in sync
    with the client list */}

# Remote Admin

<Tabs
  groupId="settings"
  values={[
    { label: (<><Icon icon="mdi:android" style={{ marginRight: "0.25rem" }} /> Android</>), value: "android" },
    { label: "Apple", value: "apple" },
  ]}>
<TabItem value="android" label="Android">

1. Open the app and connect to the local node.
2. Go to Settings > Security to find its public key.

</TabItem>
<TabItem value="apple" label="Apple">

1. Go to Settings > App Settings and enable Administration.

</TabItem>
</Tabs>

<DeviceImage device="t1000e" size="small" />
Up to 3 admin keys may be set."""


def test_mdx_code_and_components_are_not_text_tab_labels_are() -> None:
    sections = _sections(MDX, mdx=True)
    assert [h for h, _ in sections] == ["Remote Admin"]
    assert sections[0][1].split("\n") == [
        "Android", "1. Open the app and connect to the local node.",
        "2. Go to Settings > Security to find its public key.",
        "Apple", "1. Go to Settings > App Settings and enable Administration.",
        "Up to 3 admin keys may be set."]


def test_an_mdx_statement_whose_brackets_never_close_ends_at_the_blank_line() -> None:
    page = """export const broken = [ {
  title: "x",

# Safety

Unplug the charger before cleaning."""
    assert _sections(page, mdx=True) == [("Safety", "Unplug the charger before cleaning.")]


def test_import_lines_of_plain_markdown_are_its_text() -> None:
    # only MDX runs import/export statements; in a .md page they are what it says
    assert _body("# Notes\n\nimport the settings file from the SD card.") == \
        "import the settings file from the SD card."


def test_an_mdx_page_is_indexed_from_its_folder(tmp_path: Path) -> None:
    assert ".mdx" in SUPPORTED_SUFFIXES
    page = tmp_path / "remote-admin.mdx"
    page.write_text(MDX, encoding="utf-8")
    result = load_file(page)
    texts = [c.text for d in result.documents for c in d.chunks]
    assert texts and all("import" not in t and "<Tab" not in t and "{/*" not in t for t in texts)
    assert any("Up to 3 admin keys may be set." in t for t in texts)
    # the same text named .md is read as Markdown: its import lines are text
    md = tmp_path / "remote-admin.md"
    md.write_text(MDX, encoding="utf-8")
    assert any("import Tabs" in c.text for d in load_file(md).documents for c in d.chunks)


def test_lines_that_never_close_are_read_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile page whose every line opens a tag, a statement or a comment that never closes
    is read in a few passes, not once from every line (which is quadratic)."""
    from nic_edge.engine.ingest import mdsite

    scanned = {"chars": 0, "lines": 0}
    feed, depth = mdsite._TagScan.feed, mdsite._depth_change

    def counting_feed(self: object, text: str, start: int = 0) -> int:
        scanned["chars"] += len(text) - start
        return feed(self, text, start)  # type: ignore[arg-type]

    def counting_depth(line: str, state: list[str]) -> int:
        scanned["lines"] += 1
        return depth(line, state)

    monkeypatch.setattr(mdsite._TagScan, "feed", counting_feed)
    monkeypatch.setattr(mdsite, "_depth_change", counting_depth)
    n = 20_000
    for page, mdx in (("<Tabs values={[\n" * n, False), ('<img alt="\n' * n, False),
                      ("export const x = {\n" * n, True), ("{/* open\n" * n + "text\n", True)):
        parse_markdown(page, mdx)
        # the budget's four passes, and one more where each line's own tags are taken out
        assert scanned["chars"] <= 5 * len(page) + 65536 + n
        assert scanned["lines"] <= 4 * n + 4096 + 1
        scanned["chars"] = scanned["lines"] = 0


def test_the_front_matter_title_heads_a_page_whose_text_has_no_title() -> None:
    page = """---
id: bluetooth
title: "Bluetooth Device Connection"
sidebar_position: 2
---

The app connects to your radio over Bluetooth Low Energy.

```sh
# scan for radios
meshtastic --ble-scan
```

## Disconnecting a Radio

Swipe left on a connected radio and tap Disconnect."""
    assert [h for h, _ in _sections(page)] == ["Bluetooth Device Connection", "Disconnecting a Radio"]
    # a page with a title of its own keeps it; the front matter's is not added
    own = page.replace("The app connects", "# Bluetooth\n\nThe app connects")
    assert [h for h, _ in _sections(own)] == ["Bluetooth", "Disconnecting a Radio"]
    setext = page.replace("The app connects", "Bluetooth\n=========\n\nThe app connects")
    assert [h for h, _ in _sections(setext)] == ["Bluetooth", "Disconnecting a Radio"]


def test_a_line_with_private_use_glyphs_keeps_them() -> None:
    # icon-font glyphs (private-use characters: Apple's logo is U+F8FF) are the manual's own
    assert _body("# Icons\n\nOpen `\uf8ff Menu > About` and press \\* then &lt;OK&gt;.") == \
        "Open \uf8ff Menu > About and press * then <OK>."
    # a character of the area the inline rules hide text in: nothing is hidden in that line
    assert _body("# Odd\n\nPress \U000F0041 then \\* and &lt;OK&gt;.") == "Press \U000F0041 then \\* and <OK>."
