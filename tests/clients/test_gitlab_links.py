"""GitLab's next-page links name GitLab's own host; the token only goes to the configured one."""

from __future__ import annotations

import httpx

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Sandbox

ELSEWHERE = "gitlab.elsewhere.example"


def test_next_page_links_to_another_host_are_asked_of_the_configured_host(sandbox: Sandbox):
    hosts: list[str] = []

    def external_links(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        response = sandbox.transport.handle_request(request)
        response.read()
        headers = {k: v for k, v in response.headers.items() if not k.lower().startswith("x-")}
        if "link" in headers:
            headers["link"] = headers["link"].replace(sandbox.BASE_URL, f"https://{ELSEWHERE}")
        return httpx.Response(response.status_code, headers=headers, content=response.content)

    settings = settings_from_mapping(sandbox.settings())
    client = build_clients(settings, transport=httpx.MockTransport(external_links)).gitlab
    assert client is not None
    project = settings.gitlab_handover_project or ""
    iids = [issue["iid"] for page in client.issues(project) for issue in page]
    assert sorted(iids) == sorted(i["iid"] for i in sandbox.org.gitlab_issues[project])
    assert len(hosts) > 1 and set(hosts) == {httpx.URL(sandbox.BASE_URL).host}
