"""The check before publishing: each handbook rule and public hazard, triggered and cleared."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from cmoc_core import handbook
from cmoc_core.handbook import IncidentState
from cmoc_core.publiccheck import (
    INTERNAL_HOST_SUFFIXES,
    SOURCES,
    TITLE_LIMIT,
    Draft,
    DraftKind,
    Level,
    PublishWarning,
    Rule,
    blocking,
    check,
)

PROJECT = "gitlab-com/gl-infra/production"
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/12345"
CREATE, UPDATE, RESOLVE = DraftKind.CREATE, DraftKind.UPDATE, DraftKind.RESOLVE
INVESTIGATING, IDENTIFIED, MONITORING = (
    IncidentState.INVESTIGATING,
    IncidentState.IDENTIFIED,
    IncidentState.MONITORING,
)


def draft(
    details: str,
    kind: DraftKind = UPDATE,
    state: int = IDENTIFIED,
    title: str = "Elevated error rates on GitLab.com",
    **more: object,
) -> Draft:
    """A draft whose components are chosen and whose all-clear is given, unless said otherwise."""
    more = {"components": ("Website",), "all_clear": True} | more
    return Draft(kind=kind, details=details, project=PROJECT, title=title, state=state, **more)


def rules(checked: Draft) -> dict[Rule, Level]:
    return {warning.rule: warning.severity for warning in check(checked)}


def linked(text: str) -> str:
    return f"{text} Details in: {ISSUE}"


# Issue link -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [CREATE, RESOLVE])
def test_creating_or_resolving_without_the_issue_link_is_blocked(kind):
    text = "This incident has been resolved and all systems are operating normally."
    assert rules(draft(text, kind=kind))[Rule.ISSUE_LINK] is Level.BLOCK
    assert Rule.ISSUE_LINK not in rules(draft(linked(text), kind=kind))


def test_an_update_without_the_issue_link_only_suggests_it():
    text = "We have identified the cause and are rolling out a fix."
    assert rules(draft(text))[Rule.ISSUE_LINK] is Level.SUGGEST
    assert Rule.ISSUE_LINK not in rules(draft(linked(text)))


def test_a_link_to_another_project_is_not_the_issue_link():
    other = "https://gitlab.com/gitlab-org/gitlab/-/issues/12345"
    assert Rule.ISSUE_LINK in rules(draft(f"Investigating in: {other}", kind=CREATE))


def test_the_issue_link_is_not_checked_without_a_configured_project():
    unchecked = replace(draft("We are investigating.", kind=CREATE), project=" ")
    assert Rule.ISSUE_LINK not in rules(unchecked)


# Body length ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DraftKind))
def test_a_body_over_220_before_the_final_link_is_blocked(kind):
    long = linked("x" * 207)  # 207 + " Details in: " = 220
    assert long.index("https") == 220
    assert Rule.BODY_LENGTH not in rules(draft(long, kind=kind))
    warned = rules(draft(linked("x" * 208), kind=kind))
    assert warned[Rule.BODY_LENGTH] is Level.BLOCK


def test_a_text_without_a_link_over_220_is_blocked_too():
    found = {w.rule: w for w in check(draft("y" * 230))}
    assert found[Rule.BODY_LENGTH].severity is Level.BLOCK
    assert "230 characters" in found[Rule.BODY_LENGTH].text
    assert Rule.BODY_LENGTH not in rules(draft("y" * 220))


def test_a_text_over_the_x_limit_is_blocked_once_by_the_x_limit_rule():
    text = linked("z" * 300)
    found = {w.rule: w for w in check(draft(text))}
    assert found[Rule.X_LIMIT].severity is Level.BLOCK
    assert "336 of 280 characters on X: shorten it by 56" in found[Rule.X_LIMIT].text
    assert Rule.BODY_LENGTH not in found  # the same advice, said once
    assert Rule.X_LIMIT not in rules(draft(linked("z" * 200)))


def test_x_counts_a_link_as_23_however_long_it_is():
    long_link = ISSUE + "/" + "a" * 300
    assert Rule.X_LIMIT not in rules(draft(f"Details in: {long_link}"))


# What every publication needs ----------------------------------------------------------------


def test_empty_details_block_and_the_wording_rules_wait_for_words():
    for kind in DraftKind:
        found = rules(draft("  \n", kind=kind, state=MONITORING))
        assert found == {Rule.DETAILS_MISSING: Level.BLOCK}
    assert Rule.DETAILS_MISSING not in rules(draft(linked("We are investigating.")))


def test_an_empty_title_blocks_creating_only():
    text = linked("We are investigating.")
    assert rules(draft(text, kind=CREATE, title=" "))[Rule.TITLE_MISSING] is Level.BLOCK
    assert Rule.TITLE_MISSING not in rules(draft(text, kind=CREATE))
    assert Rule.TITLE_MISSING not in rules(draft(text, title=""))


def test_creating_needs_the_affected_components_or_all_infrastructure():
    text = linked("We are investigating.")
    none = rules(draft(text, kind=CREATE, components=()))
    assert none[Rule.COMPONENTS_MISSING] is Level.BLOCK
    assert Rule.COMPONENTS_MISSING not in rules(draft(text, kind=CREATE, components=("API",)))
    everything = draft(text, kind=CREATE, components=(), all_infrastructure=True)
    assert Rule.COMPONENTS_MISSING not in rules(everything)
    assert Rule.COMPONENTS_MISSING not in rules(draft(text, components=()))  # updates keep them


def test_resolving_waits_for_the_incident_managers_all_clear():
    text = linked("This incident has been resolved and all systems are operating normally.")
    found = {w.rule: w for w in check(draft(text, kind=RESOLVE, all_clear=False))}
    assert found[Rule.ALL_CLEAR_MISSING].severity is Level.BLOCK
    assert "all-clear" in found[Rule.ALL_CLEAR_MISSING].text
    assert check(draft(text, kind=RESOLVE, all_clear=True)) == []
    assert Rule.ALL_CLEAR_MISSING not in rules(draft(text, all_clear=False))


# Title length ---------------------------------------------------------------------------------


def test_a_title_over_90_characters_is_suggested_shorter_when_creating():
    text = linked("We're seeing elevated error rates on GitLab.com.")
    too_long = rules(draft(text, kind=CREATE, title="t" * (TITLE_LIMIT + 1)))
    assert too_long[Rule.TITLE_LENGTH] is Level.SUGGEST
    assert Rule.TITLE_LENGTH not in rules(draft(text, kind=CREATE, title="t" * TITLE_LIMIT))


def test_an_update_does_not_publish_the_title_so_its_length_is_not_checked():
    text = linked("We're still investigating.")
    assert Rule.TITLE_LENGTH not in rules(draft(text, title="t" * 200))


# Wording against the state ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "A fix has been deployed and we are monitoring the results.",
        "We're monitoring error rates closely.",
        "Monitoring: the fix is live.",
    ],
)
def test_saying_monitoring_outside_the_monitoring_state_is_flagged(text):
    assert rules(draft(linked(text)))[Rule.MONITORING_WITHOUT_STATE] is Level.SUGGEST
    in_monitoring = linked(f"{text} We'll resolve if there are no recurrences in 30 minutes.")
    assert Rule.MONITORING_WITHOUT_STATE not in rules(draft(in_monitoring, state=MONITORING))


@pytest.mark.parametrize(
    "text",
    [
        "In my next update I'm going to move the status to monitoring.",
        "Our monitoring alerted us to elevated error rates.",
        "Monitoring alerts show elevated latency, we are investigating.",
        "Once the fix is deployed we will be monitoring the results.",
    ],
)
def test_monitoring_as_a_tool_or_a_plan_is_not_a_claim(text):
    assert Rule.MONITORING_WITHOUT_STATE not in rules(draft(linked(text)))


def test_the_monitoring_state_with_text_that_does_not_say_so_is_flagged():
    silent = linked("A fix has been deployed. Next update in 30 minutes.")
    assert rules(draft(silent, state=MONITORING))[Rule.STATE_WITHOUT_MONITORING] is Level.SUGGEST
    said = linked("A fix has been deployed and we are monitoring. Next update in 30 minutes.")
    assert Rule.STATE_WITHOUT_MONITORING not in rules(draft(said, state=MONITORING))


@pytest.mark.parametrize("state", [INVESTIGATING, IDENTIFIED, MONITORING])
@pytest.mark.parametrize(
    "text",
    [
        "The issue has been resolved.",
        "This incident is now resolved.",
        "We've resolved the issue with the load balancer.",
        "Resolved: pipelines run again.",
    ],
)
def test_saying_resolved_without_resolving_is_flagged(text, state):
    assert rules(draft(linked(text), state=state))[Rule.RESOLVED_TOO_EARLY] is Level.SUGGEST
    assert Rule.RESOLVED_TOO_EARLY not in rules(draft(linked(text), kind=RESOLVE))


@pytest.mark.parametrize(
    "text",
    [
        "The issue has been fixed.",
        "All systems are operating normally.",
        "Error rates are back to normal.",
        "GitLab.com is fully operational again.",
    ],
)
def test_saying_fixed_or_normal_before_monitoring_is_flagged(text):
    for state in (INVESTIGATING, IDENTIFIED):
        assert rules(draft(linked(text), state=state))[Rule.RESOLVED_TOO_EARLY] is Level.SUGGEST
    # The handbook asks a monitoring update to say systems are back to normal.
    monitoring = linked(f"{text} We're monitoring for the next 30 minutes.")
    assert Rule.RESOLVED_TOO_EARLY not in rules(draft(monitoring, state=MONITORING))


@pytest.mark.parametrize(
    "text",
    [
        "We'll post an update once the issue is resolved.",
        "We're working with Cloudflare support to get it resolved.",
        "The issue is not yet resolved.",
        "If there are no recurrences in the next 30 minutes, we'll mark all components as "
        "fully operational.",
        "We will resolve this incident after the monitoring period.",
    ],
)
def test_a_resolution_under_a_condition_or_in_the_future_is_not_a_claim(text):
    assert Rule.RESOLVED_TOO_EARLY not in rules(draft(linked(text), state=IDENTIFIED))


def test_resolving_with_text_that_does_not_say_resolved_is_flagged():
    vague = linked("Thanks for your patience.")
    assert rules(draft(vague, kind=RESOLVE))[Rule.RESOLVE_WITHOUT_RESOLVED] is Level.SUGGEST
    clear = linked("The issue has been resolved and GitLab.com is operating normally.")
    assert Rule.RESOLVE_WITHOUT_RESOLVED not in rules(draft(clear, kind=RESOLVE))


def test_resolving_is_never_judged_by_the_monitoring_rules():
    text = linked("After monitoring for 30 minutes, the issue has been resolved.")
    found = rules(draft(text, kind=RESOLVE, state=IDENTIFIED))
    assert found == {}
    assert rules(draft(linked("This incident has been resolved."), kind=RESOLVE)) == {}


# Monitoring period ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "A fix is deployed and we are monitoring.",
        "We are monitoring until the fix has reached every region.",
        "We are monitoring the 3 regions the fix reached in 2019 hardware.",
    ],
)
def test_monitoring_without_a_period_or_next_update_is_flagged(text):
    text = linked(text)
    assert rules(draft(text, state=MONITORING))[Rule.MONITORING_PERIOD] is Level.SUGGEST
    assert Rule.MONITORING_PERIOD not in rules(draft(text, state=IDENTIFIED))


@pytest.mark.parametrize(
    "ending",
    [
        "We'll keep monitoring for the next 30 minutes.",
        "We'll be monitoring over the next hour.",
        "We'll monitor for another 45 minutes before resolving.",
        "If there are no recurrences in the next 30 minutes, we'll resolve this incident.",
        "We'll keep monitoring until 15:00 UTC.",
        "Next update in 45 minutes.",
        "Next update in 1 hour.",
        "Next update at 14:30 UTC.",
        handbook.NEXT_UPDATE_SUFFIX.format(minutes=60).strip(),
    ],
)
def test_a_monitoring_period_or_a_next_update_clears_the_monitoring_period_rule(ending):
    text = linked(f"A fix is deployed and we are monitoring. {ending}")
    assert Rule.MONITORING_PERIOD not in rules(draft(text, state=MONITORING))


def test_a_next_update_the_composer_adds_itself_counts_as_announced():
    text = linked("A fix is deployed and we are monitoring.")
    announced = draft(text, state=MONITORING, next_update_announced=True)
    assert Rule.MONITORING_PERIOD not in rules(announced)


# Internal details -----------------------------------------------------------------------------

LEAKS = [
    ("Errors on web-01.gprd.gitlab.net are under investigation.", Rule.INTERNAL_HOST),
    ("Requests to ops.gitlab.net fail.", Rule.INTERNAL_HOST),
    ("See https://ops.gitlab.net/runbooks/-/issues/3 for more.", Rule.INTERNAL_HOST),
    ("Redis at redis-cache.service.internal is overloaded.", Rule.INTERNAL_HOST),
    ("The printer at printer.office.local is down.", Rule.INTERNAL_HOST),
    ("The build host build3.lan is slow.", Rule.INTERNAL_HOST),
    ("Traffic to vpn.corp is affected.", Rule.INTERNAL_HOST),
    ("The database at 10.220.4.17 is overloaded.", Rule.INTERNAL_ADDRESS),
    ("Failover to 192.168.1.20:5432 is running.", Rule.INTERNAL_ADDRESS),
    ("Replica fd00:1234::17 is lagging.", Rule.INTERNAL_ADDRESS),
    ("Contact alice.smith@example.com for details.", Rule.EMAIL_ADDRESS),
    ("Reported by bob@gitlab.com earlier today.", Rule.EMAIL_ADDRESS),
    ("Join us at https://gitlab.zoom.us/j/123456789 to follow.", Rule.CALL_LINK),
    ("Call: meet.google.com/abc-defg-hij now.", Rule.CALL_LINK),
    ("Requests from 203.0.114.9 are rate limited.", Rule.PUBLIC_ADDRESS),
    ("Requests from 2a00:1450:4001:81c::200e are rate limited.", Rule.PUBLIC_ADDRESS),
    ("Follow along in #incident-12345.", Rule.SLACK_CHANNEL),
    ("Ask in (#support_gitlab-com) for help.", Rule.SLACK_CHANNEL),
    ("See https://gitlab.slack.com/archives/C4XFU81LG for the thread.", Rule.SLACK_CHANNEL),
]
SEVERITY = {
    Rule.INTERNAL_HOST: Level.BLOCK,
    Rule.INTERNAL_ADDRESS: Level.BLOCK,
    Rule.EMAIL_ADDRESS: Level.BLOCK,
    Rule.CALL_LINK: Level.BLOCK,
    Rule.PUBLIC_ADDRESS: Level.SUGGEST,
    Rule.SLACK_CHANNEL: Level.SUGGEST,
}


@pytest.mark.parametrize(("text", "rule"), LEAKS)
def test_an_internal_detail_in_the_details_is_caught_and_its_removal_clears_it(text, rule):
    found = rules(draft(linked(text)))
    assert found == {rule: SEVERITY[rule]}
    cleared = linked("Some users see errors on GitLab.com, we are investigating.")
    assert rules(draft(cleared)) == {}


@pytest.mark.parametrize(("text", "rule"), LEAKS)
def test_an_internal_detail_in_the_title_is_caught_when_creating(text, rule):
    details = linked("We're seeing elevated error rates on GitLab.com.")
    found = {w.rule: w for w in check(draft(details, kind=CREATE, title=text))}
    assert set(found) == {rule}
    assert found[rule].text.startswith("The title contains")
    assert rules(draft(details, title=text)) == {}  # an update does not publish the title


def test_one_warning_per_hazard_names_every_place_it_is_in():
    text = linked("Errors on web-01.gprd.gitlab.net and db.internal.")
    found = check(draft(text, kind=CREATE, title="web-01.gprd.gitlab.net is down"))
    assert [w.rule for w in found] == [Rule.INTERNAL_HOST]
    assert found[0].text.startswith("The title and the details contain")
    assert ".gitlab.net" in found[0].text


def test_the_internal_host_list_is_small_and_documented():
    assert INTERNAL_HOST_SUFFIXES == ("internal", "gitlab.net", "local", "lan", "corp")


@pytest.mark.parametrize(
    "text",
    [
        f"Investigation is underway in: {ISSUE}",
        f"See {ISSUE}#note_123456 and https://status.gitlab.com for the latest.",
        "Read https://docs.gitlab.com/ee/user/gitlab_com/ for GitLab.com settings.",
        "SSH pushes to git@gitlab.com fail for some users.",
        "GitLab 16.4.1 is deployed; next update at 14:30 UTC (13:05:00 in logs).",
        "We would like to thank Google for the #hugops tweet, see issue #12345.",
        "Self-managed 17.1.0 instances and 1.2.3 runners are not affected.",
        "Our local runners and the internal API are fine.",
        "The fix is done.Local caches refresh within minutes.",
    ],
)
def test_public_links_and_ordinary_words_are_not_internal_details(text):
    found = rules(draft(linked(text), kind=CREATE, title="GitLab.com slow, see status.gitlab.com"))
    assert not set(found) & set(SEVERITY)


# The handbook's own texts ---------------------------------------------------------------------


@pytest.mark.parametrize("template", handbook.GENERIC_UPDATES)
@pytest.mark.parametrize("kind", [CREATE, UPDATE])
def test_the_handbook_generic_updates_raise_nothing(template, kind):
    text = template.format(issue_url=ISSUE)
    for state in (INVESTIGATING, IDENTIFIED):
        assert check(draft(text, kind=kind, state=state)) == []


@pytest.mark.parametrize("template", handbook.NO_MATERIAL_UPDATES)
def test_the_handbook_no_material_updates_only_suggest_the_issue_link(template):
    text = template.format(link=ISSUE)
    expected = {} if "{link}" in template else {Rule.ISSUE_LINK: Level.SUGGEST}
    assert rules(draft(text)) == expected
    assert rules(draft(f"{template.format(link='')} {ISSUE}".strip())) == {}


def test_the_handbook_monitoring_update_is_only_too_long_for_x():
    # The handbook's own example is 274 characters: X may cut it, so the 220 rule holds it back.
    found = {w.rule: w for w in check(draft(handbook.monitoring_update(), state=MONITORING))}
    assert {rule: w.severity for rule, w in found.items()} == {
        Rule.BODY_LENGTH: Level.BLOCK,
        Rule.ISSUE_LINK: Level.SUGGEST,
    }
    assert "274 characters" in found[Rule.BODY_LENGTH].text
    assert handbook.state_name(MONITORING) == "Monitoring"


def test_the_handbook_monitoring_wording_passes_every_wording_rule():
    text = handbook.monitoring_update(45)
    wording = {Rule.STATE_WITHOUT_MONITORING, Rule.RESOLVED_TOO_EARLY, Rule.MONITORING_PERIOD}
    assert not set(rules(draft(text, state=MONITORING))) & wording


def test_the_handbook_resolved_update_raises_nothing():
    assert check(draft(handbook.resolved_update(ISSUE), kind=RESOLVE)) == []
    assert check(draft(handbook.resolved_update(ISSUE), kind=RESOLVE, state=MONITORING)) == []


# The warnings themselves ----------------------------------------------------------------------

EVERY_RULE = [
    draft("We are monitoring.", kind=CREATE, title="t" * 95, state=IDENTIFIED),
    draft("", kind=CREATE, title="", components=()),
    draft(linked("Resolved. " + "y" * 250), kind=RESOLVE, all_clear=False),
    draft("The issue has been resolved." + "x" * 220, state=MONITORING),
    draft(linked("Fixed on web-01.gprd.gitlab.net, 10.0.0.1, 203.0.114.9 and 2001:db8::1.")),
    draft(linked("Mail alice@example.com or join https://gitlab.zoom.us/j/1 #incident-1.")),
    draft(linked("Thanks for your patience."), kind=RESOLVE),
    draft(linked("A fix is out."), state=MONITORING),
]
LEAKED = [
    "web-01",
    "gprd",
    "10.0.0.1",
    "203.0.114.9",
    "2001:db8",
    "alice",
    "example.com",
    "zoom",
    "#incident",
]


def every_warning() -> list[PublishWarning]:
    return [warning for checked in EVERY_RULE for warning in check(checked)]


def test_the_crafted_drafts_trigger_every_rule():
    assert {warning.rule for warning in every_warning()} == set(Rule)


def test_every_warning_is_one_plain_sentence_without_internal_names():
    for warning in every_warning():
        text = warning.text
        assert re.fullmatch(r"[A-Z][^\n]*\.", text), text
        assert re.findall(r"[.!?](?=\s|$)", text) == ["."], text
        assert not re.search(r"\b[a-z]+_[a-z_]+\b|\b(?:None|Rule|Level|IncidentState)\b", text)
        assert not re.search(r"\b[1-6]00\b", text), text  # no raw state or status codes
        assert not [name for name in LEAKED if name in text], text


def test_every_warning_names_its_source_in_words():
    for warning in every_warning():
        assert warning.source.startswith(("Handbook, ", "Public-communication hazard, "))
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", warning.source)
    for rule in Rule:
        assert SOURCES[rule]
    hazards = [rule for rule in Rule if SOURCES[rule].startswith("Public")]
    for rule in hazards:
        said = "blocking" if SEVERITY[rule] is Level.BLOCK else "suggesting"
        assert SOURCES[rule].startswith(f"Public-communication hazard, {said}:")


def test_blocking_warnings_come_first_and_each_rule_once():
    for checked in EVERY_RULE:
        found = check(checked)
        assert [w.blocks for w in found] == sorted((w.blocks for w in found), reverse=True)
        assert len({w.rule for w in found}) == len(found)
        assert blocking(found) == [w for w in found if w.severity is Level.BLOCK]


def test_the_kind_reads_the_composer_form_names():
    assert [DraftKind(form) for form in ("create", "update", "resolve")] == list(DraftKind)
    assert [str(level) for level in Level] == ["block", "suggest"]


def test_the_issue_link_on_the_configured_gitlab_is_never_an_internal_detail():
    on_ip = "http://10.1.2.3:8080/gitlab-com/gl-infra/production/-/issues/7"
    ours = draft(
        f"We're investigating. Follow along in: {on_ip}", gitlab_url="http://10.1.2.3:8080"
    )
    assert Rule.INTERNAL_ADDRESS not in rules(ours)
    assert Rule.ISSUE_LINK not in rules(ours)
    # The same link where GitLab is not configured is an internal address in public text.
    elsewhere = draft(f"We're investigating. Follow along in: {on_ip}")
    assert rules(elsewhere)[Rule.INTERNAL_ADDRESS] is Level.BLOCK
    # And only the link is spared: an address written next to it is still one.
    both = draft(
        f"Host 10.1.2.9 is down. Follow along in: {on_ip}", gitlab_url="http://10.1.2.3:8080"
    )
    assert rules(both)[Rule.INTERNAL_ADDRESS] is Level.BLOCK
