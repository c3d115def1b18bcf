"""GitLab REST API v4: project issues and their label events, and users."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from cmoc_core.clients.http import ApiBadResponse, ApiRejected, JsonApi
from cmoc_core.timeutil import iso_z

API = "GitLab"
PER_PAGE = 100
MAX_PAGES = 10_000
# Project issues offer keyset pagination since GitLab 18.3 (gitlab-org/gitlab!199887), and offset
# pages past `offset_pagination_limit` (50,000 by default) answer 405
# (lib/api/helpers/pagination_strategies.rb, doc/api/rest/_index.md "Keyset-based pagination").
KEYSET = {"pagination": "keyset", "order_by": "id", "sort": "asc"}
# An older GitLab refuses `order_by=id` (400) or keyset for the type (405): offset paging then.
OFFSET_ORDER = {"order_by": "updated_at", "sort": "asc"}
KEYSET_REFUSED = (400, 405)


@dataclass(frozen=True)
class GitLabAccount:
    """A GitLab user as `GET /users/:id` shows it; `email` is what people are matched by."""

    id: int
    username: str | None
    name: str | None
    email: str | None


class GitLabClient:
    """Read side of GitLab; follows `x-next-page`, then `Link: rel="next"` on the same host."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.base = httpx.URL(base_url.rstrip("/") + "/api/v4")
        self.http = JsonApi(
            api=API,
            base_url=str(self.base),
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

    def token_details(self) -> dict[str, Any]:
        """The token's own record (`GET /personal_access_tokens/self`): name, scopes, expiry.

        Any personal access token may read itself whatever its scopes; another kind of token
        (OAuth) gets a 400 (lib/api/personal_access_tokens/self_information.rb,
        doc/api/personal_access_tokens.md "Self-inform", GitLab 15.5 and later).
        """
        call = "read the token's scopes"
        token = self.http.json("GET", "personal_access_tokens/self", call=call)
        if not isinstance(token, dict) or not isinstance(token.get("scopes"), list):
            raise ApiBadResponse(API, call, "the answer has no scopes")
        return token

    def project(self, project: str) -> dict[str, Any] | None:
        """One project with the token user's `permissions`, or None when GitLab hides it (404)."""
        call = f"read project {project}"
        found = self.http.found(f"projects/{_project(project)}", call=call)
        if found is None:
            return None
        if not isinstance(found, dict) or "id" not in found:
            raise ApiBadResponse(API, call, "the answer is not a project")
        return found

    def user(self, user_id: int) -> GitLabAccount | None:
        """One user by id, or None when GitLab does not show it (404: unknown or hidden)."""
        call = f"read user {user_id}"
        user = self.http.found(f"users/{int(user_id)}", call=call)
        if user is None:
            return None
        if not isinstance(user, dict) or "id" not in user:
            raise ApiBadResponse(API, call, "the answer is not a user")
        # `public_email` is on Entities::User (lib/api/entities/user.rb) and is often empty; an
        # administrator's token gets UserDetailsWithAdmin, which adds the primary `email`
        # (lib/api/users.rb `get ":id"`). Issue authors and assignees carry neither.
        email = user.get("public_email") or user.get("email") or None
        return GitLabAccount(
            id=int(user["id"]),
            username=user.get("username"),
            name=user.get("name"),
            email=str(email).strip() if email else None,
        )

    def issues(
        self,
        project: str,
        *,
        labels: str | None = None,
        updated_after: datetime | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a project's issues (open and closed): by id with keyset pagination.

        A GitLab without keyset pagination for issues refuses the first request; the listing
        is then read with offset pages, least recently updated first.
        """
        params: dict[str, Any] = {"state": "all"}
        if labels:
            params["labels"] = labels
        if updated_after:
            params["updated_after"] = iso_z(updated_after)
        path = f"projects/{_project(project)}/issues"
        call = f"list issues of {project}"
        read = False
        try:
            for page in self._pages(path, {**params, **KEYSET}, call, offset=False):
                read = True
                yield page
        except ApiRejected as exc:
            if read or exc.status not in KEYSET_REFUSED:
                raise
            yield from self._pages(path, {**params, **OFFSET_ORDER}, call)

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
        self, path: str, params: dict[str, Any], call: str, *, offset: bool = True
    ) -> Iterator[list[dict[str, Any]]]:
        url: str | None = path
        first: dict[str, Any] = {**params, "per_page": PER_PAGE}
        if offset:
            first["page"] = 1
        query: dict[str, Any] | None = first
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.http.request("GET", url, call=call, params=query)
            items = self.http.decode(response, call=call)
            if not isinstance(items, list):
                raise ApiBadResponse(API, call, "the answer is not a list")
            yield items
            url, query = self._next(response, path, query)
            if not items:
                return

    def _next(
        self, response: httpx.Response, path: str, query: dict[str, Any] | None
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Where the next page is: `x-next-page` with the same query, else the `Link` next URL.

        A keyset page has only the link, whose `cursor` carries the position. GitLab writes
        its own configured host into that link (lib/gitlab/pagination/keyset/header_builder.rb),
        which may not be the address configured here; the token goes wherever a request goes,
        so the link's path and query are always asked of the configured host.
        """
        next_page = response.headers.get("x-next-page")
        if next_page is not None:
            if not next_page.strip():
                return None, None
            return path, {**(query or {}), "page": int(next_page)}
        link = response.links.get("next", {}).get("url")
        if not link:
            return None, None
        target = httpx.URL(link).copy_with(
            scheme=self.base.scheme, host=self.base.host, port=self.base.port
        )
        return str(target), None


def _project(project: str) -> str:
    return project if project.isdigit() else quote(project, safe="")
