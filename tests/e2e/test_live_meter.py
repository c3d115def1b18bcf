"""The one length meter follows every keystroke and template and counts as the server does."""

from __future__ import annotations

import base64
import random
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from cmoc_core.models import Draft
from cmoc_core.storage import make_engine
from cmoc_core.textlimits import check_length
from cmoc_core.ui import meter

pytestmark = pytest.mark.browser
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/18001"
SAMPLES = [
    "Investigating elevated error rates.",
    f"We're seeing elevated error rates on GitLab.com, investigation is underway in: {ISSUE}",
    f"Rolling back, see {ISSUE}. Next update in 30 minutes.",
    "CI ジョブの遅延を調査しています",
    "Fixed 🎉 thanks for your patience 👩🏽‍💻",
    "Two links: https://status.gitlab.com and https://about.gitlab.com/handbook/ done",
    f"Pages on gitlab.io and docs.gitlab.com/ee are slow (see {ISSUE}).",
]
# Texts where a simpler count goes wrong: bare domains, country domains, trailing punctuation,
# parentheses, ports, e-mail addresses, emoji sequences, flags, keycaps, combining accents.
TRICKY = [
    *SAMPLES,
    "",
    "GitLab.com is down",
    "see gitlab.io and setup.py, but gitlab.io/docs and t.co are links",
    "(see https://gitlab.com/x) and https://en.wikipedia.org/wiki/Foo_(bar)).",
    "Write to support@gitlab.com or @gitlab.com, not #gitlab.com",
    "example.com:8080/path?x=1&y=2# then https:// alone and ftp://example.com",
    "randomurl" * 7 + "s.com and sub.domain.co.uk/a-b_c",
    "👨\u200d👩\u200d👧\u200d👦 🇩🇪 1\ufe0f\u20e3 ❤\ufe0f © ™ ↔️",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f 😀😀 🧑\u200d💻",
    "Cafe\u0301 A\ufb2c and e\u0301 — “quotes” … ‘single’",
    "故人西辞黄鹤楼 " * 20 + ISSUE,
    "a" * 230 + " " + ISSUE,
    "€ [brackets] {braces} ~tilde^ | pipes \\ back" * 5,
    "Москва.рф and пример.com/путь",
]
PIECES = [
    "GitLab.com",
    ISSUE,
    "gitlab.io",
    "docs.gitlab.com/ee/",
    "https://x.io/a.",
    "(",
    ")",
    ".",
    ",",
    " ",
    " ",
    "\n",
    "🎉",
    "👍🏽",
    "🇫🇷",
    "故",
    "é",
    "e\u0301",
    "€",
    "word",
    "x@y.com",
    "#incident-1",
    "10.0.0.1",
    "a.b",
    "t.co/x",
    "‘",
]


def fuzzed(count: int, seed: int = 12) -> list[str]:
    """Random texts built from the pieces a count can get wrong."""
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(1, 40))) for _ in range(count)]


def expected(text: str) -> dict[str, int]:
    report = check_length(text)
    return {"weighted": report.weighted, "body": report.body_weighted, "sms": report.sms_segments}


def test_the_browser_counts_exactly_as_the_server_checks(page: Page):
    """The meter's own code, run in Chromium, against `check_length` on the same texts."""
    module = base64.b64encode(meter.script().encode()).decode()
    texts = TRICKY + fuzzed(400)
    measured = page.evaluate(
        """async ([module, texts]) => {
            const { measure } = await import(`data:text/javascript;base64,${module}`);
            return texts.map(measure);
        }""",
        [module, texts],
    )
    wrong = [(t, m, expected(t)) for t, m in zip(texts, measured, strict=True) if m != expected(t)]
    assert not wrong, wrong[:5]


def details_box(page: Page) -> Locator:
    box = page.get_by_label("Details").filter(visible=True)
    expect(box).to_have_count(1, timeout=30_000)
    return box


def open_update_form(page: Page, url: str) -> Locator:
    page.goto(url)
    take_over = page.get_by_role("button", name="Take over this incident")
    form = page.get_by_label("Details").filter(visible=True)
    expect(take_over.or_(form).first).to_be_visible(timeout=60_000)
    if take_over.count():
        take_over.click()
    return details_box(page)


def expect_meter(page: Page, text: str) -> None:
    """The visible meter shows exactly the server's numbers for `text`."""
    shown = page.locator(".live-meter").filter(visible=True)
    expect(shown).to_have_count(1, timeout=10_000)
    numbers = expected(text)
    for name, value in numbers.items():
        expect(shown).to_have_attribute(f"data-{name}", str(value), timeout=5_000)
    expect(shown).to_contain_text(
        f"X: {numbers['weighted']}/280 · before the final link: {numbers['body']}/220"
    )


def test_one_meter_counts_while_typing_as_the_publishing_check_does(page: Page, running_app):
    box = open_update_form(page, running_app.url)
    for text in SAMPLES:
        box.fill("")
        box.press_sequentially(text[:-1])
        box.type(text[-1])
        expect_meter(page, text)
        assert box.input_value() == text  # still uncommitted: nothing was sent to the server
    # One meter under the details: no second count computed elsewhere.
    expect(page.get_by_text("Typing:")).to_have_count(0)


def choose_template(page: Page, label: str) -> None:
    """Pick a template, again if a rerun (the draft saved after typing) replaced the list."""
    for _ in range(8):
        field = page.get_by_label("Template").filter(visible=True)
        expect(field).to_have_count(1, timeout=10_000)
        field.click()
        try:
            page.get_by_role("option", name=label).click(timeout=3_000)
        except PlaywrightError:
            page.keyboard.press("Escape")
        page.wait_for_timeout(500)
        field = page.get_by_label("Template").filter(visible=True)
        if field.count() == 1 and label in (field.input_value() or ""):
            return
    raise AssertionError(f"could not choose the template {label}")


def test_the_meter_follows_a_template_set_without_typing(page: Page, running_app):
    box = open_update_form(page, running_app.url)
    box.fill("")
    box.press_sequentially("x")
    expect_meter(page, "x")
    choose_template(page, "Monitoring (with duration)")
    page.get_by_role("button", name="Use template").filter(visible=True).click()
    expect(details_box(page)).to_have_value(
        re.compile("If there are no recurrences"), timeout=15_000
    )
    text = details_box(page).input_value()
    expect_meter(page, text)
    assert expected(text)["weighted"] > 100


def wait_for_draft(database: Path, text: str, timeout: float = 30.0) -> None:
    """Until the app has saved a draft holding `text` (the save follows a pause in typing)."""
    engine = make_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            if any(d.values.get("details") == text for d in session.exec(select(Draft))):
                return
        time.sleep(0.2)
    raise AssertionError("the typed words were never saved as a draft")


def test_words_typed_but_not_yet_committed_survive_a_reload(page: Page, running_app):
    box = open_update_form(page, running_app.url)
    text = f"Still rolling back; half the fleet is done. {ISSUE}"
    box.fill("")
    box.press_sequentially(text)
    wait_for_draft(running_app.log.parent / "cmoc.db", text)  # a pause, no blur, no Ctrl+Enter
    page.reload()
    restored = page.get_by_label("Details").filter(visible=True)
    expect(restored).to_have_value(text, timeout=30_000)
    expect_meter(page, text)  # and the meter counts the restored words
