"""An update as each broadcast channel will show it: status page, e-mail, X post and SMS.

Every count comes from `cmoc_core.textlimits`, the same functions the check before publishing
uses, so a preview and the length meter never disagree. Status.io builds the e-mail itself;
the composer leaves the message subject at Status.io's default, whose wording is not in any
reference, so the e-mail subject and layout here are an approximation of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cmoc_core import handbook
from cmoc_core.textlimits import (
    SMS_GSM_PART,
    SMS_GSM_SINGLE,
    SMS_UCS2_PART,
    SMS_UCS2_SINGLE,
    X_TRUNCATION,
    LengthReport,
    body_before_final_url,
    check_length,
    sms_segments,
    weighted_length,
)

STATUS_PAGE = "status_page"
STATUS_PAGE_NAME = "Status page"
EMAIL = "notify_email"
SMS = "notify_sms"
X = "social"
# Channels the CMOC can see as their readers will; the others are listed by name only.
RENDERED = (EMAIL, SMS, X)
# Approximates Status.io's default subject (the handbook says to leave it at its default).
EMAIL_SUBJECT = "{title} status update"

_TOKENS = re.compile(r"\s+|\S+")


class SmsEncoding(StrEnum):
    """How an SMS is encoded: GSM-7 septets, or UCS-2 once any character is outside GSM-7."""

    GSM_7 = "GSM-7"
    UCS_2 = "UCS-2"


@dataclass(frozen=True)
class XPost:
    """The X post as readers see it: the part shown, where X cuts it, and the counts behind it."""

    shown: str
    shown_weighted: int
    # Index in the NFC-normalised text (as X reads it); None when the whole post shows.
    cut_at: int | None
    hidden: str
    # X cuts between units, so a final link across the cut is not shown at all.
    link_lost: bool
    length: LengthReport


@dataclass(frozen=True)
class SmsText:
    """An SMS's encoding, its segment count and the sizes of one segment in that encoding."""

    encoding: SmsEncoding
    segments: int
    single_limit: int
    part_limit: int


@dataclass(frozen=True)
class ChannelPreview:
    """One channel's view of an update; `rendered` is False for channels listed by name only."""

    channel: str
    name: str
    heading: str = ""
    text: str = ""
    components: tuple[str, ...] = ()
    url: str = ""
    x: XPost | None = None
    sms: SmsText | None = None

    @property
    def rendered(self) -> bool:
        """Whether the cockpit can show this channel as its readers will see it."""
        return self.channel == STATUS_PAGE or self.channel in RENDERED


def channel_name(flag: str) -> str:
    """`Microsoft Teams` for `msteams`; the flag itself for anything unknown."""
    return handbook.CHANNEL_NAMES.get(flag, flag)


def broadcast_words(broadcast: Mapping[str, bool]) -> str:
    """`Email, SMS, X`: the ticked channels by the names people use, or `none`."""
    return ", ".join(channel_name(flag) for flag, on in broadcast.items() if on) or "none"


def previews(
    *,
    title: str,
    details: str,
    components: Sequence[str],
    broadcast: Mapping[str, bool],
    status_page_url: str,
) -> list[ChannelPreview]:
    """The status page, then each ticked channel: rendered ones first, then names only."""
    ticked = [flag for flag in handbook.BROADCAST_CHANNELS if broadcast.get(flag, False)]
    shown = [status_page(title=title, details=details, components=components, url=status_page_url)]
    for flag in ticked:
        if flag == EMAIL:
            shown.append(
                email(title=title, details=details, components=components, url=status_page_url)
            )
        elif flag == X:
            shown.append(
                ChannelPreview(channel=X, name=channel_name(X), text=details, x=x_post(details))
            )
        elif flag == SMS:
            shown.append(
                ChannelPreview(channel=SMS, name=channel_name(SMS), text=details, sms=sms(details))
            )
    shown.extend(
        ChannelPreview(channel=flag, name=channel_name(flag))
        for flag in ticked
        if flag not in RENDERED
    )
    return shown


def status_page(*, title: str, details: str, components: Sequence[str], url: str) -> ChannelPreview:
    """The incident on the status page: its title, the message and the affected components."""
    return ChannelPreview(
        channel=STATUS_PAGE,
        name=STATUS_PAGE_NAME,
        heading=title,
        text=details,
        components=tuple(components),
        url=url,
    )


def email(*, title: str, details: str, components: Sequence[str], url: str) -> ChannelPreview:
    """The subscriber e-mail, approximately as Status.io builds it: subject and body."""
    parts = [title, details]
    if components:
        parts.append(f"Affected components: {', '.join(components)}")
    if url:
        parts.append(f"Status page: {url}")
    return ChannelPreview(
        channel=EMAIL,
        name=channel_name(EMAIL),
        heading=EMAIL_SUBJECT.format(title=title).strip(),
        text="\n\n".join(part for part in parts if part),
        components=tuple(components),
        url=url,
    )


def x_post(text: str) -> XPost:
    """The post X shows for `text`: cut where its weighted length would pass about 230."""
    normalised = unicodedata.normalize("NFC", text)
    report = check_length(text)
    cut = None if report.weighted <= X_TRUNCATION else _cut(normalised, X_TRUNCATION)
    shown = normalised if cut is None else normalised[:cut]
    link_lost = (
        cut is not None and report.has_link and len(body_before_final_url(normalised)) >= cut
    )
    return XPost(
        shown=shown,
        shown_weighted=weighted_length(shown),
        cut_at=cut,
        hidden="" if cut is None else normalised[cut:],
        link_lost=link_lost,
        length=report,
    )


def sms(text: str) -> SmsText:
    """The SMS for `text`: its encoding and segment count as textlimits counts them."""
    encoding = _sms_encoding(text)
    gsm = encoding == SmsEncoding.GSM_7
    return SmsText(
        encoding=encoding,
        segments=sms_segments(text),
        single_limit=SMS_GSM_SINGLE if gsm else SMS_UCS2_SINGLE,
        part_limit=SMS_GSM_PART if gsm else SMS_UCS2_PART,
    )


def _sms_encoding(text: str) -> SmsEncoding:
    """GSM-7 when textlimits counts every character of `text` in GSM-7, else UCS-2."""
    # 71 copies of a character fit one GSM-7 SMS (even at two septets each) but never one
    # UCS-2 SMS, so the segment count itself tells which alphabet the character is in.
    probe = SMS_UCS2_SINGLE + 1
    in_gsm = all(sms_segments(char * probe) == 1 for char in set(text))
    return SmsEncoding.GSM_7 if in_gsm else SmsEncoding.UCS_2


def _has_link(text: str) -> bool:
    """Whether X finds a link in `text`."""
    return len(body_before_final_url(text)) < len(unicodedata.normalize("NFC", text))


def _links(text: str) -> int:
    """How many links X finds in `text`."""
    count = 0
    while _has_link(text):
        text = body_before_final_url(text)
        count += 1
    return count


def _whole_at(word: str, index: int, weight: int, links: int) -> bool:
    """Whether splitting `word` (of `weight` and `links`) at `index` keeps links and emoji whole."""
    head, tail = word[:index], word[index:]
    return (
        weighted_length(head) + weighted_length(tail) == weight
        and _links(head) + _links(tail) == links
    )


def _cut(text: str, limit: int) -> int:
    """Where X cuts `text` so the part shown weighs at most `limit`, never inside a unit.

    A link, an emoji sequence or a character is shown whole or not at all. Links and emoji
    never span whitespace, so the text is weighed word by word and only the word the cut falls
    in is searched.
    """
    used = 0
    for token in _TOKENS.finditer(text):
        word = token.group(0)
        weight = weighted_length(word)
        if used + weight > limit:
            return token.start() + _cut_in_word(word, limit - used)
        used += weight
    return len(text)


def _cut_in_word(word: str, room: int) -> int:
    """The last place in `word` before which whole units weigh at most `room`.

    The search starts on the word's first characters and widens only when it cannot decide
    there, so a very long word costs little unless a very long link sits at the cut.
    """
    span = 2 * X_TRUNCATION
    while True:
        part = word[:span]
        best, stop = _last_fit(part, room)
        if span >= len(word):
            return best
        if stop is not None:
            weight, links = weighted_length(word), _links(word)
            if all(_whole_at(word, index, weight, links) for index in (best, stop)):
                return best
        span *= 2


def _last_fit(part: str, room: int) -> tuple[int, int | None]:
    """The last whole-unit place in `part` weighing at most `room`, and the first one over."""
    weight, links = weighted_length(part), _links(part)
    best = 0
    for index in range(1, len(part)):
        if not _whole_at(part, index, weight, links):
            continue
        if weighted_length(part[:index]) > room:
            # Whole units only add weight, so no later place fits.
            return best, index
        best = index
    return best, None
