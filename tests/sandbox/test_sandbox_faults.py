"""Sandbox faults after the service acted: the write lands, then its answer is lost or damaged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

import httpx
import pytest

from cmoc_core.sandbox import Fault, Organisation, Sandbox

END = datetime(2026, 11, 1, tzinfo=UTC)
NAME = "Sandbox fault drill: elevated error rates"


def statusio(sandbox: Sandbox, base_url: str | None = None, timeout: float = 5.0) -> httpx.Client:
    settings = sandbox.settings(base_url) if base_url else sandbox.settings()
    return httpx.Client(
        transport=None if base_url else sandbox.transport,
        base_url=settings["STATUSIO_API_URL"],
        headers={
            "x-api-id": settings["STATUSIO_API_ID"],
            "x-api-key": settings["STATUSIO_API_KEY"],
        },
        timeout=timeout,
    )


def create_body(org: Organisation) -> dict[str, object]:
    component = org.statusio_components[0]
    return {
        "statuspage_id": org.statuspage_id,
        "incident_name": NAME,
        "incident_details": "We're investigating elevated error rates.",
        "infrastructure_affected": [f"{component['_id']}-{component['containers'][0]['_id']}"],
        "current_status": 300,
        "current_state": 100,
    }


def created(sandbox: Sandbox) -> list[str]:
    """Names of the active incidents this test created, as the service now lists them."""
    page = f"/incident/list/active/{sandbox.org.statuspage_id}"
    incidents = statusio(sandbox).get(page).json()["result"]
    return [i["name"] for i in incidents if i["name"] == NAME]


@pytest.fixture
def served(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox over real HTTP on 127.0.0.1; yields its base URL."""
    server: ThreadingHTTPServer
    server, thread = sandbox.serve()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_reset_after_handles_the_write_then_drops_the_answer(sandbox, organisation):
    sandbox.add_fault(Fault(service="statusio", kind="reset_after", path_contains="create"))
    with pytest.raises(httpx.RemoteProtocolError):
        statusio(sandbox).post("/incident/create", json=create_body(organisation))
    assert [w.path for w in sandbox.writes("statusio")] == ["/incident/create"]
    assert created(sandbox) == [NAME]


def test_timeout_after_handles_the_write_then_times_out(sandbox, organisation):
    sandbox.add_fault(Fault(service="statusio", kind="timeout_after", path_contains="create"))
    with pytest.raises(httpx.ReadTimeout):
        statusio(sandbox).post("/incident/create", json=create_body(organisation))
    assert len(sandbox.writes("statusio")) == 1
    assert created(sandbox) == [NAME]


def test_status_after_handles_the_write_then_answers_the_fault_status(sandbox, organisation):
    sandbox.add_fault(
        Fault(service="statusio", kind="status_after", status=502, body="Bad Gateway")
    )
    response = statusio(sandbox).post("/incident/create", json=create_body(organisation))
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    assert len(sandbox.writes("statusio")) == 1
    assert created(sandbox) == [NAME]


def test_truncated_after_answers_the_real_status_with_half_the_real_body(sandbox, organisation):
    fault = sandbox.add_fault(Fault(service="statusio", kind="truncated_after", times=1))
    response = statusio(sandbox).post("/incident/create", json=create_body(organisation))
    assert response.status_code == 200 and fault.fired == 1
    with pytest.raises(json.JSONDecodeError):
        response.json()
    whole = statusio(sandbox).post("/incident/create", json=create_body(organisation)).content
    assert len(response.content) == len(whole) // 2
    assert whole.startswith(response.content[: len(b'{"status"')])
    assert len(sandbox.writes("statusio")) == 2
    assert created(sandbox) == [NAME, NAME]


def test_refused_raises_connect_error_and_nothing_arrives(sandbox, organisation):
    fault = sandbox.add_fault(Fault(service="statusio", kind="refused"))
    with pytest.raises(httpx.ConnectError):
        statusio(sandbox).post("/incident/create", json=create_body(organisation))
    assert fault.fired == 1
    assert sandbox.writes() == [] and sandbox.count() == 0
    assert created(sandbox) == []


def test_after_faults_pass_the_first_requests_and_stop_after_their_times(sandbox, organisation):
    sandbox.add_fault(Fault(service="statusio", kind="reset_after", after=1, times=1))
    client = statusio(sandbox)
    assert client.post("/incident/create", json=create_body(organisation)).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/incident/create", json=create_body(organisation))
    assert client.post("/incident/create", json=create_body(organisation)).status_code == 200
    assert len(sandbox.writes("statusio")) == 3
    assert created(sandbox) == [NAME, NAME, NAME]


def test_reset_after_over_http_closes_the_connection_after_the_write(sandbox, organisation, served):
    sandbox.add_fault(Fault(service="statusio", kind="reset_after"))
    with pytest.raises(httpx.RemoteProtocolError):
        statusio(sandbox, served).post("/incident/create", json=create_body(organisation))
    assert len(sandbox.writes("statusio")) == 1
    assert created(sandbox) == [NAME]


def test_timeout_after_over_http_waits_then_closes_after_the_write(sandbox, organisation, served):
    sandbox.add_fault(Fault(service="statusio", kind="timeout_after", delay=0.2))
    with pytest.raises(httpx.ReadTimeout):
        statusio(sandbox, served, timeout=0.05).post(
            "/incident/create", json=create_body(organisation)
        )
    assert len(sandbox.writes("statusio")) == 1
    assert created(sandbox) == [NAME]


def test_truncated_after_over_http_sends_half_the_body(sandbox, organisation, served):
    sandbox.add_fault(Fault(service="statusio", kind="truncated_after"))
    response = statusio(sandbox, served).post("/incident/create", json=create_body(organisation))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert created(sandbox) == [NAME]


def test_refused_over_http_closes_the_connection_without_handling(sandbox, organisation, served):
    sandbox.add_fault(Fault(service="statusio", kind="refused"))
    with pytest.raises(httpx.RemoteProtocolError):
        statusio(sandbox, served).post("/incident/create", json=create_body(organisation))
    assert sandbox.count() == 0
    assert created(sandbox) == []


def test_status_io_spacing_is_measured_on_the_clock_the_sandbox_is_given(organisation):
    now = [100.0]
    strict = Sandbox(organisation, end=END, min_interval_ok=False, monotonic=lambda: now[0])
    client = statusio(strict)
    path = f"/component/list/{organisation.statuspage_id}"
    codes = [client.get(path).status_code]
    now[0] += 0.999
    codes.append(client.get(path).status_code)
    now[0] += 1.0
    codes.append(client.get(path).status_code)
    assert codes == [200, 429, 200]
