"""The one length meter under a message: live in the browser, with the server's own rules."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import cache
from pathlib import Path

import streamlit as st

from cmoc_core import textlimits

_CSS = (
    ".live-meter{font-size:.8rem;color:var(--st-text-color);opacity:.7}"
    ".live-meter.risk{color:var(--st-orange-color, #e8760a);opacity:1}"
    ".live-meter.over{color:var(--st-red-color, #d33);opacity:1}"
)


@cache
def script() -> str:
    """The meter's JavaScript, led by textlimits' rules so both sides count alike."""
    rules = json.dumps(asdict(textlimits.browser_rules()))
    body = (Path(__file__).parent / "live_meter.js").read_text()
    return f"const RULES = {rules};\n{body}"


_LIVE_METER = st.components.v2.component("cmoc_live_meter", js=script(), css=_CSS)


def live_meter(*, label: str, key: str, text: str) -> str | None:
    """The length count under the text area labelled `label`, drawn in the browser.

    It follows every keystroke and every change of `text` by the server (a template, a
    restored draft). Returns the text typed so far when it changed since the last run (after
    a short pause in typing), so the caller can save it before the text area is committed.
    """
    data = {"label": label, "text": text, "save_after_ms": 700}
    typed = getattr(_LIVE_METER(data=data, key=key, on_text_change=lambda: None), "text", None)
    seen = f"{key}_seen"
    if typed is None or st.session_state.get(seen) == typed:
        return None
    st.session_state[seen] = typed
    return typed
