"""The practice page's parts: the running drill, planning, the scenario library, retrospectives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from cmoc_core import linking, practice
from cmoc_core.access import Refused
from cmoc_core.handbook import REGIONS, StepKey
from cmoc_core.models import PracticeDrill, WorkingIncident
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.practice import DrillNote, DrillStart, EventPlan, PracticeError, ScoreCard
from cmoc_core.scenarios import FOLDER, SPEEDS, Library, Scenario, past_incident_name
from cmoc_core.timeutil import MISSING
from cmoc_core.ui import composer_view, deps, header_view, notify_view, widgets
from cmoc_core.ui.deps import AppContext
from cmoc_core.ui.widgets import refusal_help, refused_note

NEW_DRILL = "➕ Start a new drill"
AD_HOC = "Ad hoc drill"
FROM_LIBRARY = "From the library"
FROM_PAST = "From a past incident"


def facilitator_refusal(context: AppContext) -> str | None:
    """Why this session's person does not see the facilitator's view (dates, scripts), or None."""
    return deps.viewer(context).refusal(practice.FACILITATE)


def drill(context: AppContext, library: Library, now: datetime) -> None:
    """Pick a running drill (or start one) and run it; who may not run drills is told why."""
    refused = deps.viewer(context).refusal(practice.DRILL)
    if refused is not None:
        st.button(
            "Start the drill",
            key="practice_start",
            type="primary",
            disabled=True,
            help=refusal_help(refused),
        )
        refused_note(refused)
        _start_error()
        return
    names = _names(context)
    with deps.session(context) as db:
        running = practice.running_drills(session=db)
    options: dict[str, PracticeDrill | None] = {
        _drill_label(d, _title(context, library, d.scenario), names): d for d in running
    }
    options[NEW_DRILL] = None
    chosen = options[st.selectbox("Drill", list(options), key="practice_drill")]
    if chosen is not None:
        _run(context, library, chosen, now)
        return
    scored = st.session_state.get("practice_scored")
    if scored is not None:
        with deps.session(context) as db:
            card = practice.ended_score(session=db, drill_id=scored)
        if card is not None:
            st.subheader("Score card of the drill just ended")
            score_card(card)
    _start_form(context, library, now)


def _names(context: AppContext) -> dict[int | None, str]:
    with deps.session(context) as db:
        return {p.id: p.name for p in practice.people(session=db)}


def _drill_label(drill: PracticeDrill, title: str, names: dict[int | None, str]) -> str:
    return (
        f"{title} · CMOC {names.get(drill.cmoc_id, 'unknown')}"
        f" · started {widgets.moment(drill.started_at)}"
    )


def _start_form(context: AppContext, library: Library, now: datetime) -> None:
    names = _names(context)
    with deps.session(context) as db:
        planned = practice.events(
            session=db, since_quarter=practice.quarter_of(now), undrilled=True
        )
    events = {AD_HOC: None} | {
        f"{e.region} {e.quarter} practice event · CMOC {names.get(e.cmoc_id, 'unknown')}": e
        for e in planned
    }
    event = events[st.selectbox("Practice event", list(events), key="practice_start_event")]
    if event is None:
        scenario_name = _scenario_choice(context, library)
        cmoc_id = st.selectbox(
            "CMOC",
            [i for i in names if i is not None],
            format_func=lambda i: names[i],
            index=None,
            placeholder="Who is practising?",
            key="practice_start_cmoc",
        )
    else:
        scenario_name, cmoc_id = event.scenario, event.cmoc_id
        st.caption("The facilitator chose the scenario when planning the event.")
    st.button(
        "Start the drill",
        key="practice_start",
        type="primary",
        on_click=_start,
        args=(context, library, DrillStart(scenario_name, cmoc_id, event.id if event else None)),
    )
    _start_error()


def _scenario_choice(context: AppContext, library: Library) -> str | None:
    """A library scenario, or a past real incident at the chosen speed: the scenario's name."""
    source = st.radio(
        "Scenario from", [FROM_LIBRARY, FROM_PAST], horizontal=True, key="practice_start_source"
    )
    if source == FROM_LIBRARY:
        if not library.scenarios:
            st.warning("The scenario library has no valid scenario: see the Scenarios tab.")
        return st.selectbox(
            "Scenario",
            list(library.scenarios),
            format_func=lambda n: library.scenarios[n].title,
            key="practice_start_scenario",
        )
    with deps.session(context) as db:
        past = {
            i.id: f"{i.name} · {widgets.moment(i.datetime_open)}"
            for i in practice.past_incidents(session=db, settings=context.settings)
        }
    incident_id = st.selectbox(
        "Past incident",
        list(past),
        format_func=past.__getitem__,
        index=None,
        placeholder="A resolved incident, newest first",
        key="practice_start_incident",
    )
    speed = st.radio(
        "Speed",
        SPEEDS,
        format_func=lambda n: "Real time" if n == 1 else f"{n}×",
        horizontal=True,
        key="practice_start_speed",
    )
    st.caption(
        "Each real update becomes a prompt at its real time (divided by the speed), saying what "
        "changed but not the real words; the score card sets the real updates beside yours."
    )
    return past_incident_name(incident_id, speed) if incident_id is not None else None


def _start_error() -> None:
    """Why the last start failed, once."""
    if error := st.session_state.pop("practice_start_error", None):
        st.error(widgets.escape_markdown(error))


def _start(context: AppContext, library: Library, start: DrillStart) -> None:
    try:
        with deps.session(context) as db:
            started = practice.begin_drill(
                session=db,
                settings=context.settings,
                library=library,
                start=start,
                viewer=deps.viewer(context),
                now=deps.now(),
            )
    except (PracticeError, Refused) as exc:
        st.session_state["practice_start_error"] = str(exc)
        return
    title = _title(context, library, started.scenario)
    st.session_state["practice_drill"] = _drill_label(started, title, _names(context))


def _run(context: AppContext, library: Library, drill: PracticeDrill, now: datetime) -> None:
    try:
        with deps.session(context) as db:
            scenario = practice.find_scenario(
                session=db, settings=context.settings, library=library, name=drill.scenario
            )
    except PracticeError as exc:
        st.error(f"This drill cannot go on: {widgets.escape_markdown(str(exc))}")
        return
    with deps.session(context) as db:
        incident = practice.follow_scenario(session=db, drill=drill, scenario=scenario, now=now)
    elapsed = now - drill.started_at
    st.subheader(widgets.escape_markdown(scenario.title))
    cmoc = _names(context).get(drill.cmoc_id, "unknown")
    issue = f" · incident issue {incident.issue_url}" if incident.issue_url else ""
    st.caption(
        widgets.escape_markdown(f"CMOC: {cmoc} · started {widgets.moment(drill.started_at)}{issue}")
    )
    with st.sidebar:  # the script stays in view while the CMOC works through the forms
        _prompts(drill.started_at, scenario, len(scenario.played(elapsed)))
    header_view.header(context, incident)
    _checklist(context, drill, incident, scenario, now)
    if incident.resolved_at is not None:
        notify_view.post_mortem(context, incident, now)
    elif incident.statuspage_incident_id is None:
        composer_view.message_form(context, incident, "create")
    else:
        update, resolve = st.tabs(["Update", "Resolve"])
        with update:
            composer_view.message_form(context, incident, "update")
        with resolve:
            composer_view.resolve_section(context, incident)
    _notes(context, drill, now)
    st.button(
        "End the drill and score it",
        key="practice_end",
        on_click=_end,
        args=(context, drill.id, scenario),
    )


def _end(context: AppContext, drill_id: int, scenario: Scenario) -> None:
    viewer, now = deps.viewer(context), deps.now()
    try:
        with deps.session(context) as db:
            practice.finish_drill(
                session=db, drill_id=drill_id, scenario=scenario, viewer=viewer, now=now
            )
        closed = practice.close_incident(
            engine=context.engine,
            clients=context.sources.clients,
            drill_id=drill_id,
            viewer=viewer,
            now=now,
        )
    except Refused as exc:
        _refused(exc)
        return
    st.session_state["composer_outcomes"] = [closed] if closed else []
    st.session_state["practice_scored"] = drill_id
    st.session_state["practice_drill"] = NEW_DRILL


@st.fragment(run_every=timedelta(seconds=5))
def _prompts(started_at: datetime, scenario: Scenario, seen: int) -> None:
    elapsed = deps.now() - started_at
    played = scenario.played(elapsed)
    if len(played) != seen:
        st.rerun()  # a new prompt can change the severity and the checklist: redraw the page
    st.markdown(f"**Drill clock** +{widgets.duration(elapsed)}")
    for prompt in reversed(played):
        icon = ":material/notifications_active:" if prompt.page else ":material/record_voice_over:"
        st.info(f"+{prompt.minute} min · {widgets.escape_markdown(prompt.text)}", icon=icon)
    upcoming = scenario.upcoming(elapsed)
    st.caption(
        f"Next prompt in {widgets.duration(upcoming.offset - elapsed)}"
        if upcoming
        else "The script has ended: end the drill once the incident is resolved."
    )


def _checklist(
    context: AppContext,
    drill: PracticeDrill,
    incident: WorkingIncident,
    scenario: Scenario,
    now: datetime,
) -> None:
    st.caption(
        "In a drill nothing reaches PagerDuty, Slack or GitLab: tick each step when you would "
        "have done it."
    )
    checklist = practice.drill_checklist(
        incident=incident, scenario=scenario, started_at=drill.started_at, now=now
    )
    for _stage, steps, expander in widgets.stage_expanders(
        checklist, key=f"practice_stages_{drill.id}"
    ):
        with expander:
            widgets.stage_steps(
                steps,
                key_prefix="practice_step",
                on_click=_tick,
                args=(context, drill.id),
                since=drill.started_at,
            )


def _tick(context: AppContext, drill_id: int, key: StepKey) -> None:
    try:
        with deps.session(context) as db:
            practice.tick_drill_step(
                session=db, drill_id=drill_id, key=key, viewer=deps.viewer(context), now=deps.now()
            )
    except Refused as exc:
        _refused(exc)


def _refused(exc: Refused) -> None:
    """A refusal the page did not foresee, shown as one line with the other outcomes."""
    st.session_state["composer_outcomes"] = [Outcome(OutcomeStatus.FAILED, str(exc))]


def _notes(context: AppContext, drill: PracticeDrill, now: datetime) -> None:
    st.markdown("**Note taker's log**")
    with st.form("practice_note_form", clear_on_submit=True):
        text = st.text_input(
            "Note",
            key="practice_note",
            placeholder="Learnings, improvements, gaps in the documentation or the process",
        )
        if st.form_submit_button("Add note", key="practice_add_note"):
            try:
                with deps.session(context) as db:
                    practice.add_note(session=db, drill_id=drill.id or 0, text=text, now=now)
            except PracticeError as exc:
                st.error(widgets.escape_markdown(str(exc)))
    with deps.session(context) as db:
        notes = practice.drill_notes(session=db, drill_id=drill.id or 0)
    notes_table(notes, drill.started_at)


def notes_table(notes: Sequence[DrillNote], started: datetime) -> None:
    """The note taker's log, each line with its time and how far into the drill it was."""
    rows = [
        {
            "at": widgets.moment(note.at),
            "into the drill": widgets.duration(note.at - started),
            "note": note.text,
        }
        for note in notes
    ]
    st.dataframe(pd.DataFrame(rows, columns=["at", "into the drill", "note"]), hide_index=True)


def score_card(card: ScoreCard) -> None:
    """A drill's score: acknowledgement, cadence, message lengths, checklist and states."""
    tiles = st.columns(5)
    tiles[0].metric(
        "Time to acknowledge",
        _acknowledged_in(card),
        help="From the PagerDuty page to its acknowledgement; target 15 min",
    )
    tiles[1].metric(
        "Cadence kept",
        f"{card.gaps_on_time} of {len(card.gaps)} gaps",
        help="Gaps between updates within the handbook's interval for the severity and state",
    )
    tiles[2].metric(
        "Length violations",
        str(len(card.length_violations)),
        help=f"Of {card.updates} messages: over 280 on X, or over 220 before the final link",
    )
    tiles[3].metric(
        "Checklist steps",
        f"{len(card.steps_done)} of {card.steps_total}",
        help="Steps of the four stages done during the drill",
    )
    tiles[4].metric(
        "States followed",
        f"{card.states_followed} of {card.states_expected}",
        help="States the Incident Manager asked for, published after being asked",
    )
    if card.gaps:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "from": widgets.moment(datetime.fromisoformat(gap["start"])),
                        "to": widgets.moment(datetime.fromisoformat(gap["end"])),
                        "state": gap["state"],
                        "severity": f"S{gap['severity']}",
                        "minutes": gap["minutes"],
                        "allowed minutes": gap["allowed_minutes"],
                        "on time": gap["on_time"],
                    }
                    for gap in card.gaps
                ]
            ),
            hide_index=True,
        )
    for violation in card.length_violations:
        at = datetime.fromisoformat(violation["at"])
        for problem in violation["problems"]:
            st.caption(f":red[{widgets.moment(at)}: {widgets.escape_markdown(problem)}]")
    if card.steps_missing:
        st.caption("Steps not done: " + widgets.escape_markdown("; ".join(card.steps_missing)))
    if card.states_missed:
        missed = widgets.escape_markdown("; ".join(card.states_missed))
        st.caption("Not published when asked: " + missed)
    if card.reference:
        _beside_the_real_incident(card.reference)


def _beside_the_real_incident(reference: list[dict[str, Any]]) -> None:
    """Each real update of the replayed incident beside the CMOC's update of the same rank."""
    st.markdown("**Beside the real incident**")
    st.caption(
        "Each real update that played in the drill, beside yours of the same rank (first with "
        "first): when it went out, from the start, and how many characters it had."
    )

    def after(minutes: float | None) -> str:
        return "not sent" if minutes is None else f"+{widgets.duration(timedelta(minutes=minutes))}"

    st.dataframe(
        pd.DataFrame(
            [
                {
                    "update": number,
                    "state": row["state"],
                    "real incident": after(row["real_minutes"]),
                    "real, on the drill clock": after(row["drill_minutes"]),
                    "yours": after(row["trainee_minutes"]),
                    "real length": str(row["real_length"]),
                    "your length": str(row["trainee_length"] or MISSING),
                }
                for number, row in enumerate(reference, start=1)
            ]
        ),
        hide_index=True,
    )


def _acknowledged_in(card: ScoreCard) -> str:
    if card.ack_seconds is None:
        return "not acknowledged"
    return widgets.duration(timedelta(seconds=card.ack_seconds))


def plan(context: AppContext, library: Library, now: datetime, *, refused: str | None) -> None:
    """This quarter's coverage, the planned events, and (for the facilitator) a planning form."""
    facilitator = refused is None
    quarter = practice.quarter_of(now)
    names = _names(context)
    with deps.session(context) as db:
        missing = practice.regions_without_event(session=db, quarter=quarter)
        planned = practice.events(session=db, since_quarter=quarter)
    if missing:
        st.warning(f"{quarter}: no practice event yet for {', '.join(missing)}.")
    else:
        st.success(f"{quarter}: every region has its practice event.")
    rows = [
        {
            "region": e.region,
            "quarter": e.quarter,
            "facilitator": names.get(e.facilitator_id),
            "note taker": names.get(e.note_taker_id),
            "CMOC": names.get(e.cmoc_id),
            "issue": linking.gitlab_link(
                e.issue_url,
                gitlab_url=context.settings.gitlab_url,
                project=context.settings.gitlab_training_project,
            ),
        }
        | (
            {
                "date": widgets.moment(e.scheduled_at),
                "scenario": _title(context, library, e.scenario),
            }
            if facilitator
            else {}
        )
        for e in planned
    ]
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            column_config={"issue": st.column_config.LinkColumn("issue")},
        )
    if not facilitator:
        st.caption(
            "Dates, times and scenarios are for the facilitator: like a live incident, the "
            "event should come unannounced to the CMOC."
        )
        refused_note(refused)
        return
    without_issue = [e.id for e in planned if not e.issue_url]
    if without_issue:
        st.button(
            f"Create the GitLab issue of {len(without_issue)} event(s)",
            key="practice_retry_issues",
            on_click=_create_issues,
            args=(context, without_issue),
        )
    _plan_form(context, library, missing, names)


def _title(context: AppContext, library: Library, name: str) -> str:
    with deps.session(context) as db:
        return practice.scenario_title(session=db, library=library, name=name)


def _plan_form(
    context: AppContext, library: Library, missing: list[str], names: dict[int | None, str]
) -> None:
    st.subheader("Plan an event")
    region = st.selectbox(
        "Region",
        REGIONS,
        index=REGIONS.index(missing[0]) if missing else 0,
        key="practice_plan_region",
    )
    left, right = st.columns(2)
    left.date_input("Date", format="DD-MM-YYYY", key="practice_plan_date")
    right.time_input("Time (UTC)", value=time(14, 0), key="practice_plan_time")
    st.selectbox(
        "Scenario",
        list(library.scenarios),
        format_func=lambda n: library.scenarios[n].title,
        key="practice_plan_scenario",
    )
    everyone = [i for i in names if i is not None]
    with deps.session(context) as db:
        cmocs = [p.id for p in practice.region_cmocs(session=db, region=region) if p.id is not None]
    if not cmocs:
        st.caption(f"No {region} CMOC shift is known yet: choose the CMOC from everyone.")
    for role, label, choices in (
        ("facilitator", "Facilitator (Incident Manager)", everyone),
        ("note_taker", "Note taker", everyone),
        ("cmoc", f"CMOC ({region} rotation)", cmocs or everyone),
    ):
        st.selectbox(
            label,
            choices,
            format_func=lambda i: names[i],
            index=None,
            placeholder="Choose a person",
            key=f"practice_plan_{role}",
        )
    st.button(
        "Plan the event and create its issue",
        key="practice_plan",
        type="primary",
        on_click=_plan,
        args=(context,),
    )
    if error := st.session_state.pop("practice_plan_error", None):
        st.error(widgets.escape_markdown(error))


def _plan(context: AppContext) -> None:
    state = st.session_state
    plan = EventPlan(
        region=state.get("practice_plan_region"),
        day=state.get("practice_plan_date"),
        at=state.get("practice_plan_time"),
        scenario=state.get("practice_plan_scenario"),
        facilitator_id=state.get("practice_plan_facilitator"),
        note_taker_id=state.get("practice_plan_note_taker"),
        cmoc_id=state.get("practice_plan_cmoc"),
    )
    try:
        with deps.session(context) as db:
            event = practice.plan_chosen(
                session=db, plan=plan, viewer=deps.viewer(context), now=deps.now()
            )
    except (PracticeError, Refused) as exc:
        st.session_state["practice_plan_error"] = str(exc)
        return
    _create_issues(context, [event.id])


def _create_issues(context: AppContext, event_ids: list[int | None]) -> None:
    viewer = deps.viewer(context)
    try:
        st.session_state["composer_outcomes"] = [
            practice.create_event_issue(
                engine=context.engine,
                clients=context.sources.clients,
                settings=context.settings,
                event_id=event_id or 0,
                viewer=viewer,
                now=deps.now(),
            )
            for event_id in event_ids
        ]
    except Refused as exc:
        _refused(exc)


def library_view(library: Library, *, facilitator: bool, why_not: str | None = None) -> None:
    """The valid scenarios, each broken file's problem, and (for the facilitator) the scripts."""
    if not facilitator:
        refused_note(why_not)
    for problem in library.problems:
        st.error(widgets.escape_markdown(problem), icon=":material/error:")
    folder = f"{FOLDER.parent.name}/{FOLDER.name}/"
    st.caption(
        f"{len(library.scenarios)} scenario(s) in {folder}: edit a TOML file there or add one; "
        "each prompt has a minute, a text and optionally page, severity and state."
    )
    for scenario in library.scenarios.values():
        label = f"{scenario.title} · S{scenario.severity} · {scenario.name}.toml"
        with st.expander(widgets.escape_markdown(label)):
            if not facilitator:
                st.caption("The script is for the facilitator.")
                continue
            if scenario.summary:
                st.caption(widgets.escape_markdown(scenario.summary))
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "minute": p.minute,
                            "prompt": p.text,
                            "page": p.page,
                            "severity": f"S{p.severity}" if p.severity else "",
                            "expected state": p.state or "",
                        }
                        for p in scenario.prompts
                    ]
                ),
                hide_index=True,
            )


def retrospective(context: AppContext, library: Library) -> None:
    """Past drills per person with their score cards and the note taker's log."""
    names = _names(context)
    person: int | None = st.selectbox(
        "Person",
        [None, *(i for i in names if i is not None)],
        format_func=lambda i: "Everyone" if i is None else names[i],
        key="practice_retro_person",
    )
    with deps.session(context) as db:
        past = practice.retrospectives(session=db, cmoc_id=person)
    if not past and person is None:
        st.info(
            "No drill has ended yet: start one in the Drill tab; its score card shows here "
            "once it ends."
        )
        return
    if not past:
        st.info(
            f"No drill of {widgets.escape_markdown(names[person])} has ended yet: choose "
            "Everyone above, or start a drill for them in the Drill tab."
        )
        return
    titles = {p.drill.id: _title(context, library, p.drill.scenario) for p in past}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "CMOC": names.get(p.drill.cmoc_id),
                    "scenario": titles[p.drill.id],
                    "ended": widgets.moment(p.drill.finished_at),
                    "acknowledged in": _acknowledged_in(p.card),
                    "within 15 min": p.card.ack_within_target,
                    "cadence kept": f"{p.card.gaps_on_time}/{len(p.card.gaps)}",
                    "length violations": len(p.card.length_violations),
                    "checklist": f"{len(p.card.steps_done)}/{p.card.steps_total}",
                    "notes": len(p.notes),
                }
                for p in past
            ]
        ),
        hide_index=True,
    )
    by_id = {p.drill.id: p for p in past}
    chosen = st.selectbox(
        "Drill to review",
        list(by_id),
        format_func=lambda i: _drill_label(by_id[i].drill, titles[i], names),
        key="practice_retro_drill",
    )
    shown = by_id[chosen]
    score_card(shown.card)
    st.markdown("**Note taker's log**")
    notes_table(shown.notes, shown.drill.started_at)
