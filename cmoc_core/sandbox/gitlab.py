"""Fake GitLab REST API v4: projects, their issues and the issues' label events."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

import httpx

from cmoc_core.sandbox.organisation import Json, Organisation, parse_time

TOKEN = "sandbox-gitlab-token"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
COUNT_LIMIT = 10_000
ORDER_FIELDS = ("created_at", "updated_at")
TIME_FILTERS: dict[str, tuple[str, Callable[[datetime, datetime], bool]]] = {
    "created_after": ("created_at", lambda value, bound: value >= bound),
    "created_before": ("created_at", lambda value, bound: value <= bound),
    "updated_after": ("updated_at", lambda value, bound: value >= bound),
    "updated_before": ("updated_at", lambda value, bound: value <= bound),
}
TOKEN_USER = {
    "id": 9_000_001,
    "username": "cmoc-cockpit-bot",
    "name": "CMOC Cockpit",
    "state": "active",
    "public_email": "",
}


class BadRequest(Exception):
    """A request GitLab refuses with HTTP 400."""


def _message(status: int, message: str, key: str = "message") -> httpx.Response:
    return httpx.Response(status, json={key: message})


def _positive_int(params: httpx.QueryParams, name: str, default: int) -> int:
    value = params.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} is invalid") from None
    return number if number > 0 else default


def paginate(items: list[Json], request: httpx.Request) -> httpx.Response:
    """One page of `items` with GitLab's offset pagination headers."""
    params = request.url.params
    per_page = min(_positive_int(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    page = _positive_int(params, "page", 1)
    total_pages = max(math.ceil(len(items) / per_page), 1)
    counted = len(items) <= COUNT_LIMIT
    headers = {
        "x-page": str(page),
        "x-per-page": str(per_page),
        "x-next-page": str(page + 1) if page < total_pages else "",
        "x-prev-page": str(page - 1) if 1 < page <= total_pages + 1 else "",
    }
    links = []
    if headers["x-prev-page"]:
        links.append((page - 1, "prev"))
    if headers["x-next-page"]:
        links.append((page + 1, "next"))
    links.append((1, "first"))
    if counted:
        headers["x-total"] = str(len(items))
        headers["x-total-pages"] = str(total_pages)
        links.append((total_pages, "last"))
    url = request.url.copy_set_param("per_page", str(per_page))
    headers["link"] = ", ".join(
        f'<{url.copy_set_param("page", str(number))}>; rel="{rel}"' for number, rel in links
    )
    start = (page - 1) * per_page
    return httpx.Response(200, json=items[start : start + per_page], headers=headers)


def _label_filter(spec: str | None, *, negate: bool = False) -> Callable[[Json], bool] | None:
    if not spec:
        return None
    wanted = [label.strip() for label in spec.split(",") if label.strip()]
    if negate:
        return lambda issue: not any(label in issue["labels"] for label in wanted)
    if wanted == ["None"]:
        return lambda issue: not issue["labels"]
    if wanted == ["Any"]:
        return lambda issue: bool(issue["labels"])
    return lambda issue: all(label in issue["labels"] for label in wanted)


class GitLabServer:
    """GitLab as it would answer for the organisation's projects."""

    def __init__(self, org: Organisation, *, token: str = TOKEN) -> None:
        self.org = org
        self.token = token
        self.projects: dict[str, Json] = {}
        for project in org.gitlab_projects:
            self.projects[project["path_with_namespace"]] = project
            self.projects[str(project["id"])] = project
        self.issue_times = {
            path: {
                issue["iid"]: (parse_time(issue["created_at"]), parse_time(issue["updated_at"]))
                for issue in issues
            }
            for path, issues in org.gitlab_issues.items()
        }

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """GitLab's answer to `request`; `path` is the part after `/api/v4`, still URL-encoded."""
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.token not in (request.headers.get("private-token"), bearer):
            return _message(401, "401 Unauthorized")
        if request.method != "GET":
            return _message(405, "405 Method Not Allowed", "error")
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        try:
            return self._route(parts, request)
        except BadRequest as exc:
            return _message(400, str(exc), "error")

    def _route(self, parts: list[str], request: httpx.Request) -> httpx.Response:
        if parts == ["user"]:
            return httpx.Response(200, json=TOKEN_USER)
        if len(parts) < 2 or parts[0] != "projects":
            return _message(404, "404 Not Found", "error")
        project = self.projects.get(parts[1])
        if project is None:
            return _message(404, "404 Project Not Found")
        path = project["path_with_namespace"]
        match parts[2:]:
            case []:
                return httpx.Response(200, json=project)
            case ["issues"]:
                return paginate(self._issues(path, request.url.params), request)
            case ["issues", iid]:
                issue = self._issue(path, iid)
                return httpx.Response(200, json=issue) if issue else _message(404, "404 Not found")
            case ["issues", iid, "resource_label_events"]:
                if self._issue(path, iid) is None:
                    return _message(404, "404 Not found")
                return paginate(self.org.gitlab_label_events[path].get(int(iid), []), request)
        return _message(404, "404 Not Found", "error")

    def _issue(self, path: str, iid: str) -> Json | None:
        if not iid.isdigit():
            return None
        return next((i for i in self.org.gitlab_issues[path] if i["iid"] == int(iid)), None)

    def _issues(self, path: str, params: httpx.QueryParams) -> list[Json]:
        """The project's issues matching GitLab's list filters, in the asked order."""
        state = params.get("state") or "all"
        if state not in ("opened", "closed", "all"):
            raise BadRequest("state does not have a valid value")
        order_by = params.get("order_by") or "created_at"
        sort = params.get("sort") or "desc"
        if order_by not in ORDER_FIELDS:
            raise BadRequest("order_by does not have a valid value")
        if sort not in ("asc", "desc"):
            raise BadRequest("sort does not have a valid value")
        times = self.issue_times[path]
        checks: list[Callable[[Json], bool]] = []
        if state != "all":
            checks.append(lambda issue: issue["state"] == state)
        for check in (
            _label_filter(params.get("labels")),
            _label_filter(params.get("not[labels]"), negate=True),
        ):
            if check:
                checks.append(check)
        for name, (field, compare) in TIME_FILTERS.items():
            if params.get(name):
                checks.append(self._time_check(params[name], name, field, compare, times))
        if issue_type := params.get("issue_type"):
            checks.append(lambda issue: issue["issue_type"] == issue_type)
        if confidential := params.get("confidential"):
            checks.append(lambda issue: issue["confidential"] == (confidential == "true"))
        if iids := {int(v) for v in params.get_list("iids[]") if v.isdigit()}:
            checks.append(lambda issue: issue["iid"] in iids)
        if author := params.get("author_username"):
            checks.append(lambda issue: issue["author"]["username"] == author)
        if search := (params.get("search") or "").lower():
            checks.append(
                lambda issue: search in f"{issue['title']} {issue['description']}".lower()
            )
        selected = [
            issue for issue in self.org.gitlab_issues[path] if all(c(issue) for c in checks)
        ]
        position = 0 if order_by == "created_at" else 1
        selected.sort(
            key=lambda issue: (times[issue["iid"]][position], issue["id"]), reverse=sort == "desc"
        )
        return selected

    def _time_check(
        self,
        value: str,
        name: str,
        field: str,
        compare: Callable[[datetime, datetime], bool],
        times: dict[int, tuple[datetime, datetime]],
    ) -> Callable[[Json], bool]:
        try:
            bound = parse_time(value)
        except ValueError:
            raise BadRequest(f"{name} is invalid") from None
        position = 0 if field == "created_at" else 1
        return lambda issue: compare(times[issue["iid"]][position], bound)
