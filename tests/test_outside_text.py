"""Outside text is shown as text: Markdown, HTML and links in it do nothing; links are checked."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cmoc_core.kpi_results import AssigneeRequests
from cmoc_core.linking import gitlab_link, safe_link
from cmoc_core.ui import charts
from cmoc_core.ui.widgets import JOINER, escape_markdown, markdown_link

HOSTILE = [
    "<img src=http://127.0.0.1:9/x.png onerror=alert(1)>",
    "![](http://127.0.0.1:9/x.png)",
    "[x](javascript:alert(1))",
    "**b** __u__ *i* ~~s~~ `code`",
    ":red[x] :blue-background[y] :help[z] :material/home: :streamlit: :smile: :+1: :100:",
    "$x$ $$y$$",
    "bare http://127.0.0.1:9/bare https://example.com and www.example.com, mail a.b@example.com",
    "# heading\n- item\n1. first\n> quote\n---\n| a | b |\n    indented code",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    "&amp; &lt;b&gt; &#60; <https://example.com> <b>bold</b>",
    "[ref]\n\n[ref]: http://127.0.0.1:9/ref",
    "trailing backslash \\",
]
PUNCTUATION = r"""!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"""
# What Streamlit's Markdown renderer finds in text nodes after parsing, once escapes are gone:
# GFM literal autolinks, remark-emoji shortcodes, its logo and its typographic arrows.
AFTER_PARSING = [
    re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE),
    re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)"),
    re.compile(r":\+1:|:-1:|:[\w-]*[^\W\d][\w-]*:|:\d+:(?!\d)"),
    re.compile(r":streamlit:"),
    re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)"),
]


def as_shown(text: str) -> str:
    """`text` as it should read on the page: leading blanks become no-break spaces."""
    return re.sub(r"(?m)^[ \t]+", lambda blank: "\u00a0" * len(blank.group()), text)


def text_nodes(markdown: str) -> str:
    """The text a CommonMark parser keeps from escaped source: escapes resolved."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def figure_text(figure) -> str:
    """A figure's JSON with every string as Plotly receives it (not `\\u003c`-escaped)."""
    return json.dumps(json.loads(figure.to_json()), ensure_ascii=False)


def unescaped_punctuation(markdown: str) -> list[str]:
    """ASCII punctuation in `markdown` that no backslash escapes."""
    found, escaped = [], False
    for char in markdown:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in PUNCTUATION:
            found.append(char)
    return found


@pytest.mark.parametrize("text", HOSTILE)
def test_every_markdown_character_of_outside_text_is_escaped(text):
    shown = escape_markdown(text)
    assert unescaped_punctuation(shown) == []
    assert not shown.endswith("\\") or shown.endswith("\\\\")


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_reads_as_the_original_once_rendered(text):
    assert text_nodes(escape_markdown(text)).replace(JOINER, "") == as_shown(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_nothing_is_linked_or_replaced_after_parsing(text):
    kept = text_nodes(escape_markdown(text))
    assert [p.pattern for p in AFTER_PARSING if p.search(kept)] == []


def test_an_indented_line_does_not_become_a_code_block():
    assert escape_markdown("    x\n\tY") == "\u00a0\u00a0\u00a0\u00a0x\n\u00a0Y"


def test_plain_times_and_names_are_only_escaped():
    assert escape_markdown("Ends at 14:30:00 UTC") == "Ends at 14\\:30\\:00 UTC"
    assert escape_markdown("Grace Hopper") == "Grace Hopper"
    assert escape_markdown("@grace") == "\\@grace"


def test_a_markdown_link_needs_a_checked_address():
    assert markdown_link("#12 **x**", "https://gitlab.com/a/-/issues/12") == (
        "[\\#12 \\*\\*x\\*\\*](<https://gitlab.com/a/-/issues/12>)"
    )
    assert markdown_link("#12", None) == "\\#12"
    assert markdown_link("#12", "https://gitlab.com/a> <b") == "\\#12"


def test_plotly_labels_escape_html_and_read_back():
    name = "<a href='http://127.0.0.1:9/'>x</a> & <br> &amp;"
    label = charts.plotly_text(name)
    assert label == "&lt;a href='http://127.0.0.1:9/'&gt;x&lt;/a&gt; &amp; &lt;br&gt; &amp;amp;"
    assert html.unescape(label) == name


def test_chart_categories_and_hover_show_names_escaped_and_a_click_finds_the_person():
    name = "<img src=http://127.0.0.1:9/x.png onerror=alert(1)>"
    shifts = pd.DataFrame(
        {
            "person": [name, name, "Ada"],
            "region": ["EMEA"] * 3,
            "start": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
            "end": pd.to_datetime(["2026-01-02", "2026-01-03", "2026-01-04"], utc=True),
            "handed_over": [True, False, True],
        }
    )
    figure = charts.handover_by_person(shifts)
    assert "<img" not in figure_text(figure) and "&lt;img" in figure_text(figure)
    point = {"x": next(x for t in figure.data for x in t.x if x != "Ada")}
    title, rows = charts.picked(
        "handover", [point], {"pages": None, "gaps": None, "shifts": shifts}
    )
    assert title == f"Shifts of {name}" and len(rows) == 2

    grid = pd.DataFrame({"person": [name], "quarter": ["2026-Q1"], "trained": [True]})
    assert "<img" not in figure_text(charts.training_grid(grid))
    requests = charts.contact_requests([AssigneeRequests(name, 2, 1)])
    assert "<img" not in figure_text(requests)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<b>x</b>",
        "vbscript:x",
        "//gitlab.com/a",
        "gitlab.com/a",
        "https://user:pass@gitlab.com/a",
        "https://gitlab.com\\@127.0.0.1/a",
        "https://gitlab.com:port/a",
        "https://gitlab.com/a b",
        'https://gitlab.com/a"onmouseover="x',
        "https://",
        "",
        None,
        float("nan"),
    ],
)
def test_only_web_addresses_become_links(url):
    assert safe_link(url, allowed_hosts=None) is None  # type: ignore[arg-type]


def test_a_link_must_lead_to_an_allowed_host_or_into_the_project():
    gitlab, project = "https://gitlab.example.com/api", "group/production"
    issue = "https://gitlab.example.com/other/-/issues/1"
    assert gitlab_link(issue, gitlab_url=gitlab, project=project) == issue
    assert gitlab_link(" HTTPS://GitLab.Example.com./x ", gitlab_url=gitlab) == (
        "HTTPS://GitLab.Example.com./x"
    )
    lookalike = "https://gitlab.example.com.127.0.0.1.nip.io/x"
    assert gitlab_link(lookalike, gitlab_url=gitlab, project=project) is None
    assert gitlab_link("http://127.0.0.1:9/bare", gitlab_url=gitlab, project=project) is None
    mirrored = "https://gitlab.com/group/production/-/issues/7"
    assert gitlab_link(mirrored, gitlab_url=gitlab, project=project) == mirrored
    assert gitlab_link("https://gitlab.com/group/production-x/1", gitlab_url=gitlab) is None
    assert gitlab_link("http://gitlab.example.com/x", gitlab_url=gitlab) is None  # port 80


def test_another_port_of_the_same_host_is_another_host():
    sandbox = "http://127.0.0.1:5000/gitlab"
    assert gitlab_link("http://127.0.0.1:5000/a/-/issues/1", gitlab_url=sandbox) is not None
    assert gitlab_link("http://127.0.0.1:5001/a/-/issues/1", gitlab_url=sandbox) is None
    assert gitlab_link("http://127.0.0.1/a/-/issues/1", gitlab_url=sandbox) is None
    assert safe_link("https://gitlab.com:8443/x", allowed_hosts=["gitlab.com"]) is None
    assert safe_link("https://gitlab.com:8443/x", allowed_hosts=["gitlab.com:8443"]) is not None
    assert safe_link("https://gitlab.com:443/x", allowed_hosts=["GitLab.com"]) is not None


def test_any_web_address_may_be_a_link_when_no_host_is_required():
    assert safe_link("https://zoom.us/j/1", allowed_hosts=None) == "https://zoom.us/j/1"
    assert safe_link("https://zoom.us/j/1", allowed_hosts=["gitlab.com"]) is None


def _shows_outside_text(text: str) -> None:
    import streamlit as st

    from cmoc_core.scenarios import Library, Prompt, Scenario
    from cmoc_core.ui import practice_view, widgets

    shown = widgets.escape_markdown(text)
    st.markdown(shown)
    st.caption(shown)
    st.info(shown)
    with st.expander(shown):
        st.button(shown, key="outside_button")
    st.metric(shown, 1, help=shown)
    scenario = Scenario(
        name="hostile", title=text, severity=2, prompts=(Prompt(0, text, page=True),), summary=text
    )
    practice_view.library_view(Library({"hostile": scenario}, [text]), facilitator=True)


def test_outside_text_reaches_every_element_escaped():
    text = " ".join(HOSTILE)
    app = AppTest.from_function(_shows_outside_text, args=(text,)).run()
    assert not app.exception
    shown = escape_markdown(text)
    assert app.markdown[0].value == shown
    assert app.caption[0].value == shown
    assert app.info[0].value == shown
    assert app.button(key="outside_button").label == shown
    assert app.metric[0].label == shown and app.metric[0].proto.help == shown
    scenario_label = next(e.label for e in app.expander if e.label.endswith("hostile\\.toml"))
    assert unescaped_punctuation(scenario_label) == []
    assert text_nodes(scenario_label).replace(JOINER, "") == as_shown(f"{text} · S2 · hostile.toml")
    assert app.error[0].value == shown  # the library's problem line
    assert shown in [c.value for c in app.caption]  # the scenario's summary
