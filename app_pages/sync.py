import streamlit as st

from cmoc_core import connection, people
from cmoc_core.access import Permission
from cmoc_core.coverage import SOURCES, earliest_since
from cmoc_core.sources import SOURCE_NAMES, source_overview
from cmoc_core.ui import deps, freshness, widgets

context = deps.app_context()
st.title("Sync & settings")
freshness.synced_badge(context)
freshness.watch_new_pages(context)

with deps.session(context) as db:
    overview = source_overview(session=db, settings=context.settings, demo=context.demo)
for column, status in zip(st.columns(len(overview)), overview, strict=True):
    with column.container(border=True):
        st.subheader(SOURCE_NAMES[status.name])
        if not status.configured:
            st.caption("Not configured")
        freshness.synced_badge(context, source=status.name)
        for name, shown in status.credentials.items():
            st.caption(f"{name}: {shown}")
        st.dataframe(
            {"table": list(status.counts), "rows": list(status.counts.values())},
            hide_index=True,
            key=f"sync_counts_{status.name}",
        )
        if status.last_error:
            st.error(widgets.escape_markdown(status.last_error))

st.subheader("Test connection")
st.caption(
    "A few cheap reads per source: who each credential is and what it may do. Nothing is "
    "written or posted, and no secret is shown."
)
SHOW = {
    connection.Verdict.OK: st.success,
    connection.Verdict.NOTE: st.info,
    connection.Verdict.WARN: st.warning,
    connection.Verdict.FAIL: st.error,
}
transport = context.sources.sandbox.transport if context.demo else None
for service in connection.Service:
    name = connection.SERVICE_NAMES[service]
    missing = connection.missing_settings(service, context.settings)
    with st.container(border=True):
        label, action = st.columns([4, 1], vertical_alignment="center")
        label.markdown(f"**{name}**")
        if missing:
            label.caption(f"Not configured: set {', '.join(missing)}.")
        if action.button("Test connection", key=f"sync_test_{service}", disabled=bool(missing)):
            with st.spinner(f"Testing {name}…"):
                st.session_state[f"sync_connection_{service}"] = connection.check_connection(
                    service,
                    settings=context.settings,
                    transport=transport,
                    demo=context.demo,
                    now=deps.now(),
                )
        tested = st.session_state.get(f"sync_connection_{service}")
        if isinstance(tested, connection.ConnectionReport) and not missing:
            st.caption(f"{tested.headline()} Tested {widgets.ago(tested.at, now=deps.now())}.")
            for finding in tested.findings:
                SHOW[finding.verdict](widgets.escape_markdown(finding.text))

st.subheader("Background refresh")
freshness.refresher_status(context)

st.subheader("Sync now")
source_col, since_col = st.columns(2)
choice = source_col.selectbox(
    "Source",
    ["all", *SOURCES],
    format_func=lambda s: SOURCE_NAMES.get(s, "All sources"),
    key="sync_source",
)
today = deps.now().date()
since = since_col.date_input(
    "Re-pull from (optional)",
    value=None,
    min_value=earliest_since(today),
    max_value=today,
    format="DD-MM-YYYY",
    key="sync_since",
)
if st.button("Sync now", type="primary", key="sync_now"):
    with st.status("Syncing…", expanded=True) as progress:
        report = deps.sync_now(
            context,
            sources=None if choice == "all" else (choice,),
            since=widgets.as_utc_midnight(since) if since else None,
            progress=lambda message: progress.write(widgets.escape_markdown(message)),
        )
        if report.busy:
            progress.update(label="Not started: another sync is running", state="error")
        elif report.ok:
            total = sum(s.items for s in report.streams)
            progress.update(label=f"Sync complete: {total} items", state="complete")
        else:
            progress.update(label="Sync failed", state="error")
    if report.busy:
        st.warning(widgets.escape_markdown(report.busy))
    else:
        if report.first_failure:
            st.error(widgets.escape_markdown(report.first_failure))
        for stream in report.streams:
            if stream.note:
                st.info(widgets.escape_markdown(f"{stream.name}: {stream.note}"))
        st.text("\n".join(report.outcome_lines()))

st.subheader("People")
st.caption(
    "Identities are matched to people by explicit mapping, then equal email, then equal name. "
    "People known to one service only may need a mapping."
)
with deps.session(context) as db:
    identities = people.identity_choices(session=db)
    person_keys = people.person_keys(session=db)
refusal = deps.viewer(context).refusal(Permission.MANAGE)
if refusal:
    st.info(widgets.escape_markdown(refusal), icon=":material/lock:")

with st.form("sync_mapping_form"):
    st.markdown("**Map an identity to a person**")
    identity = st.selectbox(
        "Identity", list(identities), key="sync_mapping_identity", disabled=bool(refusal)
    )
    person = st.selectbox(
        "Person",
        person_keys,
        key="sync_mapping_person",
        accept_new_options=True,
        disabled=bool(refusal),
    )
    saved = st.form_submit_button("Save mapping", disabled=bool(refusal), help=refusal)
    if saved and identity and person and not refusal:
        system, external_id = identities[identity]
        with deps.session(context) as db:
            people.add_mapping(
                session=db, system=system, external_id=external_id, person_key=person
            )
        st.success("Mapping saved; people rematched.")

upload = st.file_uploader(
    "Load mappings (CSV: system,external_id,person)",
    type="csv",
    key="sync_upload",
    disabled=bool(refusal),
    help=refusal,
)
if upload is not None and not refusal:
    try:
        with deps.session(context) as db:
            loaded = people.load_mappings_csv(session=db, text=upload.getvalue().decode("utf-8"))
        st.success(f"Loaded {loaded} mappings.")
    except (ValueError, UnicodeDecodeError) as exc:
        st.error(widgets.escape_markdown(str(exc)))

with deps.session(context) as db:
    table = people.people_table(session=db)
single = people.known_to_one_service(table)
if single:
    st.warning(
        f"{single} {'person is' if single == 1 else 'people are'} known to one service only. "
        "If one of them is known to the other service under another name, map them above."
    )
st.dataframe(table, hide_index=True, key="sync_people")
