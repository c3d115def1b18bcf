import streamlit as st

from cmoc_core.scenarios import load_library
from cmoc_core.ui import deps, widgets
from cmoc_core.ui import practice_view as view

context = deps.app_context()
widgets.clear_sent_fields("composer")
st.title("Practice events")
now = deps.now()
library = load_library()
not_facilitator = view.facilitator_refusal(context)
with st.container():  # outcomes come and go; the tabs below keep their place
    widgets.show_outcomes("composer")

drill_tab, plan_tab, library_tab, retrospective_tab = st.tabs(
    ["Drill", "Plan", "Scenarios", "Retrospective"]
)
with drill_tab:
    view.drill(context, library, now)
with plan_tab:
    view.plan(context, library, now, refused=not_facilitator)
with library_tab:
    view.library_view(library, facilitator=not_facilitator is None, why_not=not_facilitator)
with retrospective_tab:
    view.retrospective(context, library)
