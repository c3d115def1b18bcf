from collections.abc import Callable

import streamlit as st

from cmoc_core.ui import composer_view as view
from cmoc_core.ui import deps, freshness, header_view, incident_view, notify_view, widgets

context = deps.app_context()
widgets.clear_sent_fields("composer")
st.title("Live composer")
freshness.synced_badge(context)
freshness.watch_new_pages(
    context, on_new=incident_view.notice_page, offers=incident_view.offer_new_pages
)
now = deps.now()

incident = incident_view.pick_incident(context, now)
widgets.show_outcomes("composer")
if incident is None:
    st.stop()

incident_view.facts_form(context, incident, now)
header_view.header(context, incident)
header_view.checklist(context, incident, now)

sections: dict[str, Callable[..., None]]
if incident.resolved_at is not None:
    sections = {"Post-mortem": notify_view.post_mortem}
elif incident.statuspage_incident_id is None:
    sections = {"Create": lambda c, i, n: view.message_form(c, i, "create")}
else:
    sections = {
        "Update": lambda c, i, n: view.message_form(c, i, "update"),
        "Resolve": lambda c, i, n: view.resolve_section(c, i),
    }
sections |= {
    "Notify stakeholders": notify_view.stakeholders,
    "Zendesk": notify_view.zendesk,
    "Audit log": lambda c, i, n: notify_view.audit_log(c, i),
}
tabs = st.tabs(list(sections), key="composer_tab", on_change="rerun")
for tab, draw in zip(tabs, sections.values(), strict=True):
    if tab.open:  # only the tab in front is drawn: the others when chosen
        with tab:
            draw(context, incident, now)
