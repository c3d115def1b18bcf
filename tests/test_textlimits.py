"""Message length: X's weighted count, the body before the final link, SMS segments."""

from __future__ import annotations

import re

import pytest

from cmoc_core.textlimits import (
    BODY_LIMIT,
    URL_WEIGHT,
    X_LIMIT,
    X_TRUNCATION,
    LengthReport,
    body_before_final_url,
    body_weighted_length,
    browser_rules,
    check_length,
    sms_segments,
    weighted_length,
)

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/123"  # 62 characters

# (text, X weighted length, weighted length of the text before the final URL)
CASES = {
    "empty": ("", 0, 0),
    "plain ascii": ("This is a test.", 15, 15),
    "url with scheme": ("https://gitlab.com/x", 23, 0),
    "url without scheme": ("gitlab.com/gitlab-com/gl-infra/production/-/issues/123", 23, 0),
    "bare subdomain": ("status.gitlab.com", 23, 0),
    "mixed-case bare domain": ("GitLab.com is down", 23 + 8, 0),
    "url mid-sentence": (f"See {ISSUE} for details", 4 + 23 + 12, 4),
    "url then period": ("Details: https://gitlab.com/x.", 9 + 23 + 1, 9),
    "url in parentheses": ("(see https://gitlab.com/x)", 1 + 4 + 23 + 1, 5),
    "bare domain then period": ("Check status.gitlab.com.", 6 + 23 + 1, 6),
    "bare domains then comma": ("gitlab.com, docs.gitlab.com", 23 + 2 + 23, 23 + 2),
    "several urls": (
        "Test https://test.com test https://test.com test.com test",
        5 + 23 + 6 + 23 + 1 + 23 + 5,
        5 + 23 + 6 + 23 + 1,
    ),
    "e-mail address is text": ("Write to support@gitlab.com", 9 + 18, 27),
    "short country domain without path is text": ("see gitlab.io", 13, 13),
    "country domain with path is a link": ("gitlab.io/docs", 23, 0),
    "version number is text": ("Release 16.0 is out", 19, 19),
    "ftp is not a link": ("ftp://example.com", 17, 17),
    "scheme alone is text": ("https://", 8, 8),
    "label over 63 characters is text": ("randomurl" * 7 + "s.com", 68, 68),
    "cjk weighs 2": ("故人西辞黄鹤楼", 14, 14),
    "140 cjk fill the limit": ("故" * 140, 280, 280),
    "single emoji": ("Fixed 🎉", 6 + 2, 8),
    "emoji with skin tone": ("👍🏽", 2, 2),
    "zwj family": ("👨\u200d👩\u200d👧\u200d👦", 2, 2),
    "newer zwj sequence": ("🧑\u200d💻", 2, 2),
    "flag": ("🇩🇪", 2, 2),
    "subdivision flag": ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", 2, 2),
    "keycap": ("1\ufe0f\u20e3", 2, 2),
    "emoji with variation selector": ("❤\ufe0f", 2, 2),
    "conformance mix": ("H🐱☺👨\u200d👩\u200d👧\u200d👦", 1 + 2 + 2 + 2, 7),
    "combining accent composes": ("e\u0301", 1, 1),
    "combining accent in a word": ("Cafe\u0301", 4, 4),
    "composition exclusion stays 3": ("A\ufb2c", 1 + 3, 4),
    "quotes weigh 1 and ellipsis 2": ("We\u2019re on it\u2026", 5 + 6 + 2, 13),
    "euro sign weighs 2": ("€5", 3, 3),
    "exactly 280": ("a" * 280, 280, 280),
    "281": ("a" * 281, 281, 281),
    "280 with a final link": ("a" * 256 + " " + ISSUE, 257 + 23, 257),
    "body exactly 220": ("a" * 219 + " " + ISSUE, 220 + 23, 220),
    "body 221": ("a" * 220 + " " + ISSUE, 221 + 23, 221),
}


@pytest.mark.parametrize(("text", "weighted", "body"), CASES.values(), ids=CASES.keys())
def test_weighted_length_and_body_follow_x_rules(text, weighted, body):
    assert weighted_length(text) == weighted
    assert body_weighted_length(text) == body
    report = check_length(text)
    assert (report.weighted, report.body_weighted) == (weighted, body)
    assert report.over_limit == (weighted > X_LIMIT)
    assert report.body_over == (body > BODY_LIMIT)


def test_constants_match_the_handbook_and_x():
    assert (X_LIMIT, X_TRUNCATION, BODY_LIMIT, URL_WEIGHT) == (280, 230, 220, 23)


def test_body_is_the_text_before_the_last_link():
    assert body_before_final_url(f"See gitlab.com. Fixed; details: {ISSUE}") == (
        "See gitlab.com. Fixed; details: "
    )
    assert body_before_final_url("No link here") == "No link here"
    assert body_before_final_url("Cafe\u0301 https://x.com") == "Caf\u00e9 "


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),
        ("故" * 70, 1),
        ("故" * 71, 2),
        ("故" * 134, 2),
        ("故" * 135, 3),
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("😀" * 35, 1),
        ("😀" * 36, 2),
    ],
    ids=lambda value: str(value) if isinstance(value, int) else f"{value[:1]!r}x{len(value)}",
)
def test_sms_segments_gsm_160_153_and_ucs2_70_67(text, segments):
    assert sms_segments(text) == segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 159 + "[", 2),
        ("a" * 158 + "]", 1),
        ("a" * 152 + "€" + "a" * 152, 3),
    ],
    ids=["80 euro", "81 euro", "159 + bracket", "158 + bracket", "escape pair not split"],
)
def test_sms_extension_characters_take_two_septets(text, segments):
    assert sms_segments(text) == segments


def test_a_short_update_with_its_link_has_no_problems():
    report = check_length(f"We're investigating elevated error rates on GitLab.com: {ISSUE}")
    assert report.problems() == []


def test_report_for_a_body_of_exactly_220():
    assert check_length("a" * 219 + " " + ISSUE) == LengthReport(
        weighted=243,
        limit=280,
        over_limit=False,
        truncation_risk=True,
        body_weighted=220,
        body_limit=220,
        body_over=False,
        sms_segments=2,
        has_link=True,
    )


def test_over_the_limit_says_by_how_much():
    assert "282 of 280 characters on X: shorten by 2" in check_length("a" * 282).problems()


def test_long_body_warns_that_the_link_may_be_cut():
    assert check_length("a" * 230 + " " + ISSUE).problems() == [
        "254 characters: X sometimes cuts posts after about 230; shorten by 24 to be safe",
        "The text before the final link is 231 characters; keep it within 220 so the link "
        "is not cut",
    ]


def test_long_text_without_link_warns_about_the_link_to_come():
    assert check_length("a" * 221).problems() == [
        "The text is 221 characters; keep it within 220 so the issue link fits after it "
        "without being cut"
    ]


def test_the_browser_gets_the_servers_own_patterns_in_javascript_syntax():
    rules = browser_rules()
    for pattern in (rules.url_pattern, rules.emoji_pattern):
        assert "(?P<" not in pattern and "\\U" not in pattern and not re.search(r"\s", pattern)
    assert "(?<scheme>https?://)" in rules.url_pattern and "(?<domain>" in rules.url_pattern
    assert "\\u{1f3f4}" in rules.emoji_pattern and "\\u{1f1e6}-\\u{1f1ff}" in rules.emoji_pattern
    assert "com" in rules.url_pattern and "io" in rules.country_tlds
    assert "com" not in rules.country_tlds and rules.special_short_tlds == ("co", "tv")
    assert (rules.url_weight, rules.x_limit, rules.body_limit) == (URL_WEIGHT, X_LIMIT, BODY_LIMIT)
    assert rules.x_truncation == X_TRUNCATION and rules.light_ranges[0] == (0, 4351)
    assert "€" in rules.gsm_extension and "£" in rules.gsm_basic
