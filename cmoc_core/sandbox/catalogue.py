"""Fixed data the synthetic organisation is built from: people, components, wording."""

from __future__ import annotations

from typing import NamedTuple

REGIONS = ("AMER", "EMEA", "APAC")
REGION_START_HOUR = {"APAC": 0, "EMEA": 8, "AMER": 16}
SHIFT_HOURS = 8

PRODUCTION_PROJECT = "gitlab-com/gl-infra/production"
HANDOVER_PROJECT = "gitlab-com/support/dotcom/cmoc-handover"
CONTACT_REQUEST_PROJECT = "gitlab-com/support/dotcom/contact-requests"
TRAINING_PROJECT = "gitlab-com/support/support-team-meta"
CONTACT_REQUEST_LABEL = "Contact Request"
PRACTICE_EVENT_LABEL = "CMOC Practice Event"
STATUS_PAGE_LABEL = "Incident-Comms::Status-Page"

PROJECT_IDS = {
    PRODUCTION_PROJECT: 7444821,
    HANDOVER_PROJECT: 13942364,
    CONTACT_REQUEST_PROJECT: 20471596,
    TRAINING_PROJECT: 2694799,
}

CADENCE_MINUTES = {
    1: {100: 10, 200: 10, 300: 30},
    2: {100: 15, 200: 30, 300: 60},
    3: {100: 15, 200: 30, 300: 60},
    4: {100: 15, 200: 30, 300: 60},
}
INVESTIGATING, IDENTIFIED, MONITORING = 100, 200, 300
OPERATIONAL, DEGRADED, PARTIAL_DISRUPTION, DISRUPTION, PLANNED = 100, 300, 400, 500, 200
STATUS_BY_SEVERITY = {1: DISRUPTION, 2: PARTIAL_DISRUPTION, 3: DEGRADED, 4: DEGRADED}
GITLAB_SEVERITY = {1: "CRITICAL", 2: "HIGH", 3: "MEDIUM", 4: "LOW"}


class StaffSpec(NamedTuple):
    """One member of staff and how they tend to behave."""

    name: str
    region: str
    role: str
    username: str
    gitlab_name: str | None = None
    email_mode: str = "same"
    slow_ack: float = 0.08
    late_update: float = 0.1
    missed_handover: float = 0.1


STAFF = (
    StaffSpec("Maya Thompson", "AMER", "cmoc", "mthompson", None, "same", 0.04, 0.05, 0.05),
    StaffSpec("Diego Ramírez", "AMER", "cmoc", "dramirez", None, "same", 0.10, 0.15, 0.25),
    StaffSpec("Priya Natarajan", "AMER", "cmoc", "pnatarajan", None, "empty", 0.05, 0.08, 0.08),
    StaffSpec("Siobhán O'Connor", "EMEA", "cmoc", "soconnor", "Siobhan OConnor", "none"),
    StaffSpec("Lukas Becker", "EMEA", "cmoc", "lbecker", "Luke Becker", "case", 0.03, 0.05, 0.05),
    StaffSpec("Amara Okafor", "EMEA", "cmoc", "aokafor", None, "same", 0.18, 0.22, 0.12),
    StaffSpec("Kenji Watanabe", "APAC", "cmoc", "kwatanabe", None, "same", 0.05, 0.08, 0.06),
    StaffSpec("Chloe Nguyen", "APAC", "cmoc", "cnguyen", None, "empty", 0.10, 0.12, 0.15),
    StaffSpec("Tomás Silva", "EMEA", "shadow", "tsilva"),
    StaffSpec("Hannah Lee", "AMER", "shadow", "hlee"),
    StaffSpec("Rafael Costa", "EMEA", "sre", "rcosta"),
    StaffSpec("Grace Kim", "AMER", "sre", "gkim"),
    StaffSpec("Arjun Mehta", "APAC", "sre", "amehta"),
    StaffSpec("Noor Haddad", "EMEA", "security", "nhaddad"),
    StaffSpec("Oliver Brandt", "AMER", "support", "obrandt"),
)
PAGERDUTY_ROLES = ("cmoc", "shadow", "sre")

CONTAINERS = (
    ("Google Compute Engine", "us-east1"),
    ("Cloudflare", "Global"),
)
COMPONENTS = (
    ("Website", "GitLab.com web interface", ("Google Compute Engine", "Cloudflare")),
    ("API", "GitLab.com REST and GraphQL API", ("Google Compute Engine", "Cloudflare")),
    ("Git Operations", "Git over HTTPS and SSH", ("Google Compute Engine", "Cloudflare")),
    ("Container Registry", "registry.gitlab.com", ("Google Compute Engine",)),
    ("GitLab Pages", "Static sites on gitlab.io", ("Google Compute Engine", "Cloudflare")),
    ("CI/CD - Hosted runners on Linux", "Hosted runners for Linux", ("Google Compute Engine",)),
    ("Background Processing", "Sidekiq jobs, emails and webhooks", ("Google Compute Engine",)),
    ("Canary", "The canary stage of GitLab.com", ("Google Compute Engine",)),
)


class IncidentKind(NamedTuple):
    """A kind of service incident: its title, what users see and what it affects."""

    title: str
    symptom: str
    components: tuple[str, ...]


INCIDENT_KINDS = (
    IncidentKind(
        "Elevated error rates on GitLab.com",
        "elevated error rates on GitLab.com",
        ("Website", "API"),
    ),
    IncidentKind(
        "Slow response times on GitLab.com",
        "slow response times for web and API requests",
        ("Website", "API"),
    ),
    IncidentKind(
        "Delays in CI/CD job processing",
        "delays in starting CI/CD jobs on hosted runners",
        ("CI/CD - Hosted runners on Linux", "Background Processing"),
    ),
    IncidentKind(
        "Git operations failing for some users",
        "failures for some Git operations over HTTPS and SSH",
        ("Git Operations",),
    ),
    IncidentKind(
        "Container Registry degraded",
        "errors when pushing and pulling container images",
        ("Container Registry",),
    ),
    IncidentKind(
        "GitLab Pages sites unavailable",
        "GitLab Pages sites returning 502 errors",
        ("GitLab Pages",),
    ),
    IncidentKind(
        "Delays in background job processing",
        "delays in background processing such as emails and webhooks",
        ("Background Processing",),
    ),
    IncidentKind(
        "Connectivity issues for some users",
        "connection issues to GitLab.com for some users",
        ("Website", "Git Operations"),
    ),
    IncidentKind(
        "Canary environment degraded",
        "errors for users routed to the canary environment",
        ("Canary",),
    ),
    IncidentKind(
        "Merge requests not updating",
        "merge requests not updating after new pushes",
        ("Website", "Background Processing"),
    ),
)

FIRST_MESSAGES = {
    INVESTIGATING: (
        "We're seeing {symptom}, investigation is underway in: {link}",
        "Some users are reporting {symptom}, we're working on it in: {link}",
        "We are investigating reports of {symptom}. Follow along in: {link}",
    ),
    IDENTIFIED: (
        "We've identified the cause of {symptom} and are working on a fix. Details in: {link}",
        "We're aware of {symptom} and the cause has been identified. Updates in: {link}",
    ),
    MONITORING: (
        "While all systems are online and fully operational, out of an abundance of caution "
        "we'll leave affected components marked as degraded as we monitor. If there are no "
        "recurrences in the next 30 minutes, we'll resolve this incident and mark all "
        "components as fully operational. {link}",
    ),
}
FOLLOW_UP_MESSAGES = {
    INVESTIGATING: (
        "No material updates to report. We're continuing to investigate {symptom}. "
        "Details in: {link}",
        "No material updates to report. We tried starting the Gitaly servers but we're still "
        "missing connectivity.",
        "No material updates to report. We're discussing if we should restore from backup or "
        "let the replica catch up first but we have not made a decision.",
        "We're still investigating {symptom} and have engaged more engineers. {link}",
    ),
    IDENTIFIED: (
        "A fix for {symptom} is being rolled out. {link}",
        "We've isolated the network problem to the APAC region and are working with Cloudflare "
        "support to get it resolved.",
        "No material updates to report. We are doing a handover to a new CMOC since the "
        "current CMOC has been at it for three hours straight.",
        "The fix is deployed to part of the fleet and error rates are dropping. {link}",
    ),
    MONITORING: (
        "We're continuing to monitor and have seen no recurrence so far. {link}",
        "No material updates to report. We would like to thank Google for the #hugops tweet "
        "we received.",
    ),
}
RESOLVED_MESSAGES = (
    "This incident is now resolved and systems have returned to operating normally. "
    "Thank you for your patience. Full details in: {link}",
    "The issue causing {symptom} has been resolved and all systems are operating normally. "
    "More in: {link}",
)
NO_LINK_TEXT = "the incident issue"
RELATED_LINK = "Related: https://gitlab.com/gitlab-org/gitlab/-/issues/{number}"
OTHER_HOST = "https://gitlab.example.com"

EOC_ALERTS = (
    "HighErrorRate: web fleet 5xx ratio above SLO",
    "Apdex violation: api service",
    "Sidekiq queue latency above threshold",
    "Patroni replication lag on main cluster",
    "Gitaly node storage above 90%",
)

MAINTENANCE_KINDS = (
    ("PostgreSQL database upgrade for GitLab.com", ("Website", "API", "Git Operations")),
    ("Container Registry storage migration", ("Container Registry",)),
    ("GitLab Pages infrastructure upgrade", ("GitLab Pages",)),
    ("Network maintenance for hosted runners on Linux", ("CI/CD - Hosted runners on Linux",)),
    ("Redis cluster upgrade", ("Background Processing", "Website")),
)

CONTACT_REQUEST_REASONS = (
    "suspected CI minutes abuse",
    "repository hosting malware",
    "excessive API usage",
    "compromised personal access token",
    "namespace approaching storage limit after incident",
    "unusual sign-in activity",
)

LABELS = {
    "incident": ("#dc143c", "An incident on GitLab.com"),
    "severity::1": ("#e24329", "Severity 1: critical impact"),
    "severity::2": ("#fc6d26", "Severity 2: major impact"),
    "severity::3": ("#fca326", "Severity 3: minor impact"),
    "severity::4": ("#a8d695", "Severity 4: low impact"),
    "Incident::Active": ("#d9534f", "The incident is ongoing"),
    "Incident::Mitigated": ("#f0ad4e", "The impact is mitigated"),
    "Incident::Resolved": ("#5cb85c", "The incident is resolved"),
    STATUS_PAGE_LABEL: ("#428bca", "The status page was used to communicate this incident"),
    "Handover": ("#8fbc8f", "CMOC shift handover"),
    CONTACT_REQUEST_LABEL: ("#6699cc", "A request to contact users"),
    PRACTICE_EVENT_LABEL: ("#9400d3", "A CMOC practice event"),
}
