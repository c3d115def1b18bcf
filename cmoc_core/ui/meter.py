"""The length meter under a message: live in the browser, the same rules as the server's check."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cmoc_core.ui.widgets import escape_markdown

_LIVE_METER = st.components.v2.component(
    "cmoc_live_meter",
    js=(Path(__file__).parent / "live_meter.js").read_text(),
    css=".live-meter{font-size:.8rem;color:var(--st-text-color);opacity:.7}"
    ".live-meter.over{color:var(--st-red-color, #d33);opacity:1}",
)


def live_meter(*, label: str, key: str) -> str | None:
    """A per-keystroke length count under the text area labelled `label`, drawn in the browser.

    Returns the text typed so far when it changed since the last run (after a short pause in
    typing), so the caller can save it before the text area itself is committed.
    """
    from cmoc_core.textlimits import BODY_LIMIT, URL_WEIGHT, X_LIMIT

    data = {
        "label": label,
        "limit": X_LIMIT,
        "body_limit": BODY_LIMIT,
        "url_weight": URL_WEIGHT,
        "save_after_ms": 700,
    }
    typed = getattr(_LIVE_METER(data=data, key=key, on_text_change=lambda: None), "text", None)
    seen = f"{key}_seen"
    if typed is None or st.session_state.get(seen) == typed:
        return None
    st.session_state[seen] = typed
    return typed


def length_meter(text: str) -> None:
    """The length checks under a message: X weighted length, body before the link, SMS."""
    from cmoc_core.textlimits import BODY_LIMIT, X_LIMIT, X_TRUNCATION, check_length

    report = check_length(text)
    colour = "red" if report.over_limit else "orange" if report.truncation_risk else "green"
    body_colour = "red" if report.body_over else "green"
    st.caption(
        f":{colour}[X: {report.weighted}/{X_LIMIT}]"
        f" · :{body_colour}[before the final link: {report.body_weighted}/{BODY_LIMIT}]"
        f" · may be cut at ~{X_TRUNCATION} · SMS: {report.sms_segments} segment(s)"
    )
    for problem in report.problems():
        st.caption(f":red[{escape_markdown(problem)}]")
