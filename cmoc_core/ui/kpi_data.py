"""The KPI report for the dashboard, cached per database, period and minute."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from cmoc_core.kpis import KpiReport, compute_kpis
from cmoc_core.ui import deps
from cmoc_core.ui.deps import AppContext


@st.cache_data(ttl=300, max_entries=32, show_spinner="Computing the indicators…")
def _cached(database_url: str, since: datetime, until: datetime, _context: AppContext) -> KpiReport:
    with deps.session(_context) as db:
        return compute_kpis(session=db, settings=_context.settings, since=since, until=until)


def report_for(context: AppContext, since: datetime, until: datetime) -> KpiReport:
    """The report for a period, from cache when it was computed in the last five minutes."""
    return _cached(context.settings.cmoc_database_url, since, until, context)
