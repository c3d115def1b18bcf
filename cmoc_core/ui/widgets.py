"""Small reusable widgets and text helpers for the pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from cmoc_core.checklist import Checklist, ChecklistStep
from cmoc_core.handbook import Stage
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.timeutil import MISSING as MISSING
from cmoc_core.timeutil import moment as moment

# Streamlit finds bare URLs, e-mail addresses, emoji shortcodes (`:smile:`, `:streamlit:`) and
# arrows (`->`, `--`, `>=`) in the text after parsing, once backslash escapes are gone: an
# invisible word joiner (no line break either) splits them instead.
JOINER = "\u2060"
_AFTER_PARSING = re.compile(
    r"""
      (?<=:)(?=//)                            # http://
    | (?<=www)(?=\.)                          # www.example.com
    | (?<=[\w.+-]@)(?=[\w-]+\.)               # name@example.com
    | (?<=[<>=~-])(?=[<>=~-])                 # -> <- -- >= <= ~=
    | (?<=(?<!\d):)(?=[\w+-]+:)               # :smile: :+1: :100:, but not 14:30:00
    | (?<=:)(?=[\w+-]*[^\W\d][\w+-]*:)        # 12:smile:
    """,
    re.IGNORECASE | re.VERBOSE,
)
# CommonMark renders any escaped ASCII punctuation as itself: that covers emphasis, links,
# images, HTML, headings, lists, tables, code, `$math$` and `:color[...]` directives.
_ASCII_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
# An indented line would be a code block, where escapes show: no-break spaces do not indent.
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)
_NOT_IN_LINK = re.compile(r"[\s<>\\]")


def escape_markdown(text: str) -> str:
    """Outside text as Streamlit Markdown that shows exactly that text: nothing in it acts."""
    text = _AFTER_PARSING.sub(JOINER, text)
    text = _INDENT.sub(lambda blank: "\u00a0" * len(blank.group()), text)
    return _ASCII_PUNCTUATION.sub(r"\\\1", text)


def markdown_link(label: str, url: str | None) -> str:
    """A Markdown link labelled with outside text to a checked `url`, or the label alone."""
    if not url or _NOT_IN_LINK.search(url):
        return escape_markdown(label)
    return f"[{escape_markdown(label)}](<{url}>)"


def period_picker(*, key: str, default_days: int = 365) -> tuple[datetime, datetime]:
    """A date range as [since, until) in UTC; the end day is included."""
    today = datetime.now(UTC).date()
    chosen = st.date_input(
        "Period (UTC)",
        value=(today - timedelta(days=default_days), today),
        max_value=today + timedelta(days=1),
        format="DD-MM-YYYY",
        key=key,
    )
    days = [chosen] if isinstance(chosen, date) else [d for d in chosen or () if d]
    if not days:
        days = [today - timedelta(days=default_days), today]
    return as_utc_midnight(days[0]), as_utc_midnight(days[-1]) + timedelta(days=1)


def as_utc_midnight(day: date) -> datetime:
    """The start of a day in UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def ago(moment: datetime | None, *, now: datetime | None = None) -> str:
    """`3 h 5 min ago`-style text, or `never`."""
    if moment is None:
        return "never"
    minutes = int(((now or datetime.now(UTC)) - moment).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p) + " ago"


def duration(delta: timedelta) -> str:
    """`1 h 05 min` / `4 min 09 s` for a positive span."""
    seconds = int(abs(delta).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def period_preset(*, key: str, today: date | None = None) -> tuple[datetime, datetime]:
    """This quarter, last quarter, last 30 days or a custom range, as [since, until) in UTC."""
    today = today or datetime.now(UTC).date()
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    previous_start = date(
        quarter_start.year - (quarter_start.month == 1), (quarter_start.month - 4) % 12 + 1, 1
    )
    presets = {
        "This quarter": (quarter_start, today + timedelta(days=1)),
        "Last quarter": (previous_start, quarter_start),
        "Last 30 days": (today - timedelta(days=29), today + timedelta(days=1)),
        "Last 365 days": (today - timedelta(days=364), today + timedelta(days=1)),
    }
    choice = (
        st.segmented_control("Period", [*presets, "Custom"], default="Last quarter", key=key)
        or "Last quarter"
    )
    if choice == "Custom":
        return period_picker(key=f"{key}_custom", default_days=90)
    start, end = presets[choice]
    return as_utc_midnight(start), as_utc_midnight(end)


def percent(value: float | None) -> str:
    """`87.5%`, or an en dash when there is nothing to measure."""
    return "–" if value is None else f"{value:.1f}%"


def ratio(value: float | None) -> str:
    """`0.71`, or an en dash when there is nothing to measure."""
    return "–" if value is None else f"{value:.2f}"


def clear_sent_fields(page: str) -> None:
    """Forget the fields of what `page` just sent (call before its widgets are drawn)."""
    for key in st.session_state.pop(f"{page}_clear", []):
        st.session_state.pop(key, None)


def show_outcomes(page: str) -> None:
    """The results of `page`'s last action, once."""
    outcomes: list[Outcome] = st.session_state.pop(f"{page}_outcomes", [])
    for outcome in outcomes:
        text = escape_markdown(outcome.message)
        if outcome.status == OutcomeStatus.ALREADY_SENT:
            st.info(text, icon=":material/done_all:")
        elif outcome.ok:
            st.success(text, icon=":material/check_circle:")
        elif outcome.status == OutcomeStatus.IN_PROGRESS:
            st.info(text, icon=":material/hourglass_top:")
        else:
            st.error(text, icon=":material/error:")


def tiles() -> Any:
    """A row of tiles that wraps on a narrow screen, each tile as wide as its words."""
    return st.container(horizontal=True, wrap=True, gap="small")


def tile(
    label: str, value: str, *, note: str | None = None, alarm: bool = False, help: str | None = None
) -> None:
    """One tile of a `tiles` row, never cut short, with a note under it: red for an alarm."""
    st.metric(
        label,
        value,
        delta=note,
        delta_color="red" if alarm else "gray",
        delta_arrow="off",
        help=help,
        width="content",
    )


def red(text: str) -> str:
    """Markdown that shows a tile's value (or other short text of ours) in red."""
    return f":red[{text}]"


def stage_expanders(
    checklist: Checklist, *, key: str
) -> list[tuple[Stage, tuple[ChecklistStep, ...], Any]]:
    """An expander per stage, kept open or closed as the CMOC left it; entering a stage opens it."""
    # First drawn, and on entering another stage, the current stage and each earlier one with
    # steps left open; nothing closes by itself, so nothing above a button moves it away.
    state = st.session_state
    entered = state.get(f"{key}_current") != checklist.current
    state[f"{key}_current"] = checklist.current
    expanders = []
    for stage, steps in checklist.stages:
        name = f"{key}_{stage.name.lower()}"
        if name not in state:
            state[name] = checklist.open_at_first(stage)
        elif entered and checklist.open_at_first(stage):
            state[name] = True
        expander = st.expander(f"Stage {stage.value}", key=name, on_change="rerun")
        expanders.append((stage, steps, expander))
    return expanders


def checklist_row(text: str, *, done: bool) -> Any:
    """One checklist line, its box ticked when done; returns the column beside it."""
    # The thin third column holds a button's height, so a button turning into its done-time
    # leaves the lines below where they were.
    left, right, strut = st.columns([3, 2, 0.01], vertical_alignment="center")
    with strut:
        st.space("medium")
    box = ":material/check_box:" if done else ":material/check_box_outline_blank:"
    left.markdown(f"{box} {text}")
    return right


def stage_steps(
    steps: Sequence[ChecklistStep],
    *,
    key_prefix: str,
    on_click: Callable[..., Any] | None = None,
    args: tuple[Any, ...] = (),
    since: datetime | None = None,
    refusals: Mapping[str, str] | None = None,
) -> None:
    """A stage's steps with done-times (+ after `since`), else a note or a button (refused: why)."""
    for step in steps:
        right = checklist_row(step.text, done=step.done_at is not None)
        if step.done_at is not None:
            after = f" (+{duration(step.done_at - since)})" if since is not None else ""
            right.caption(f"done {moment(step.done_at)}{after}")
        elif step.note:
            right.caption(step.note)
        elif step.action and on_click is not None:
            refused = (refusals or {}).get(step.key)
            # The step's key comes last so that one callback serves every step.
            right.button(
                step.action,
                key=f"{key_prefix}_{step.key}",
                on_click=on_click,
                args=(*args, step.key),
                disabled=refused is not None,
                help=refusal_help(refused),
            )
            if refused is not None:
                with right:
                    refused_note(refused)


def refused_note(reason: str | None) -> None:
    """Why the buttons next to it are disabled, said before anyone clicks."""
    if reason is not None:
        st.caption(f":material/block: {escape_markdown(reason)}")


def refusal_help(reason: str | None) -> str | None:
    """A disabled button's tooltip: why it is disabled, as text."""
    return escape_markdown(reason) if reason is not None else None


def refusable_button(label: str, *, refused: str | None, **options: Any) -> bool:
    """A button for an action the person may be refused: disabled, with why, before the click."""
    clicked = st.button(label, disabled=refused is not None, help=refusal_help(refused), **options)
    refused_note(refused)
    return clicked
