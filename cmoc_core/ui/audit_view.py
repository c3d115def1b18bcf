"""The audit log as people read it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from cmoc_core.models import AuditEntry


def audit_table(
    entries: Iterable[AuditEntry],
    *,
    when: Callable[[datetime], Any] = lambda at: at,
    key: str | None = None,
) -> None:
    """Audit entries as a table: when (shown by `when`), who, action, target, result, detail."""
    rows = [(when(e.at), e.actor, e.action, e.target, e.result, e.detail) for e in entries]
    columns = ["at", "who", "action", "target", "result", "detail"]
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, key=key)
