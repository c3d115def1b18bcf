"""GitLab REST API v4: project issues and their label events."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from cmoc_core.clients.http import ApiBadResponse, JsonApi
from cmoc_core.timeutil import iso_z

API = "GitLab"
PER_PAGE = 100
MAX_PAGES = 10_000


class GitLabClient:
    """Read side of GitLab; follows `x-next-page`, then `Link: rel="next"`."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.http = JsonApi(
            api=API,
            base_url=base_url.rstrip("/") + "/api/v4",
            headers={"PRIVATE-TOKEN": token},
            secrets=[token, *secrets],
            transport=transport,
            **options,
        )

    def current_user(self) -> dict[str, Any]:
        """The user the token belongs to."""
        user = self.http.json("GET", "user", call="read the token's user")
        if not isinstance(user, dict) or "id" not in user:
            raise ApiBadResponse(API, "read the token's user", "the answer is not a user")
        return user

    def issues(
        self,
        project: str,
        *,
        labels: str | None = None,
        updated_after: datetime | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a project's issues (open and closed), least recently updated first."""
        params: dict[str, Any] = {"state": "all", "order_by": "updated_at", "sort": "asc"}
        if labels:
            params["labels"] = labels
        if updated_after:
            params["updated_after"] = iso_z(updated_after)
        yield from self._pages(
            f"projects/{_project(project)}/issues", params, f"list issues of {project}"
        )

    def label_events(self, project: str, iid: int) -> list[dict[str, Any]]:
        """Every label added to or removed from one issue, oldest first."""
        path = f"projects/{_project(project)}/issues/{iid}/resource_label_events"
        pages = self._pages(path, {}, f"list label events of {project}#{iid}")
        return [event for page in pages for event in page]

    def issue(self, project: str, iid: int) -> dict[str, Any]:
        """One issue as GitLab has it now."""
        call = f"read {project}#{iid}"
        issue = self.http.json("GET", f"projects/{_project(project)}/issues/{iid}", call=call)
        if not isinstance(issue, dict):
            raise ApiBadResponse(API, call, "the answer is not an issue")
        return issue

    def add_labels(self, project: str, iid: int, labels: list[str]) -> dict[str, Any]:
        """Add labels to an issue; returns the updated issue."""
        call = f"label {project}#{iid}"
        path = f"projects/{_project(project)}/issues/{iid}"
        # Not repeated blindly: a scoped label replaces its siblings, so a late repeat could undo
        # a label someone changed in the meantime; the caller reads the issue back instead.
        body = {"add_labels": ",".join(labels)}
        issue = self.http.json("PUT", path, call=call, body=body, repeatable=False)
        if not isinstance(issue, dict):
            raise ApiBadResponse(API, call, "the answer is not an issue")
        return issue

    def create_issue(
        self,
        project: str,
        *,
        title: str,
        description: str,
        labels: list[str],
        confidential: bool,
        assignee_ids: list[int] | None = None,
        sudo: str | None = None,
    ) -> dict[str, Any]:
        """Create an issue (as the `sudo` user when given, which needs an admin token)."""
        call = f"create an issue in {project}"
        body: dict[str, Any] = {
            "title": title,
            "description": description,
            "labels": ",".join(labels),
            "confidential": confidential,
        }
        if assignee_ids:
            body["assignee_ids"] = assignee_ids
        if sudo:
            body["sudo"] = sudo
        issue = self.http.json("POST", f"projects/{_project(project)}/issues", call=call, body=body)
        if not isinstance(issue, dict) or "iid" not in issue:
            raise ApiBadResponse(API, call, "the answer is not an issue")
        return issue

    def _pages(
        self, path: str, params: dict[str, Any], call: str
    ) -> Iterator[list[dict[str, Any]]]:
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": PER_PAGE, "page": 1}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.http.request("GET", url, call=call, params=query)
            items = self.http.decode(response, call=call)
            if not isinstance(items, list):
                raise ApiBadResponse(API, call, "the answer is not a list")
            yield items
            url, query = _next(response, path, query)
            if not items:
                return


def _next(
    response: httpx.Response, path: str, query: dict[str, Any] | None
) -> tuple[str | None, dict[str, Any] | None]:
    """Where the next page is: `x-next-page` with the same query, else the `Link` next URL."""
    next_page = response.headers.get("x-next-page")
    if next_page is not None:
        if not next_page.strip():
            return None, None
        return path, {**(query or {}), "page": int(next_page)}
    link = response.links.get("next", {}).get("url")
    if link:
        return link, None
    return None, None


def _project(project: str) -> str:
    return project if project.isdigit() else quote(project, safe="")
