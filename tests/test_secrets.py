"""No secret leaves the process: every failure at the wire, through every way out.

Recognisable credentials are configured against the sandbox, whose answers then echo all of them
back (as sent, percent-encoded, as a Zendesk Basic header, each webhook URL and its path) in every
failure the wire can show. The command line's output, the logs, every row of every table, the
publish outcomes and the Sync and composer pages must hold none of them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from cmoc_core import composer, maintenance
from cmoc_core.cli import main
from cmoc_core.clients import ApiError, Clients, build_clients
from cmoc_core.composer import IncidentFacts, Message, start_incident
from cmoc_core.config import ConfigError, load_settings, settings_from_mapping
from cmoc_core.maintenance import Action, Notice, Plan
from cmoc_core.redaction import REDACTED, redact
from cmoc_core.sandbox import BASE_URL, Fault, Sandbox
from cmoc_core.storage import make_engine, migrate, session_scope
from cmoc_core.sync import run_sync
from cmoc_core.ui import deps
from tests.support.viewers import configured

ROOT = Path(__file__).resolve().parents[1]
PD_TOKEN = "SECRET-PD-TOKEN-7f3a"
SIO_ID = "SECRET-SIO-ID-4c1d"
SIO_KEY = "SECRET-SIO-KEY-9b2e"
GL_TOKEN = "SECRET-GL-TOKEN-3e8a"
ZD_TOKEN = "SECRET-ZD-TOKEN-6d0f"
HOOKS = (
    "/services/T0SECRETS/B0SECRETS/SECRET-SLACK-HOOK-51c9",
    "/services/T0SECRETS/B1SECRETS/SECRET-SLACK-HOOK-83d2",
)
REMINDER = "https://hooks.slack.com/triggers/T0SECRETS/R0SECRETS/SECRET-REMINDER-2a7b"
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{iid}"
# Kinds the sandbox can only give in process: over HTTP a timeout waits for real.
IN_PROCESS_ONLY = ("timeout", "timeout_after")


def with_secrets(sandbox: Sandbox) -> Sandbox:
    """The sandbox's services expecting the recognisable credentials instead of their own."""
    sandbox.pagerduty.token = PD_TOKEN
    sandbox.statusio.api_id, sandbox.statusio.api_key = SIO_ID, SIO_KEY
    sandbox.gitlab.token = GL_TOKEN
    sandbox.zendesk.token = ZD_TOKEN
    channels = list(sandbox.slack.hooks.values())
    sandbox.slack.hooks = dict(zip(HOOKS, channels, strict=True))
    return sandbox


def configuration(sandbox: Sandbox, base_url: str = BASE_URL) -> dict[str, str]:
    """Every configuration name for talking to the sandbox with the recognisable credentials."""
    return {
        **sandbox.settings(base_url),
        "PAGERDUTY_API_TOKEN": PD_TOKEN,
        "STATUSIO_API_ID": SIO_ID,
        "STATUSIO_API_KEY": SIO_KEY,
        "GITLAB_TOKEN": GL_TOKEN,
        "ZENDESK_API_TOKEN": ZD_TOKEN,
        "CMOC_REMINDER_WEBHOOK_URL": REMINDER,
    }


def zendesk_basic(sandbox: Sandbox) -> str:
    return base64.b64encode(f"{sandbox.zendesk_email}/token:{ZD_TOKEN}".encode()).decode()


def needles(sandbox: Sandbox) -> list[str]:
    """What must never show: any part of any credential (each holds SECRET), the Basic header."""
    return ["SECRET", zendesk_basic(sandbox)]


def echo(sandbox: Sandbox, base_url: str = BASE_URL) -> str:
    """A service's error text repeating every credential, in every form it may come back in."""
    hooks = [f"{base_url}/slack{path}" for path in HOOKS]
    parts = [
        f"Authorization: Token token={PD_TOKEN}",
        f"x-api-id: {SIO_ID}",
        f"x-api-key: {SIO_KEY}",
        f"PRIVATE-TOKEN: {GL_TOKEN}",
        f"Authorization: Basic {zendesk_basic(sandbox)} ({sandbox.zendesk_email}/token:{ZD_TOKEN})",
        *(f"webhook {hook} ({quote(hook, safe='')})" for hook in hooks),
        *(f"path {path.removeprefix('/services/')}" for path in HOOKS),
        f"reminder {REMINDER}",
    ]
    return "invalid credentials: " + "; ".join(parts)


def wire_faults(sandbox: Sandbox, base_url: str = BASE_URL) -> dict[str, Callable[[], Fault]]:
    """Every failure kind the wire can show, echoing the credentials wherever it has a text."""
    said = echo(sandbox, base_url)
    body = json.dumps({"error": said, "message": said, "status": {"error": "yes", "message": said}})

    def status(code: int, **headers: str) -> Callable[[], Fault]:
        return lambda: Fault(kind="status", status=code, headers=headers, body=body, times=None)

    def plain(kind: str) -> Callable[[], Fault]:
        return lambda: Fault(kind=kind, status=500, body=body, message=said, times=None)

    return {
        "401": status(401),
        "403": status(403),
        "400": status(400),
        "429 asking a long wait": status(429, **{"retry-after": "3600"}),
        "503": status(503, **{"retry-after": "0"}),
        "502 as plain text": lambda: Fault(
            kind="status", status=502, headers={"retry-after": "0"}, body=said, times=None
        ),
        "redirect": status(302, location=f"{base_url}/elsewhere?token={PD_TOKEN}&key={SIO_KEY}"),
        "statusio_error": plain("statusio_error"),
        "malformed": plain("malformed"),
        "refused": plain("refused"),
        "timeout": plain("timeout"),
        "status_after": plain("status_after"),
        "truncated_after": plain("truncated_after"),
        "reset_after": plain("reset_after"),
        "timeout_after": plain("timeout_after"),
    }


def found(text: str, sandbox: Sandbox) -> list[str]:
    """The needles present in `text`."""
    return [needle for needle in needles(sandbox) if needle in text]


def database_text(engine: Engine) -> str:
    """Every row of every table, as text."""
    lines = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                lines.append(f"{table}: {tuple(row)!r}")
    return "\n".join(lines)


def page_text(app: AppTest) -> str:
    """Everything an AppTest run drew, every element's whole message (tables included).

    Without backslashes: a page escapes Markdown and a message escapes quotes, either of which
    could split a needle.
    """
    parts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app._tree)
    return "\n".join(parts).replace("\\", "")


@pytest.fixture
def secret_sandbox(organisation, org_end) -> Sandbox:
    """A sandbox of its own whose services expect the recognisable credentials."""
    return with_secrets(Sandbox(org=organisation, end=org_end))


@pytest.fixture
def served(secret_sandbox: Sandbox) -> Iterator[str]:
    """The secret sandbox over HTTP on 127.0.0.1; its base URL."""
    server, thread = secret_sandbox.serve(port=0)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, down to DEBUG (httpx logs each URL at INFO)."""
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def environment(served, secret_sandbox, tmp_path, monkeypatch) -> Path:
    """The recognisable credentials in the environment, pointing at the served sandbox.

    The working directory is empty, so no secrets.toml is read; returns the database file.
    """
    database = tmp_path / "cmoc.db"
    for name, value in configuration(secret_sandbox, served).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.chdir(tmp_path)
    return database


def in_process_clients(sandbox: Sandbox) -> Clients:
    settings = settings_from_mapping(configuration(sandbox))
    return build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )


def test_the_configured_secrets_are_every_credential_and_every_part_of_a_webhook(secret_sandbox):
    settings = settings_from_mapping(configuration(secret_sandbox))
    values = settings.secret_values()
    assert {PD_TOKEN, SIO_ID, SIO_KEY, GL_TOKEN, ZD_TOKEN, REMINDER} <= set(values)
    assert zendesk_basic(secret_sandbox) in values
    for path in HOOKS:
        assert f"{BASE_URL}/slack{path}" in values
        assert path.removeprefix("/services/") in values
        assert path.rsplit("/", 1)[-1] in values
    assert "T0SECRETS/R0SECRETS/SECRET-REMINDER-2a7b" in values


def test_redaction_takes_out_every_form_a_service_may_echo(secret_sandbox):
    settings = settings_from_mapping(configuration(secret_sandbox))
    cleaned = redact(echo(secret_sandbox), settings.secret_values())
    assert found(cleaned, secret_sandbox) == []
    assert cleaned.startswith(f"invalid credentials: Authorization: Token token={REDACTED}")
    hook = f"{BASE_URL}/slack{HOOKS[0]}"
    assert redact(f"escaped {hook.replace('/', chr(92) + '/')}", [hook]) == f"escaped {REDACTED}"


def test_a_failing_sync_run_from_the_command_line_shows_no_secret(
    secret_sandbox, served, environment, capsys, logs
):
    leaks: dict[str, list[str]] = {}
    echoed: set[str] = set()
    engine = make_engine(f"sqlite:///{environment}")
    faults = wire_faults(secret_sandbox, served)
    for kind, fault in faults.items():
        if kind in IN_PROCESS_ONLY:
            continue
        secret_sandbox.clear_faults()
        secret_sandbox.add_fault(fault())
        code = main(["sync"], sleep=lambda _s: None)
        out, err = capsys.readouterr()
        assert code == 1, (kind, out, err)
        assert "FAILED" in out and err.strip().splitlines()[-1].startswith("error: "), kind
        if REDACTED in err:
            echoed.add(kind)
        for where, shown in {
            "stdout": out,
            "stderr": err,
            "database": database_text(engine),
        }.items():
            if hits := found(shown, secret_sandbox):
                leaks[f"{kind} in {where}"] = hits
    assert leaks == {}
    # The echo did reach the output wherever the failure has a text: it was redacted, not lost.
    assert {"401", "403", "400", "503", "502 as plain text", "statusio_error"} <= echoed
    assert [line for line in logs.text.splitlines() if "SECRET" in line] == []
    assert "HTTP Request:" in logs.text  # httpx did log each request, its URL redacted
    engine.dispose()


def test_a_sync_timing_out_shows_no_secret_in_its_progress_report_or_database(
    secret_sandbox, sqlite_engine, logs
):
    settings = settings_from_mapping(configuration(secret_sandbox))
    faults = wire_faults(secret_sandbox)
    for kind in IN_PROCESS_ONLY:
        secret_sandbox.clear_faults()
        secret_sandbox.add_fault(faults[kind]())
        progress: list[str] = []
        clients = in_process_clients(secret_sandbox)
        report = run_sync(
            engine=sqlite_engine, settings=settings, clients=clients, progress=progress.append
        )
        clients.close()
        assert not report.ok and "no answer within" in (report.first_error or ""), kind
        shown = "\n".join([*progress, report.summary(), database_text(sqlite_engine)])
        assert found(shown, secret_sandbox) == [], kind
    assert found(logs.text, secret_sandbox) == []


@dataclass
class Actions:
    """Every action the composer and the maintenance page send, run once per failure kind."""

    engine: Engine
    sandbox: Sandbox
    clients: Clients

    def composer(self, kind: str) -> list[str]:
        """Create, notify, label and page for a new incident, and count its tickets."""
        settings = settings_from_mapping(configuration(self.sandbox))
        project = settings.gitlab_production_project
        iid = self.sandbox.org.gitlab_issues[project][0]["iid"]
        page = next(i for i in self.sandbox.org.pd_incidents if i["status"] != "resolved")
        facts = IncidentFacts(
            title=f"Errors ({kind})",
            severity=2,
            issue_url=ISSUE.format(iid=iid),
            page_id=page["id"],
        )
        with session_scope(self.engine) as session:
            incident_id = start_incident(
                session=session,
                facts=facts,
                statuspage_id=settings.statusio_statuspage_id or "",
                now=self.sandbox.now(),
            ).id
        assert incident_id is not None
        publisher = composer.Publisher(
            self.engine, self.clients, project, configured("cmoc@example.com")
        )
        now = self.sandbox.now()
        message = Message(f"Investigating errors ({kind}). {ISSUE.format(iid=iid)}", 100, 300)
        outcomes = [
            publisher.create(
                incident_id=incident_id,
                message=message,
                components=[],
                all_infrastructure=True,
                now=now,
            ),
            *publisher.notify(incident_id=incident_id, text=f"*Summary* ({kind})", now=now),
            publisher.label_issue(incident_id=incident_id, now=now),
            publisher.page(incident_id=incident_id, resolve=False, now=now),
        ]
        # The same actions again: a failed one is sent again, an unclear one is checked first.
        later = now + timedelta(minutes=5)
        outcomes += [
            publisher.create(
                incident_id=incident_id,
                message=message,
                components=[],
                all_infrastructure=True,
                now=later,
            ),
            publisher.label_issue(incident_id=incident_id, now=later),
        ]
        assert not all(o.ok for o in outcomes), kind
        shown = [o.message for o in outcomes] + [str(o.cause) for o in outcomes if o.cause]
        try:
            composer.zendesk_count(self.clients, f"tag_{iid}")
        except ApiError as exc:  # the page shows a failed count's text
            shown.append(f"{type(exc).__name__}: {exc}")
        return shown

    def maintenance(self, kind: str) -> list[str]:
        """Schedule a window, and post an update to one Status.io already has."""
        settings = settings_from_mapping(configuration(self.sandbox))
        page_id = settings.statusio_statuspage_id or ""
        publisher = maintenance.Publisher(
            self.engine,
            self.clients.statusio,
            page_id,
            settings.gitlab_production_project,
            configured("cmoc"),
        )
        now = self.sandbox.now()
        plan = Plan(
            name=f"Database upgrade ({kind})",
            details="GitLab.com will be read-only for up to 30 minutes.",
            start=now + timedelta(days=2),
            end=now + timedelta(days=2, hours=1),
            components=[],
            all_infrastructure=True,
            issue_url=ISSUE.format(iid=21001),
        )
        with Session(self.engine) as session:
            board = maintenance.board(
                session=session, statuspage_id=page_id, project=settings.gitlab_production_project
            )
        window = board.upcoming[0]
        notice = Notice(f"The upgrade starts as planned ({kind}).")
        outcomes = [
            publisher.schedule(plan=plan, now=now),
            publisher.post(window=window, action=Action.UPDATE, notice=notice, now=now),
        ]
        assert not all(o.ok for o in outcomes), kind
        return [o.message for o in outcomes]


@pytest.fixture
def actions(secret_sandbox, sqlite_engine) -> Iterator[Actions]:
    """The actions on a database holding Status.io's maintenance windows."""
    clients = in_process_clients(secret_sandbox)
    settings = settings_from_mapping(configuration(secret_sandbox))
    run_sync(engine=sqlite_engine, settings=settings, clients=clients, sources=["statusio"])
    yield Actions(sqlite_engine, secret_sandbox, clients)
    clients.close()


def test_publishing_that_fails_at_the_wire_in_every_way_shows_no_secret(actions, logs):
    leaks: dict[str, list[str]] = {}
    echoed: set[str] = set()
    for kind, fault in wire_faults(actions.sandbox).items():
        actions.sandbox.clear_faults()
        actions.sandbox.add_fault(fault())
        for part in (actions.composer, actions.maintenance):
            shown = "\n".join(part(kind))
            if REDACTED in shown:
                echoed.add(kind)
            if hits := found(shown, actions.sandbox):
                leaks[f"{part.__name__} outcome, {kind}"] = hits
    assert leaks == {}
    assert {"401", "403", "400", "503", "statusio_error", "status_after"} <= echoed
    stored = database_text(actions.engine)
    assert "outbox" in stored and "audit" in stored and REDACTED in stored
    assert found(stored, actions.sandbox) == []
    assert found(logs.text, actions.sandbox) == []


def write_wrong_types(directory: Path) -> Path:
    """A secrets.toml holding secrets of the wrong type: a list, a table and a number."""
    path = directory / ".streamlit" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'GITLAB_TOKEN = ["{GL_TOKEN}", "SECRET-GL-SPARE"]\n'
        f'SLACK_NOTIFIER_WEBHOOK_URLS = ["https://hooks.slack.com{HOOKS[0]}", 7]\n'
        "ZENDESK_API_TOKEN = 60612\n"
        "[statusio_api_key]\n"
        f'value = "{SIO_KEY}"\n'
        "[auth]\n"
        'client_secret = "SECRET-AUTH"\n'
    )
    return path


def test_a_secret_of_the_wrong_type_in_secrets_toml_is_named_and_never_shown(
    tmp_path, monkeypatch, capsys
):
    path = write_wrong_types(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == (
        f"STATUSIO_API_KEY in {path}: should be text, not a table",
        f"GITLAB_TOKEN in {path}: should be text, not a list",
        f"SLACK_NOTIFIER_WEBHOOK_URLS in {path}: item 2 should be text, not a number",
        f"ZENDESK_API_TOKEN in {path}: should be text, not a number",
    )
    assert "SECRET" not in str(caught.value) and "60612" not in str(caught.value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{tmp_path / 'cmoc.db'}")
    for argv in (["sync"], ["kpis", "--since", "2026-01-01", "--until", "2026-02-01"]):
        assert main(argv) != 0
        out, err = capsys.readouterr()
        assert "SECRET" not in out + err and "60612" not in out + err
        assert "STATUSIO_API_KEY" in err and "validation error" not in err


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m cmoc_core ...` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "cmoc_core", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_in_a_process_of_its_own_shows_no_secret(secret_sandbox, served, tmp_path):
    said = echo(secret_sandbox, served)
    body = json.dumps({"error": said, "message": said})
    secret_sandbox.add_fault(
        Fault(service="pagerduty", kind="status", status=401, body=body, times=None)
    )
    secret_sandbox.add_fault(
        Fault(service="statusio", kind="statusio_error", message=said, times=None)
    )
    secret_sandbox.add_fault(
        Fault(
            service="gitlab",
            kind="status",
            status=503,
            headers={"retry-after": "0"},
            body=body,
            times=None,
        )
    )
    base = {k: v for k, v in os.environ.items() if k.upper() not in configuration(secret_sandbox)}
    env = {
        **base,
        **configuration(secret_sandbox, served),
        "CMOC_DATABASE_URL": f"sqlite:///{tmp_path / 'cmoc.db'}",
    }
    synced = run_cli(["sync"], env, tmp_path)
    assert synced.returncode == 1, synced.stderr
    assert "FAILED" in synced.stdout and REDACTED in synced.stderr
    assert found(synced.stdout + synced.stderr, secret_sandbox) == []
    engine = make_engine(f"sqlite:///{tmp_path / 'cmoc.db'}")
    stored = database_text(engine)
    engine.dispose()
    assert "credentials refused" in stored and found(stored, secret_sandbox) == []

    bad = tmp_path / "bad"
    write_wrong_types(bad)
    only_the_file = {**base, "CMOC_DATABASE_URL": env["CMOC_DATABASE_URL"]}
    # `kpis` reads the settings as `sync` does; the test above runs both in process.
    done = run_cli(["kpis", "--since", "2026-01-01", "--until", "2026-02-01"], only_the_file, bad)
    assert done.returncode != 0
    assert "STATUSIO_API_KEY" in done.stderr and "Traceback" not in done.stderr
    assert found(done.stdout + done.stderr, secret_sandbox) == []


def app_for(database: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{database}")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def test_the_sync_and_composer_pages_show_no_secret_after_failures(
    secret_sandbox, served, environment, monkeypatch, logs
):
    engine = make_engine(f"sqlite:///{environment}")
    migrate(engine)
    actions = Actions(engine, secret_sandbox, in_process_clients(secret_sandbox))
    faults = wire_faults(secret_sandbox, served)
    for kind in ("401", "statusio_error", "status_after"):
        secret_sandbox.clear_faults()
        secret_sandbox.add_fault(faults[kind]())
        actions.composer(kind)
    actions.clients.close()
    secret_sandbox.clear_faults()
    secret_sandbox.add_fault(faults["403"]())
    deps.engine_for.clear()
    deps.sources_for.clear()
    shown: dict[str, str] = {}

    app = app_for(environment, monkeypatch)
    app.session_state["clock_now"] = secret_sandbox.now()
    app.run()
    app.switch_page("app_pages/sync.py").run()
    assert not app.exception, app.exception
    app.button(key="sync_now").click().run()
    assert any("Sync failed" in s.label for s in app.get("status"))
    shown["Sync page after Sync now"] = page_text(app)
    app.switch_page("app_pages/sync.py").run()
    shown["Sync page"] = page_text(app)
    assert "credentials refused" in shown["Sync page"] and REDACTED in shown["Sync page"]

    app.switch_page("app_pages/composer.py").run()
    choices = app.selectbox(key="composer_incident").options
    working = [c for c in choices if "Errors (" in c]
    assert len(working) == 3, choices
    for choice in working:
        app.selectbox(key="composer_incident").set_value(choice).run()
        assert not app.exception, app.exception
        shown[f"composer, {choice}"] = page_text(app)
        count = [b for b in app.button if b.key == "composer_zendesk_count"]
        if count:
            count[0].click().run()
            shown[f"composer, {choice}, ticket count"] = page_text(app)
    assert any("Components could not be loaded" in text for text in shown.values())
    assert all(REDACTED in text for where, text in shown.items() if where.startswith("composer"))

    leaks = {where: hits for where, text in shown.items() if (hits := found(text, secret_sandbox))}
    assert leaks == {}
    assert found(database_text(engine), secret_sandbox) == []
    assert found(logs.text, secret_sandbox) == []
    engine.dispose()


def test_the_app_names_a_secret_of_the_wrong_type_without_showing_it(tmp_path, monkeypatch):
    write_wrong_types(tmp_path)
    monkeypatch.chdir(tmp_path)
    app = app_for(tmp_path / "cmoc.db", monkeypatch)
    app.run()
    shown = page_text(app)
    # Sign-in's broken section or the settings are named first (Streamlit may still hold the
    # secrets an earlier app read); no secret is shown either way.
    assert ("[auth]" in shown and "redirect_uri" in shown) or "GITLAB_TOKEN" in shown
    assert "SECRET" not in shown and "60612" not in shown


def test_an_answer_of_the_wrong_shape_holding_a_secret_is_not_stored_by_the_sync(
    secret_sandbox, sqlite_engine
):
    components = [
        {
            "_id": "c1",
            "name": "Website",
            "position": echo(secret_sandbox),
            "containers": [{"_id": "k1", "name": "Global"}],
        }
    ]
    body = json.dumps({"status": {"error": "no", "message": "OK"}, "result": components})
    secret_sandbox.add_fault(
        Fault(service="statusio", kind="status", status=200, body=body, path_contains="component")
    )
    settings = settings_from_mapping(configuration(secret_sandbox))
    clients = in_process_clients(secret_sandbox)
    progress: list[str] = []
    report = run_sync(
        engine=sqlite_engine,
        settings=settings,
        clients=clients,
        sources=["statusio"],
        progress=progress.append,
    )
    clients.close()
    assert not report.ok and "unexpected shape" in (report.first_error or "")
    shown = "\n".join([*progress, report.summary(), database_text(sqlite_engine)])
    assert found(shown, secret_sandbox) == []
