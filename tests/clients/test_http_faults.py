"""Every fault ends in the right data or a clear typed error: never a hang, never a token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from cmoc_core.clients import build_clients
from cmoc_core.clients.http import (
    ApiAuthError,
    ApiBadResponse,
    ApiOutcomeUnclear,
    ApiRejected,
    ApiUnavailable,
    JsonApi,
    retry_delay,
)
from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Fault


def _handover_issues(clients, sandbox):
    settings = settings_from_mapping(sandbox.settings())
    pages = clients.gitlab.issues(settings.gitlab_handover_project)
    return [issue for page in pages for issue in page]


def test_pagerduty_429_with_retry_after_waits_as_told_then_returns_the_data(
    clients, sandbox, sleeps, org_end
):
    sandbox.add_fault(
        Fault(
            service="pagerduty",
            path_contains="/users",
            kind="status",
            status=429,
            headers={"Retry-After": "7"},
            body='{"error":{"message":"Rate Limit Exceeded","code":2020}}',
        )
    )
    users = [u for page in clients.pagerduty.users() for u in page]
    assert sleeps == [7.0]
    assert len(users) == len(sandbox.org.pd_users)


def test_pagerduty_429_with_ratelimit_reset_waits_until_the_reset(clients, sandbox, sleeps):
    sandbox.add_fault(
        Fault(
            service="pagerduty",
            path_contains="/users",
            kind="status",
            status=429,
            headers={"ratelimit-reset": "3"},
        )
    )
    users = [u for page in clients.pagerduty.users() for u in page]
    assert sleeps == [3.0]
    assert users


def test_gitlab_ratelimit_reset_as_unix_time_is_read_as_a_moment():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    response = httpx.Response(429, headers={"RateLimit-Reset": str(int(now.timestamp()) + 12)})
    assert retry_delay(response, 0, now=now) == pytest.approx(12)


def test_retry_after_as_http_date_is_read_as_a_moment():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    response = httpx.Response(
        503, headers={"Retry-After": format_datetime(now + timedelta(seconds=20), usegmt=True)}
    )
    assert retry_delay(response, 0, now=now) == pytest.approx(20)


def test_502_then_success_returns_the_data_after_one_backoff(clients, sandbox, sleeps):
    sandbox.add_fault(
        Fault(
            service="gitlab", path_contains="/issues", kind="status", status=502, body="Bad Gateway"
        )
    )
    issues = _handover_issues(clients, sandbox)
    assert len(sleeps) == 1
    assert len(issues) == len(sandbox.org.gitlab_issues[sandbox.org.handover_project])


def test_a_timeout_then_success_recovers(clients, sandbox, sleeps):
    sandbox.add_fault(Fault(service="gitlab", path_contains="/issues", kind="timeout"))
    assert _handover_issues(clients, sandbox)
    assert len(sleeps) == 1


def test_timeouts_that_never_end_give_a_typed_error_after_bounded_retries(clients, sandbox, sleeps):
    sandbox.add_fault(Fault(service="gitlab", path_contains="/issues", kind="timeout", times=None))
    with pytest.raises(ApiUnavailable) as caught:
        _handover_issues(clients, sandbox)
    assert "GitLab" in str(caught.value) and "no answer within" in str(caught.value)
    assert len(sleeps) == clients.gitlab.http.retries
    assert sandbox.count("gitlab") == clients.gitlab.http.retries + 1


def test_a_wait_longer_than_the_limit_fails_at_once_instead_of_blocking(clients, sandbox, sleeps):
    sandbox.add_fault(
        Fault(
            service="pagerduty",
            kind="status",
            status=429,
            headers={"Retry-After": "3600"},
            times=None,
        )
    )
    with pytest.raises(ApiUnavailable) as caught:
        list(clients.pagerduty.users())
    assert sleeps == []
    assert "3600" in str(caught.value)


def test_malformed_json_is_a_bad_response_naming_the_call(clients, sandbox):
    sandbox.add_fault(Fault(service="pagerduty", path_contains="/users", kind="malformed"))
    with pytest.raises(ApiBadResponse) as caught:
        list(clients.pagerduty.users())
    assert str(caught.value) == "PagerDuty: list users failed: the answer was not valid JSON"


def test_statusio_error_envelope_is_rejected_with_its_message(clients, sandbox):
    sandbox.add_fault(
        Fault(service="statusio", kind="statusio_error", message="Statuspage not found")
    )
    with pytest.raises(ApiRejected) as caught:
        clients.statusio.components()
    assert "Statuspage not found" in str(caught.value)


def test_wrong_credentials_are_an_auth_error_without_the_token(sandbox):
    values = {**sandbox.settings(), "PAGERDUTY_API_TOKEN": "wrong-secret-token-123"}
    clients = build_clients(settings_from_mapping(values), transport=sandbox.transport)
    with pytest.raises(ApiAuthError) as caught:
        list(clients.pagerduty.users())
    assert "401" in str(caught.value)
    assert "wrong-secret-token-123" not in str(caught.value)


def test_a_token_echoed_by_a_server_is_redacted_from_errors():
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"message": f"bad token {request.headers['PRIVATE-TOKEN']}"}
        )

    api = JsonApi(
        api="GitLab",
        base_url="http://x.invalid",
        headers={"PRIVATE-TOKEN": "s3cr3t"},
        secrets=["s3cr3t"],
        transport=httpx.MockTransport(echo),
    )
    with pytest.raises(ApiRejected) as caught:
        api.json("GET", "x", call="probe")
    assert "s3cr3t" not in str(caught.value) and "[redacted]" in str(caught.value)


def test_statusio_requests_are_spaced_one_second_apart():
    clock = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    def ok(request: httpx.Request) -> httpx.Response:
        clock[0] += 0.25
        return httpx.Response(200, json={"status": {"error": "no", "message": "OK"}, "result": []})

    api = JsonApi(
        api="Status.io",
        base_url="http://x.invalid",
        headers={},
        min_interval=1.0,
        transport=httpx.MockTransport(ok),
        sleep=sleep,
        clock=lambda: clock[0],
    )
    for _ in range(3):
        api.json("GET", "component/list/x", call="list components")
    assert waits == [1.0, 1.0]


def test_a_post_that_times_out_is_not_repeated_and_says_it_may_have_landed():
    calls = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    api = JsonApi(
        api="Status.io",
        base_url="http://x.invalid",
        headers={},
        transport=httpx.MockTransport(slow),
        sleep=lambda _s: None,
    )
    with pytest.raises(ApiOutcomeUnclear) as caught:
        api.json("POST", "incident/update", call="update incident", body={"x": 1})
    assert calls == ["POST"]
    assert "may or may not have taken effect" in str(caught.value)


def test_a_post_rate_limited_is_retried_after_the_wait():
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={"ok": True})]
    )
    waits: list[float] = []
    api = JsonApi(
        api="Slack",
        base_url="http://x.invalid",
        headers={},
        transport=httpx.MockTransport(lambda r: next(answers)),
        sleep=waits.append,
    )
    assert api.json("POST", "hook", call="post", body={"text": "hi"}) == {"ok": True}
    assert waits == [2.0]
