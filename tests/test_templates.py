"""Templates fill in the incident, set their state and status, fit X and pass the check."""

from __future__ import annotations

import pytest

from cmoc_core import handbook, publiccheck, templates
from cmoc_core.handbook import ComponentStatus, IncidentState
from cmoc_core.publiccheck import DraftKind
from cmoc_core.templates import Subject
from cmoc_core.textlimits import BODY_LIMIT, X_LIMIT, check_length

PROJECT = "gitlab-com/gl-infra/production"
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/18123"
CI = Subject(
    title="Delays in CI/CD job processing",
    components=("CI/CD - Hosted runners on Linux", "Background Processing"),
    issue_url=ISSUE,
)
LONG = Subject(
    title="Elevated error rates and slow responses for web, API and Git requests on GitLab.com",
    components=(
        "Website",
        "API",
        "Git Operations",
        "Container Registry",
        "GitLab Pages",
        "CI/CD - Hosted runners on Linux",
        "Background Processing",
    ),
    issue_url=ISSUE,
)
SUBJECTS = [CI, LONG, Subject(title="x" * 200, issue_url=ISSUE)]
OWN = [templates.investigating, templates.identified, templates.monitoring, templates.resolved]


def own_templates(subject: Subject) -> list[templates.Template]:
    return [make(subject) for make in OWN]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_every_template_of_the_incident_fits_220_before_its_final_link(subject):
    for template in own_templates(subject):
        report = check_length(template.text)
        assert report.has_link and template.text.endswith(ISSUE), template.text
        assert report.body_weighted <= BODY_LIMIT and report.weighted <= X_LIMIT, template.text


def test_templates_fill_in_the_title_the_components_and_the_issue_link():
    for template in own_templates(CI):
        assert template.text.startswith("Delays in CI/CD job processing: ")
        assert "Affected: CI/CD - Hosted runners on Linux" in template.text
        assert template.text.endswith(ISSUE)
    assert "Affected: CI/CD - Hosted runners on Linux, Background Processing." in (
        templates.investigating(CI).text
    )
    for template in own_templates(Subject(title=CI.title, issue_url=ISSUE)):
        assert "Affected" not in template.text
    assert "elevated error rates" not in " ".join(t.text for t in own_templates(CI))


def test_what_does_not_fit_goes_first_the_last_components_then_the_titles_last_words():
    investigating = templates.investigating(LONG).text
    assert "Affected: Website, API, Git Operations, Container Registry and others." in investigating
    assert "Background Processing" not in investigating
    monitoring = templates.monitoring(LONG).text
    assert "Affected:" not in monitoring
    assert monitoring.startswith(
        "Elevated error rates and slow responses for web, API and Git requests on…: systems are"
    )
    assert monitoring.endswith(ISSUE)


def test_an_incident_without_an_issue_link_gets_no_placeholder():
    text = templates.investigating(Subject(title="Slow web requests")).text
    assert text == "Slow web requests: we're investigating the cause."
    assert "{" not in text and "http" not in text


def test_each_template_sets_the_handbooks_state_and_status():
    assert templates.investigating(CI).state is IncidentState.INVESTIGATING
    assert templates.identified(CI).state is IncidentState.IDENTIFIED
    monitoring = templates.monitoring(CI)
    assert monitoring.state is IncidentState.MONITORING
    assert monitoring.status is None  # the handbook: leave the status as it was set
    assert "in the next 30 minutes" in monitoring.text
    assert "in the next 45 minutes" in templates.monitoring(CI, minutes=45).text
    resolved = templates.resolved(CI)
    assert resolved.status is ComponentStatus.OPERATIONAL
    assert "has been resolved and all systems are operating normally" in resolved.text


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize(
    ("make", "kind", "state"),
    [
        (templates.investigating, DraftKind.CREATE, IncidentState.INVESTIGATING),
        (templates.identified, DraftKind.CREATE, IncidentState.IDENTIFIED),
        (templates.investigating, DraftKind.UPDATE, IncidentState.INVESTIGATING),
        (templates.identified, DraftKind.UPDATE, IncidentState.IDENTIFIED),
        (templates.monitoring, DraftKind.UPDATE, IncidentState.MONITORING),
        (templates.resolved, DraftKind.RESOLVE, IncidentState.MONITORING),
    ],
)
def test_each_template_passes_the_handbook_check_in_its_own_state(subject, make, kind, state):
    template = make(subject)
    draft = publiccheck.Draft(
        kind=kind,
        details=template.text,
        project=PROJECT,
        title=subject.title[:90],
        state=int(template.state or state),
        components=("Website",),
        all_clear=True,
    )
    assert publiccheck.check(draft) == [], template.text


def test_forms_start_from_the_incidents_own_template_never_an_example():
    assert templates.default(DraftKind.CREATE, CI) == templates.investigating(CI)
    assert templates.default(DraftKind.RESOLVE, CI) == templates.resolved(CI)
    assert templates.default(DraftKind.UPDATE, CI) is None
    for kind in DraftKind:
        offered = templates.for_form(kind, CI)
        assert not offered[0].example
        own = [t for t in offered if not t.example]
        assert offered[: len(own)] == tuple(own)  # the examples come last


def test_the_update_form_offers_monitoring_and_the_resolve_form_only_resolving():
    update = [t.label for t in templates.for_form(DraftKind.UPDATE, CI)]
    assert "Monitoring (with duration)" in update
    assert "Resolved (with issue link)" not in update
    assert [t.label for t in templates.for_form(DraftKind.RESOLVE, CI)] == [
        "Resolved (with issue link)"
    ]
    create = [t.label for t in templates.for_form(DraftKind.CREATE, CI)]
    assert "Monitoring (with duration)" not in create


def test_the_handbook_examples_are_labelled_examples_with_readable_labels():
    examples = [t for t in templates.for_form(DraftKind.UPDATE, CI) if t.example]
    assert len(examples) == len(handbook.GENERIC_UPDATES) + len(handbook.NO_MATERIAL_UPDATES)
    labels = [t.label for t in examples]
    assert len(set(labels)) == len(labels)
    assert (
        "Handbook example (no material updates): We tried starting the Gitaly servers but "
        "we're…" in labels
    )
    assert "Handbook example: We're seeing elevated error rates on GitLab.com…" in labels
    for template in examples:
        assert template.label.startswith("Handbook example")
        assert template.state is None and template.status is None
        assert "{" not in template.label + template.text
        words = template.label.split(": ", 1)[1].rstrip("…").split()
        assert words and all(word in template.text for word in words), template.label
    gitaly = next(t for t in examples if "Gitaly" in t.text)
    assert gitaly.text == handbook.NO_MATERIAL_UPDATES[1]
    generic = next(t for t in examples if "elevated error rates" in t.text)
    assert generic.text == handbook.GENERIC_UPDATES[0].format(issue_url=ISSUE)
    assert templates.EXAMPLE_NOTE.startswith("A handbook example")
