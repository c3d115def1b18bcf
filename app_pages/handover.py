import streamlit as st

from cmoc_core.ui import deps
from cmoc_core.ui import handover_view as view

context = deps.app_context()
st.title("Handover")
st.caption(
    "At the end of a shift, hand over to the incoming CMOC with an issue in the handover "
    "project, even if nothing happened."
)
now = deps.now()

shifts = view.recent_shifts(context, now)
view.reminders(shifts, now)
shift = view.pick_shift(shifts, now)
view.show_creation(context, shift, now)
if shift.handed_over:
    view.handed_over(context, shift)
else:
    view.compose(context, shift, now)
