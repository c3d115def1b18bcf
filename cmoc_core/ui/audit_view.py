"""The audit log as people read it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import streamlit as st

from cmoc_core.auditlog import AuditLine
from cmoc_core.ui import widgets

COLUMNS = ["When", "Who", "What", "Where", "Result"]


def audit_table(
    lines: Iterable[AuditLine],
    *,
    when: Callable[[datetime], str] = widgets.moment,
    key: str | None = None,
) -> None:
    """Audit lines as a table: When (written by `when`), Who, What, Where and Result."""
    import pandas as pd  # slow to load: only when a table is drawn

    rows = [(when(line.at), line.who, line.what, line.where, line.result) for line in lines]
    if not rows:
        st.info(
            "Nothing is logged yet: each action taken on this page will appear here with how "
            "it ended."
        )
        return
    st.dataframe(pd.DataFrame(rows, columns=COLUMNS), hide_index=True, key=key)
