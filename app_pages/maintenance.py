import streamlit as st

from cmoc_core.ui import deps, widgets
from cmoc_core.ui import maintenance_view as view

context = deps.app_context()
widgets.clear_sent_fields("maintenance")
st.title("Maintenance")
now = deps.now()
widgets.show_outcomes("maintenance")
board = view.load_board(context, now)

active, upcoming, closed, schedule, audit = st.tabs(
    [
        f"Active ({len(board.active)})",
        f"Upcoming ({len(board.upcoming)})",
        "Closed",
        "Schedule new",
        "Audit log",
    ]
)
with active:
    view.windows(context, board.active, now, empty="No maintenance is in progress.")
with upcoming:
    view.windows(context, board.upcoming, now, empty="No maintenance is scheduled.")
with closed:
    view.windows(context, board.closed, now, empty="No closed maintenance yet.")
with schedule:
    st.caption(
        "From the Scheduled Maintenance issue in gl-infra/production. Status.io runs in UTC; "
        "dates are DD-MM-YYYY."
    )
    view.plan_form(context, view.NEW, now)
with audit:
    view.audit_log(context)
view.confirm_if_pending(context)
