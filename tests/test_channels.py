"""Channel previews: the status page, the e-mail, the X post as cut at ~230, and the SMS."""

from __future__ import annotations

import unicodedata

import pytest

from cmoc_core import handbook
from cmoc_core.channels import (
    STATUS_PAGE,
    ChannelPreview,
    SmsEncoding,
    broadcast_words,
    channel_name,
    previews,
    sms,
    x_post,
)
from cmoc_core.textlimits import (
    BODY_LIMIT,
    URL_WEIGHT,
    X_TRUNCATION,
    body_weighted_length,
    check_length,
    sms_segments,
    weighted_length,
)

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/123"  # 62 characters
PAGE = "https://status.gitlab.com/pages/incident/5b36dc6502d06804c08349f7/abc"
ALL = dict.fromkeys(handbook.BROADCAST_CHANNELS, True)
NONE = dict.fromkeys(handbook.BROADCAST_CHANNELS, False)
SHORT = f"We are investigating delays in CI job processing. Details: {ISSUE}"


def words(weight: int) -> str:
    """Plain ASCII text of exactly `weight` characters made of short words."""
    text = ("delay " * (weight // 6 + 1))[:weight]
    assert len(text) == weight
    return text


def show(details: str, broadcast: dict[str, bool] = ALL) -> list[ChannelPreview]:
    return previews(
        title="Delays in CI job processing",
        details=details,
        components=["CI/CD - Hosted runners on Linux", "Website"],
        broadcast=broadcast,
        status_page_url=PAGE,
    )


def by_channel(found: list[ChannelPreview]) -> dict[str, ChannelPreview]:
    return {preview.channel: preview for preview in found}


def test_every_broadcast_flag_has_a_name_for_people():
    assert list(handbook.CHANNEL_NAMES) == list(handbook.BROADCAST_CHANNELS)
    assert [channel_name(flag) for flag in handbook.BROADCAST_CHANNELS] == [
        "Email",
        "SMS",
        "Webhook",
        "X",
        "IRC",
        "HipChat",
        "Microsoft Teams",
        "Slack",
    ]


def test_an_unknown_flag_is_named_by_itself():
    assert channel_name("carrier_pigeon") == "carrier_pigeon"


def test_all_ticked_lists_the_page_then_rendered_channels_then_names_only():
    found = show(SHORT)
    assert [preview.name for preview in found] == [
        "Status page",
        "Email",
        "SMS",
        "X",
        "Webhook",
        "IRC",
        "HipChat",
        "Microsoft Teams",
        "Slack",
    ]
    assert [preview.rendered for preview in found] == [True] * 4 + [False] * 5


def test_channels_without_a_rendering_carry_their_name_only():
    for preview in show(SHORT)[4:]:
        assert preview.text == "" and preview.heading == ""
        assert preview.x is None and preview.sms is None


def test_unticked_channels_are_omitted():
    found = show(SHORT, {**NONE, "notify_email": True, "slack": True})
    assert [preview.channel for preview in found] == [STATUS_PAGE, "notify_email", "slack"]


def test_the_status_page_is_shown_even_with_nothing_ticked():
    (page,) = show(SHORT, NONE)
    assert page.channel == STATUS_PAGE
    assert page.heading == "Delays in CI job processing"
    assert page.text == SHORT
    assert page.components == ("CI/CD - Hosted runners on Linux", "Website")
    assert page.url == PAGE


def test_a_missing_flag_counts_as_unticked():
    assert [preview.channel for preview in show(SHORT, {"social": True})] == [STATUS_PAGE, "social"]


def test_the_email_has_the_default_subject_and_the_message_components_and_page():
    mail = by_channel(show(SHORT))["notify_email"]
    assert mail.heading == "Delays in CI job processing status update"
    assert mail.text == (
        "Delays in CI job processing\n\n"
        f"{SHORT}\n\n"
        "Affected components: CI/CD - Hosted runners on Linux, Website\n\n"
        f"Status page: {PAGE}"
    )


def test_a_short_post_is_shown_whole_with_its_link():
    post = by_channel(show(SHORT))["social"].x
    assert post is not None
    assert post.cut_at is None and post.hidden == ""
    assert post.shown == SHORT
    assert not post.link_lost
    assert post.shown_weighted == post.length.weighted == len(SHORT) - len(ISSUE) + URL_WEIGHT


def test_a_url_counts_23_so_a_long_link_is_posted_whole():
    text = f"{words(200)} {ISSUE}"
    assert len(text) > X_TRUNCATION
    post = x_post(text)
    assert post.length.weighted == 201 + URL_WEIGHT <= X_TRUNCATION
    assert post.cut_at is None and not post.link_lost
    assert post.shown == text


def test_a_link_after_a_220_body_crosses_the_cut_and_is_not_shown_whole():
    body = words(BODY_LIMIT - 1)
    post = x_post(f"{body} {ISSUE}")
    assert not post.length.body_over
    assert post.length.truncation_risk
    assert post.cut_at == BODY_LIMIT
    assert post.hidden == ISSUE
    assert post.link_lost


def test_a_body_over_220_before_the_link_loses_the_whole_link():
    body = words(225)
    text = f"{body} {ISSUE}"
    post = x_post(text)
    assert post.length.body_over and post.length.truncation_risk
    assert post.cut_at == len(body) + 1
    assert post.shown == f"{body} "
    assert post.hidden == ISSUE
    assert post.link_lost
    assert post.shown_weighted == 226 <= X_TRUNCATION


def test_a_link_in_the_middle_survives_when_the_cut_falls_after_it():
    body = f"See {ISSUE} for details. "
    text = body + words(250)
    post = x_post(text)
    assert post.cut_at is not None
    assert ISSUE in post.shown
    assert not post.link_lost
    assert post.shown_weighted == X_TRUNCATION


def test_plain_text_is_cut_exactly_where_230_falls():
    text = words(300)
    post = x_post(text)
    assert post.cut_at == X_TRUNCATION
    assert post.shown == text[:X_TRUNCATION]
    assert post.shown + post.hidden == text


def test_an_emoji_at_the_cut_is_shown_whole_or_not_at_all():
    text = "a" * (X_TRUNCATION - 1) + "👍🏽 done"
    post = x_post(text)
    assert post.cut_at == X_TRUNCATION - 1
    assert post.hidden.startswith("👍🏽")
    assert post.shown_weighted == X_TRUNCATION - 1


def test_a_link_inside_a_longer_word_is_kept_whole_before_the_cut():
    body = words(203)
    text = f'{body} "{ISSUE}"' + "x" * 20
    post = x_post(text)
    assert post.cut_at == len(body) + 1 + 1 + len(ISSUE) + 1 + 1
    assert post.shown.endswith(f'"{ISSUE}"x')
    assert post.shown_weighted == X_TRUNCATION
    assert not post.link_lost


def test_a_long_unbroken_word_is_cut_at_230():
    post = x_post("a" * 600)
    assert post.cut_at == X_TRUNCATION
    assert post.shown_weighted == X_TRUNCATION


@pytest.mark.parametrize("room", [9, 29])
def test_a_very_long_link_at_the_cut_is_shown_whole_or_not_at_all(room):
    body = words(X_TRUNCATION - room - 1)
    link = "https://gitlab.com/" + "x" * 600
    text = f'{body} "{link}"' + "y" * 40
    post = x_post(text)
    if room < 1 + URL_WEIGHT + 1:
        assert post.cut_at == len(body) + 1 + 1
        assert post.hidden.startswith(f'{link}"')
        assert post.link_lost
    else:
        assert post.cut_at == len(body) + 1 + 1 + len(link) + 1 + (room - 25)
        assert f'"{link}"' in post.shown
        assert not post.link_lost
    assert post.shown_weighted <= X_TRUNCATION


def test_cjk_weighs_two_so_115_characters_fill_the_cut():
    post = x_post("故" * 120)
    assert post.cut_at == 115
    assert post.shown_weighted == X_TRUNCATION


def test_the_post_is_the_text_as_x_normalises_it():
    text = "Cafe\u0301 " + words(300)
    post = x_post(text)
    assert post.shown + post.hidden == unicodedata.normalize("NFC", text)
    assert post.shown_weighted == X_TRUNCATION


def test_ascii_sms_is_gsm_7_in_one_segment():
    message = by_channel(show(SHORT))["notify_sms"]
    assert message.text == SHORT
    assert message.sms is not None
    assert message.sms.encoding == SmsEncoding.GSM_7
    assert message.sms.segments == 1
    assert (message.sms.single_limit, message.sms.part_limit) == (160, 153)


def test_gsm_extension_characters_keep_gsm_7():
    assert sms("Costs € and [brackets] {braces}").encoding == SmsEncoding.GSM_7


def test_an_emoji_turns_the_sms_into_ucs_2_segments():
    text = "Fixed 🎉 " + words(70)
    found = sms(text)
    assert found.encoding == SmsEncoding.UCS_2
    assert (found.single_limit, found.part_limit) == (70, 67)
    assert found.segments == 2 == sms_segments(text)
    assert sms(words(78)).segments == 1


def test_non_gsm_letters_are_ucs_2():
    assert sms("Störung behoben: “quotes” ok").encoding == SmsEncoding.UCS_2
    assert sms("Störung behoben").encoding == SmsEncoding.GSM_7


def test_empty_details_preview_as_empty():
    post = x_post("")
    assert post.cut_at is None and post.shown == "" and post.shown_weighted == 0
    assert sms("").segments == 0


@pytest.mark.parametrize(
    "details",
    [
        SHORT,
        f"{words(225)} {ISSUE}",
        f"{words(BODY_LIMIT - 1)} {ISSUE}",
        f"See {ISSUE} and status.gitlab.com for details. {words(250)}",
        "Fixed 🎉 👨\u200d👩\u200d👧\u200d👦 " + "故" * 130,
        "Costs € " + words(400),
        "",
    ],
)
def test_every_number_equals_textlimits_own(details):
    found = by_channel(show(details))
    post, message = found["social"].x, found["notify_sms"].sms
    assert post is not None and message is not None
    assert post.length == check_length(details)
    assert post.length.weighted == weighted_length(details)
    assert post.length.body_weighted == body_weighted_length(details)
    assert post.shown_weighted == weighted_length(post.shown) <= X_TRUNCATION
    assert message.segments == sms_segments(details) == check_length(details).sms_segments
    assert (post.cut_at is None) == (not check_length(details).truncation_risk)


def test_the_ticked_channels_are_listed_by_the_names_people_use():
    assert broadcast_words({"notify_email": True, "notify_sms": False, "social": True}) == (
        "Email, X"
    )
    assert broadcast_words({"msteams": True, "notify_webhook": True}) == "Microsoft Teams, Webhook"
    assert broadcast_words(dict.fromkeys(handbook.BROADCAST_CHANNELS, False)) == "none"
