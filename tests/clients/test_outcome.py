"""A write is repeated only when it cannot have been sent; otherwise its outcome is unclear."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cmoc_core.clients import Clients, build_clients
from cmoc_core.clients.http import ApiOutcomeUnclear, ApiRejected, ApiUnavailable, JsonApi
from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Fault, Sandbox
from cmoc_core.sandbox.statusio import API_KEY
from tests.clients.conftest import SleepLog
from tests.support.postgres import free_port

NAME = "Elevated error rates on the API"
UNCLEAR = "may or may not have taken effect"


@pytest.fixture
def unspaced(sandbox: Sandbox, sleeps: SleepLog) -> Iterator[Clients]:
    """Clients whose only recorded waits are retry waits (no Status.io spacing)."""
    settings = settings_from_mapping(sandbox.settings())
    built = build_clients(
        settings, transport=sandbox.transport, sleep=sleeps, statusio_min_interval=0
    )
    yield built
    built.close()


def create(clients: Clients) -> str:
    assert clients.statusio is not None
    component = clients.statusio.components()[0]
    return clients.statusio.create_incident(
        name=NAME,
        details="We're investigating elevated error rates on the API.",
        components=[f"{component['_id']}-{component['containers'][0]['_id']}"],
        status=300,
        state=100,
        broadcast={"notify_email": False},
    )


def creations(sandbox: Sandbox) -> int:
    return sum(1 for w in sandbox.writes("statusio") if w.path == "/incident/create")


def active_named(clients: Clients) -> int:
    """How many active incidents the service holds under this test's name."""
    assert clients.statusio is not None
    pages = clients.statusio.incident_pages("active")
    return sum(1 for page in pages for incident in page if incident["name"] == NAME)


def test_a_refused_connection_is_repeated_and_the_incident_is_created_once(
    unspaced, sandbox, sleeps
):
    sandbox.add_fault(Fault(service="statusio", kind="refused", path_contains="incident/create"))
    assert create(unspaced)
    assert sleeps == [0.5]
    assert creations(sandbox) == 1
    assert active_named(unspaced) == 1


def test_a_connection_reset_after_sending_is_not_repeated_and_is_unclear(unspaced, sandbox, sleeps):
    sandbox.add_fault(
        Fault(service="statusio", kind="reset_after", path_contains="incident/create")
    )
    with pytest.raises(ApiOutcomeUnclear) as caught:
        create(unspaced)
    assert UNCLEAR in str(caught.value) and "the connection broke before the whole" in str(
        caught.value
    )
    assert sleeps == [] and creations(sandbox) == 1
    assert active_named(unspaced) == 1  # it did take effect


def test_a_read_timeout_after_sending_is_not_repeated_and_is_unclear(unspaced, sandbox, sleeps):
    sandbox.add_fault(
        Fault(service="statusio", kind="timeout_after", path_contains="incident/create")
    )
    with pytest.raises(ApiOutcomeUnclear) as caught:
        create(unspaced)
    assert "no answer within" in str(caught.value) and UNCLEAR in str(caught.value)
    assert sleeps == [] and creations(sandbox) == 1


def test_a_502_to_a_post_is_not_repeated_and_is_unclear(unspaced, sandbox, sleeps):
    sandbox.add_fault(
        Fault(
            service="statusio",
            kind="status_after",
            status=502,
            body="Bad Gateway",
            path_contains="incident/create",
        )
    )
    with pytest.raises(ApiOutcomeUnclear) as caught:
        create(unspaced)
    assert caught.value.status == 502
    assert "HTTP 502: Bad Gateway" in str(caught.value) and UNCLEAR in str(caught.value)
    assert sleeps == [] and creations(sandbox) == 1


def test_a_truncated_success_answer_to_a_post_is_unclear(unspaced, sandbox, sleeps):
    sandbox.add_fault(
        Fault(service="statusio", kind="truncated_after", path_contains="incident/create")
    )
    with pytest.raises(ApiOutcomeUnclear) as caught:
        create(unspaced)
    assert "not valid JSON" in str(caught.value) and UNCLEAR in str(caught.value)
    assert sleeps == [] and creations(sandbox) == 1


@pytest.mark.parametrize(("headers", "waits"), [({"Retry-After": "2"}, [2.0]), ({}, [0.5])])
def test_a_post_rate_limited_with_or_without_retry_after_is_repeated(
    unspaced, sandbox, sleeps, headers, waits
):
    sandbox.add_fault(
        Fault(
            service="statusio",
            kind="status",
            status=429,
            headers=headers,
            path_contains="incident/create",
        )
    )
    assert create(unspaced)
    assert sleeps == waits
    assert creations(sandbox) == 2  # the refused attempt and the one the service handled
    assert active_named(unspaced) == 1


def test_a_status_io_error_envelope_never_shows_the_api_key(unspaced, sandbox):
    sandbox.add_fault(
        Fault(service="statusio", kind="statusio_error", message=f"Invalid x-api-key {API_KEY}")
    )
    with pytest.raises(ApiRejected) as caught:
        unspaced.statusio.components()
    assert API_KEY not in str(caught.value) and API_KEY not in caught.value.cause
    assert "Invalid x-api-key [redacted]" in str(caught.value)


def test_reads_are_repeated_after_a_reset_after_sending(unspaced, sandbox, sleeps):
    sandbox.add_fault(Fault(service="statusio", kind="reset_after", path_contains="component"))
    assert unspaced.statusio.components()
    assert sleeps == [0.5] and sandbox.count("statusio") == 2


def test_a_put_is_repeated_after_a_502_unless_marked_not_repeatable():
    answers: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        answers.append(502 if len(answers) % 2 == 0 else 200)
        return httpx.Response(answers[-1], json={"ok": answers[-1] == 200})

    api = JsonApi(
        api="GitLab",
        base_url="http://x.invalid",
        headers={},
        transport=httpx.MockTransport(flaky),
        sleep=lambda _s: None,
    )
    assert api.json("PUT", "thing", call="put", body={}) == {"ok": True}
    assert answers == [502, 200]
    with pytest.raises(ApiOutcomeUnclear):
        api.json("PUT", "thing", call="put", body={}, repeatable=False)
    assert answers == [502, 200, 502]


def test_a_page_acknowledgement_is_not_repeated_after_a_502(unspaced, sandbox, sleeps):
    page = next(
        i
        for i in sandbox.org.pd_incidents
        if i["status"] == "triggered" and i["service"]["id"] in sandbox.org.cmoc_service_ids
    )
    sandbox.add_fault(Fault(service="pagerduty", kind="status_after", status=502))
    with pytest.raises(ApiOutcomeUnclear):
        unspaced.pagerduty.acknowledge(page["id"])
    assert sleeps == [] and len(sandbox.writes("pagerduty")) == 1
    assert sandbox.pagerduty.incidents_by_id[page["id"]]["status"] == "acknowledged"


def test_a_post_to_a_closed_port_is_repeated_and_ends_as_unavailable_not_unclear():
    api = JsonApi(
        api="Slack",
        base_url=f"http://127.0.0.1:{free_port()}",
        headers={},
        retries=2,
        sleep=lambda _s: None,
    )
    with pytest.raises(ApiUnavailable) as caught:
        api.request("POST", "hook", call="post", body={"text": "hi"})
    assert not isinstance(caught.value, ApiOutcomeUnclear)
    assert "could not connect (refused, not found, or no secure handshake)" in str(caught.value)
    assert "after 3 attempts" in str(caught.value) and api.requests_made == 3


def test_a_reset_over_real_http_after_the_post_was_handled_is_unclear(sandbox, sleeps):
    sandbox.add_fault(Fault(service="slack", kind="reset_after"))
    server, thread = sandbox.serve()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        settings = settings_from_mapping(sandbox.settings(base))
        clients = build_clients(settings, sleep=sleeps)
        with pytest.raises(ApiOutcomeUnclear):
            clients.slack[0].post("*Summary*: errors")
        clients.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [post.text for post in sandbox.slack.posts] == ["*Summary*: errors"]
    assert sleeps == []


@pytest.mark.parametrize(
    ("failure", "repeated"),
    [
        (httpx.ConnectTimeout, True),
        (httpx.PoolTimeout, True),
        (httpx.WriteTimeout, False),
        (httpx.ReadError, False),
        (httpx.WriteError, False),
    ],
)
def test_only_failures_before_the_request_was_written_repeat_a_post(failure, repeated):
    calls: list[str] = []

    def once(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise failure("broken", request=request)
        return httpx.Response(200, json={"ok": True})

    api = JsonApi(
        api="Slack",
        base_url="http://x.invalid",
        headers={},
        transport=httpx.MockTransport(once),
        sleep=lambda _s: None,
    )
    if repeated:
        assert api.json("POST", "hook", call="post", body={}) == {"ok": True}
        assert calls == ["POST", "POST"]
    else:
        with pytest.raises(ApiOutcomeUnclear):
            api.json("POST", "hook", call="post", body={})
        assert calls == ["POST"]
