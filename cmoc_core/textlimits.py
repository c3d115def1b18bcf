"""Message length as X and SMS count it: the 280 limit, the ~230 cut and the 220-character body.

X counts text the twitter-text v3 way: the text is NFC-normalised, every URL weighs 23, a
recognised emoji sequence weighs 2 and any other code point weighs 1 or 2 by its range. The
handbook asks to fit the main body of an update (everything before the final URL) in 220
characters, because some posts are cut at about 230 and the link would be lost.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

X_LIMIT = 280
X_TRUNCATION = 230
BODY_LIMIT = 220
URL_WEIGHT = 23
EMOJI_WEIGHT = 2

SMS_GSM_SINGLE = 160
SMS_GSM_PART = 153
SMS_UCS2_SINGLE = 70
SMS_UCS2_PART = 67

# Code points that weigh 1 in twitter-text's v3 configuration; everything else weighs 2.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

# twitter-text's country-code TLDs (ASCII ones) and the generic TLDs an update is likely to use.
_COUNTRY_TLD_NAMES = """
    ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo
    bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm
    do dz ec ee eg eh er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs
    gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp
    kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms
    mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps
    pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz
    tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk um us uy uz va vc ve vg vi vn vu
    wf ws ye yt za zm zw
"""
_GENERIC_TLD_NAMES = """
    com org net edu gov mil int info biz name pro mobi app dev page cloud tech site online xyz
    blog shop store news email support help live link media network website digital software
    systems services solutions wiki tools team zone world today space design codes
"""
_COUNTRY_TLDS = frozenset(_COUNTRY_TLD_NAMES.split())
_GENERIC_TLDS = frozenset(_GENERIC_TLD_NAMES.split())
# A bare two-label domain with a country TLD and no path is not a link for X (`setup.py`),
# except for these (`t.co`, `example.tv`).
_SPECIAL_SHORT_TLDS = frozenset({"co", "tv"})

_TLD = "|".join(sorted(_COUNTRY_TLDS | _GENERIC_TLDS, key=len, reverse=True))
_URL_CHAR = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%|\u00c0-\u024f\u0400-\u04ff]"
_URL = re.compile(
    rf"""
    (?<![A-Za-z0-9@$#\uff20\uff03])(?P<scheme>https?://){_URL_CHAR}+
    |
    (?<![A-Za-z0-9@$#\uff20\uff03\-_./])
    (?P<domain>(?:[a-z0-9](?:[a-z0-9_-]{{0,61}}[a-z0-9])?\.)+(?:{_TLD}))(?![a-z0-9@+-])
    (?P<port>:[0-9]+)?
    (?P<path>[/?]{_URL_CHAR}*)?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_URL_ENDING = frozenset("=_#/+-&")

_SKIN_TONES = r"\U0001f3fb-\U0001f3ff"
_PICTOGRAPHS = (
    r"\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    r"\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935"
    r"\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    r"\U0001f000-\U0001f1e5\U0001f200-\U0001faff"
)
_EMOJI_ELEMENT = rf"(?:[{_PICTOGRAPHS}](?:\ufe0f|[{_SKIN_TONES}])?|[\u00a9\u00ae]\ufe0f)"
_EMOJI = re.compile(
    r"\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"  # subdivision flags
    r"|[#*0-9]\ufe0f?\u20e3"  # keycaps
    r"|[\U0001f1e6-\U0001f1ff]{2}"  # country flags
    rf"|{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*"  # emoji, modifiers and ZWJ sequences
)

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


def _char_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(low <= code <= high for low, high in _LIGHT_RANGES) else 2


def _trim_url(url: str) -> str:
    """Drop trailing punctuation that ends the sentence rather than the URL."""
    while url:
        last = url[-1]
        if last == ")":
            if url.count("(") >= url.count(")"):
                break
        elif last.isalnum() or last in _URL_ENDING:
            break
        url = url[:-1]
    return url


def _url_spans(text: str) -> list[tuple[int, int]]:
    """Start and end of every URL X would shorten, in an NFC-normalised text."""
    spans = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        if match.group("scheme"):
            if not any(char.isalnum() for char in url[len(match.group("scheme")) :]):
                continue
        else:
            domain = match.group("domain")
            has_path = len(url) > len(domain)
            tld = domain.rsplit(".", 1)[1].lower()
            if (
                not has_path
                and domain.count(".") == 1
                and tld in _COUNTRY_TLDS
                and tld not in _SPECIAL_SHORT_TLDS
            ):
                continue
        spans.append((match.start(), match.start() + len(url)))
    return spans


def _weigh(text: str, spans: list[tuple[int, int]]) -> int:
    starts = dict(spans)
    total, index = 0, 0
    while index < len(text):
        if index in starts:
            total += URL_WEIGHT
            index = starts[index]
            continue
        emoji = _EMOJI.match(text, index)
        if emoji:
            total += EMOJI_WEIGHT
            index = emoji.end()
            continue
        total += _char_weight(text[index])
        index += 1
    return total


def _parse(text: str) -> tuple[str, list[tuple[int, int]]]:
    normalised = unicodedata.normalize("NFC", text)
    return normalised, _url_spans(normalised)


def _body(normalised: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    if not spans:
        return normalised, spans
    return normalised[: spans[-1][0]], spans[:-1]


def weighted_length(text: str) -> int:
    """The length X counts for `text` (twitter-text v3 weighting, every URL as 23)."""
    return _weigh(*_parse(text))


def body_before_final_url(text: str) -> str:
    """The NFC-normalised text before the last URL; the whole text when there is no URL."""
    return _body(*_parse(text))[0]


def body_weighted_length(text: str) -> int:
    """The X length of the text before the final URL, which the handbook keeps within 220."""
    return _weigh(*_body(*_parse(text)))


def _segments(costs: list[int], single: int, part: int) -> int:
    if sum(costs) <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return segments


def sms_segments(text: str) -> int:
    """How many SMS segments `text` takes: GSM-7 160/153 septets, else UCS-2 70/67 units."""
    if not text:
        return 0
    if all(char in _GSM_BASIC or char in _GSM_EXTENSION for char in text):
        costs = [2 if char in _GSM_EXTENSION else 1 for char in text]
        return _segments(costs, SMS_GSM_SINGLE, SMS_GSM_PART)
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return _segments(costs, SMS_UCS2_SINGLE, SMS_UCS2_PART)


@dataclass(frozen=True)
class LengthReport:
    """How a message measures against X's limit, the ~230 cut, the 220 body and SMS."""

    weighted: int
    limit: int
    over_limit: bool
    truncation_risk: bool
    body_weighted: int
    body_limit: int
    body_over: bool
    sms_segments: int
    has_link: bool

    def problems(self) -> list[str]:
        """What a CMOC should fix before posting, in plain words; empty when the text is fine."""
        found = []
        if self.over_limit:
            found.append(
                f"{self.weighted} of {self.limit} characters on X: "
                f"shorten by {self.weighted - self.limit}"
            )
        elif self.truncation_risk:
            found.append(
                f"{self.weighted} characters: X sometimes cuts posts after about "
                f"{X_TRUNCATION}; shorten by {self.weighted - X_TRUNCATION} to be safe"
            )
        if self.body_over and self.has_link:
            found.append(
                f"The text before the final link is {self.body_weighted} characters; "
                f"keep it within {self.body_limit} so the link is not cut"
            )
        elif self.body_over:
            found.append(
                f"The text is {self.body_weighted} characters; keep it within "
                f"{self.body_limit} so the issue link fits after it without being cut"
            )
        return found


def check_length(text: str) -> LengthReport:
    """Measure `text` for X and SMS."""
    normalised, spans = _parse(text)
    weighted = _weigh(normalised, spans)
    body = _weigh(*_body(normalised, spans))
    return LengthReport(
        weighted=weighted,
        limit=X_LIMIT,
        over_limit=weighted > X_LIMIT,
        truncation_risk=weighted > X_TRUNCATION,
        body_weighted=body,
        body_limit=BODY_LIMIT,
        body_over=body > BODY_LIMIT,
        sms_segments=sms_segments(text),
        has_link=bool(spans),
    )


@dataclass(frozen=True)
class BrowserRules:
    """The rules above in a form a browser runs: the same patterns, lists and weights.

    The live meter counts with these on every keystroke, so its numbers are the ones
    `check_length` gives the server before publishing.
    """

    url_pattern: str
    emoji_pattern: str
    country_tlds: tuple[str, ...]
    special_short_tlds: tuple[str, ...]
    url_endings: str
    light_ranges: tuple[tuple[int, int], ...]
    gsm_basic: str
    gsm_extension: str
    url_weight: int
    emoji_weight: int
    x_limit: int
    x_truncation: int
    body_limit: int
    sms_gsm_single: int
    sms_gsm_part: int
    sms_ucs2_single: int
    sms_ucs2_part: int


_PYTHON_GROUP = re.compile(r"\(\?P<")
_ASTRAL_ESCAPE = re.compile(r"\\U([0-9a-fA-F]{8})")


def browser_pattern(pattern: re.Pattern[str]) -> str:
    """`pattern` as JavaScript source for the `u` flag (and `i` when it ignores case)."""
    source = pattern.pattern
    if pattern.flags & re.VERBOSE:
        # These patterns keep `#` inside character classes only and use no escaped blanks.
        source = re.sub(r"\s+", "", source)
    source = _PYTHON_GROUP.sub("(?<", source)
    return _ASTRAL_ESCAPE.sub(lambda code: "\\u{" + code.group(1).lstrip("0") + "}", source)


def browser_rules() -> BrowserRules:
    """The counting rules for the live meter in the browser."""
    return BrowserRules(
        url_pattern=browser_pattern(_URL),
        emoji_pattern=browser_pattern(_EMOJI),
        country_tlds=tuple(sorted(_COUNTRY_TLDS)),
        special_short_tlds=tuple(sorted(_SPECIAL_SHORT_TLDS)),
        url_endings="".join(sorted(_URL_ENDING)),
        light_ranges=_LIGHT_RANGES,
        gsm_basic="".join(sorted(_GSM_BASIC)),
        gsm_extension="".join(sorted(_GSM_EXTENSION)),
        url_weight=URL_WEIGHT,
        emoji_weight=EMOJI_WEIGHT,
        x_limit=X_LIMIT,
        x_truncation=X_TRUNCATION,
        body_limit=BODY_LIMIT,
        sms_gsm_single=SMS_GSM_SINGLE,
        sms_gsm_part=SMS_GSM_PART,
        sms_ucs2_single=SMS_UCS2_SINGLE,
        sms_ucs2_part=SMS_UCS2_PART,
    )
