import streamlit as st

from cmoc_core.ui import signin

# The tab's icon is an emoji the browser draws: a Material name would be fetched from Google's
# font servers, and an image file costs each server start 0.1 s loading an imaging library.
st.set_page_config(page_title="CMOC Cockpit", page_icon="📣", layout="wide")
# The gate decides for every page: the sign-in page, one line and a stop, or the page itself.
page = signin.gate(
    [
        st.Page(
            "app_pages/composer.py", title="Live composer", icon=":material/campaign:", default=True
        ),
        st.Page("app_pages/maintenance.py", title="Maintenance", icon=":material/construction:"),
        st.Page("app_pages/handover.py", title="Handover", icon=":material/assignment_turned_in:"),
        st.Page("app_pages/practice.py", title="Practice events", icon=":material/school:"),
        st.Page("app_pages/kpis.py", title="KPI dashboard", icon=":material/monitoring:"),
        st.Page("app_pages/history.py", title="Incident history", icon=":material/history:"),
        st.Page("app_pages/sync.py", title="Sync & settings", icon=":material/sync:"),
    ]
)
page.run()
