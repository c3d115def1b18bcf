"""Fake GitLab REST API v4: projects, their issues, the issues' label events, and users.

The token belongs to an administrator, so `sudo` (a parameter or the `Sudo` header, naming a
username or a user id) makes a request act as that user, as GitLab allows administrators whose
token has the `sudo` scope (doc/api/rest/authentication.md "Sudo", lib/api/helpers.rb `sudo!`).

Shapes follow gitlabhq `lib/api/entities/*.rb`: an issue's `author`, `assignees` and
`closed_by` are `UserBasic` (`user_safe.rb` + `user_basic.rb`: id, username, name, state,
avatar_url, web_url), so they never carry an e-mail; `public_email` is only on `GET /users/:id`
(`Entities::User`), and an administrator's token gets `UserDetailsWithAdmin` there, which adds
the account's primary `email` (`lib/api/users.rb`).
"""

from __future__ import annotations

import base64
import copy
import json
import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

from cmoc_core.sandbox import catalogue as cat
from cmoc_core.sandbox.body import request_body
from cmoc_core.sandbox.organisation import (
    GITLAB_WEB,
    LABEL_IDS,
    Json,
    Organisation,
    format_time,
    parse_time,
)

TOKEN = "sandbox-gitlab-token"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
COUNT_LIMIT = 10_000
# `offset_pagination_limit` (doc/administration/instance_limits.md), enforced on endpoints that
# offer keyset pagination (lib/api/helpers/pagination_strategies.rb).
OFFSET_LIMIT = 50_000
ORDER_FIELDS = ("created_at", "updated_at")
# Keyset pagination of project issues (GitLab 18.3, gitlab-org/gitlab!199887) also orders by id;
# orders it does not support fall back to offset pagination.
KEYSET_ORDER_FIELDS = ("id", "created_at", "updated_at")
USER_BASIC_KEYS = ("id", "username", "name", "state", "avatar_url", "web_url")
# `Entities::User` beyond UserBasic (lib/api/entities/user.rb), as a user without a profile.
USER_PROFILE = {
    "bio": "",
    "location": "",
    "skype": "",
    "linkedin": "",
    "twitter": "",
    "website_url": "",
    "organization": "",
    "job_title": "",
    "pronouns": None,
    "bot": False,
    "work_information": None,
    "bio_html": "",
}
INSUFFICIENT_SCOPE = {
    "error": "insufficient_scope",
    "error_description": (
        "The request requires higher privileges than provided by the access token."
    ),
    "scope": "sudo",
}
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
TOKEN_USER_FULL = {
    **TOKEN_USER,
    "avatar_url": f"{GITLAB_WEB}/uploads/user/avatar/{TOKEN_USER['id']}/avatar.png",
    "web_url": f"{GITLAB_WEB}/{TOKEN_USER['username']}",
    "email": "cmoc-cockpit-bot@example.com",
}
EVENT_USER_KEYS = ("id", "name", "username", "state", "avatar_url")
# The token's own record (doc/api/personal_access_tokens.md "Get details on a personal access
# token"; lib/api/entities/personal_access_token_with_last_used_ips.rb adds `last_used_ips`).
TOKEN_ID = 7_700_001
TOKEN_NAME = "cmoc-cockpit"
TOKEN_CREATED_AT = "2026-01-05T09:00:00.000Z"
TOKEN_LIFETIME_DAYS = 180
# `Gitlab::Access`: Guest 10, Planner 15, Reporter 20, Developer 30, Maintainer 40, Owner 50.
NOTIFICATION_LEVEL_GLOBAL = 3
READ_SCOPES = ("api", "read_api")
NEW_LABEL_COLOR = "#6699cc"
NEW_LABEL_FIRST_ID = 6_000_000
ISSUE_TYPES = ("issue", "incident", "test_case", "task")
EDIT_PARAMS = (
    "add_labels",
    "remove_labels",
    "labels",
    "state_event",
    "title",
    "description",
    "confidential",
    "issue_type",
)


class BadRequest(Exception):
    """A request GitLab refuses with HTTP 400."""


class Blank(BadRequest):
    """A required field sent empty; GitLab names the field in its validation envelope."""


def _message(status: int, message: Any, key: str = "message") -> httpx.Response:
    return httpx.Response(status, json={key: message})


def request_params(request: httpx.Request) -> dict[str, Any]:
    """Query parameters overlaid by the JSON or form body, the way GitLab's API merges them."""
    params: dict[str, Any] = {}
    for name, value in request.url.params.multi_items():
        if name.endswith("[]"):
            params.setdefault(name[:-2], []).append(value)
        else:
            params[name] = value
    body = request_body(request)
    if isinstance(body, dict):
        for name, value in body.items():
            params[name.removesuffix("[]")] = value
    return params


def label_list(value: Any) -> list[str]:
    """Label names from a comma-separated string or a list, blanks dropped, order kept."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    names: list[str] = []
    for item in items:
        name = str(item).strip()
        if name and name not in names:
            names.append(name)
    return names


def label_scope(name: str) -> str | None:
    """The scope of a scoped label (`X` of `X::A`, `a::b` of `a::b::c`), else None."""
    scope, separator, _ = name.rpartition("::")
    return scope if separator and scope else None


def exclusive(labels: list[str], fresh: list[str]) -> list[str]:
    """`labels` keeping one label per scope: the last of `fresh`, else the last already there."""
    winners: dict[str, str] = {}
    for name in labels:
        if (scope := label_scope(name)) is not None:
            winners[scope] = name
    for name in fresh:
        if (scope := label_scope(name)) is not None and name in labels:
            winners[scope] = name
    return [n for n in labels if (scope := label_scope(n)) is None or winners[scope] == n]


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0"):
        return False
    raise BadRequest(f"{name} is invalid")


def _int_list(value: Any, name: str) -> list[int]:
    items = value if isinstance(value, list) else str(value).split(",")
    try:
        return [int(item) for item in items if str(item).strip()]
    except ValueError:
        raise BadRequest(f"{name} is invalid") from None


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


def user_basic(user: Json) -> Json:
    """`user` as GitLab shows an issue's author or assignee (the UserBasic entity)."""
    return {key: user[key] for key in USER_BASIC_KEYS}


SortKey = tuple[float | int, ...]


def _encode_cursor(key: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_cursor(text: str) -> SortKey:
    try:
        values = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        raise BadRequest("cursor is invalid") from None
    if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
        raise BadRequest("cursor is invalid")
    return tuple(values)


def keyset_paginate(
    items: list[Json], request: httpx.Request, key: Callable[[Json], SortKey], *, descending: bool
) -> httpx.Response:
    """One keyset page of `items` (sorted by `key`): a `Link: rel="next"` only while more remain.

    As GitLab's cursor pager (lib/gitlab/pagination/keyset/cursor_pager.rb and
    header_builder.rb): the next link repeats the request's parameters plus `cursor`; no
    `x-page`, `x-total` or `x-next-page` header.
    """
    params = request.url.params
    per_page = min(_positive_int(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    if cursor := params.get("cursor"):
        after = _decode_cursor(cursor)
        items = [i for i in items if (key(i) < after if descending else key(i) > after)]
    page = items[:per_page]
    headers = {}
    if len(items) > per_page:
        url = request.url.copy_set_param("cursor", _encode_cursor(key(page[-1])))
        headers["link"] = f'<{url}>; rel="next"'
    return httpx.Response(200, json=page, headers=headers)


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

    def __init__(
        self,
        org: Organisation,
        *,
        token: str = TOKEN,
        clock: Callable[[], datetime] | None = None,
        admin: bool = True,
        sudo_scope: bool = True,
        keyset: bool = True,
        offset_limit: int = OFFSET_LIMIT,
    ) -> None:
        self.org = org
        self.token = token
        self.admin = admin
        self.sudo_scope = sudo_scope
        # The token's scopes when set; else `api`, plus `sudo` when `sudo_scope`. A token
        # without `api` is refused writes, one with neither `api` nor `read_api` reads
        # (403 insufficient_scope, lib/api/api_guard.rb).
        self.token_scopes: list[str] | None = None
        # None: the token's expiry date, TOKEN_LIFETIME_DAYS after the sandbox's present.
        self.token_expires_at: date | None = None
        # The token user's own role in a project (path -> `Gitlab::Access` level); none by
        # default: an administrator sees every project without being a member.
        self.memberships: dict[str, int] = {}
        # False answers as GitLab before 18.3: project issues know neither keyset pagination
        # nor `order_by=id`, and offset pages are not capped.
        self.keyset = keyset
        self.offset_limit = offset_limit
        self.users: dict[str, Json] = {}
        for user in [TOKEN_USER_FULL, *org.gitlab_users]:
            self.users[str(user["id"])] = self.users[user["username"].lower()] = user
        self.clock = clock or (lambda: org.end)
        self.issues: dict[str, list[Json]] = dict(org.gitlab_issues)
        self.label_events: dict[str, dict[int, list[Json]]] = dict(org.gitlab_label_events)
        self.labels: dict[str, Json] = {
            name: {"id": LABEL_IDS[name], "name": name, "color": color, "description": text}
            for name, (color, text) in cat.LABELS.items()
        }
        self._owned: set[str] = set()
        self._next_event_id = 1 + max(
            (
                e["id"]
                for events in org.gitlab_label_events.values()
                for items in events.values()
                for e in items
            ),
            default=310_000_000,
        )
        self._next_issue_id = 1 + max(
            (i["id"] for issues in org.gitlab_issues.values() for i in issues), default=150_000_000
        )
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
        sudo = request.headers.get("sudo") or request_params(request).get("sudo")
        if sudo and not self.admin:
            return _message(403, "403 Forbidden - Must be admin to use sudo")
        if sudo and "sudo" not in self.scopes:
            return httpx.Response(403, json=INSUFFICIENT_SCOPE)
        refused = self._scope_refusal(request.method, path)
        if refused is not None:
            return refused
        user = self.users.get(str(sudo).lower()) if sudo else TOKEN_USER_FULL
        if user is None:
            return _message(404, "404 User Not Found")
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        writes = {("POST", 3): self._create_issue, ("PUT", 4): self._edit_issue}
        write = writes.get((request.method, len(parts)))
        is_issue_path = len(parts) >= 3 and parts[0] == "projects" and parts[2] == "issues"
        if request.method != "GET" and (write is None or not is_issue_path):
            return _message(405, "405 Method Not Allowed", "error")
        try:
            if write is not None:
                project = self.projects.get(parts[1])
                if project is None:
                    return _message(404, "404 Project Not Found")
                return write(project["path_with_namespace"], parts[3:], request, user)
            return self._route(parts, request, user)
        except Blank as exc:
            return _message(400, {str(exc): ["can't be blank"]})
        except BadRequest as exc:
            return _message(400, str(exc), "error")

    @property
    def scopes(self) -> list[str]:
        """The token's scopes."""
        if self.token_scopes is not None:
            return list(self.token_scopes)
        return ["api", "sudo"] if self.sudo_scope else ["api"]

    def _scope_refusal(self, method: str, path: str) -> httpx.Response | None:
        """GitLab's 403 for a request the token's scopes do not cover, else None."""
        parts = [part for part in path.strip("/").split("/") if part]
        if parts in (["user"], ["personal_access_tokens", "self"]):
            # `/user` also allows `read_user`; a token may always read itself.
            return None
        needed = ("api",) if method != "GET" else READ_SCOPES
        if any(scope in self.scopes for scope in needed):
            return None
        return httpx.Response(403, json={**INSUFFICIENT_SCOPE, "scope": " ".join(needed)})

    def _token_details(self) -> Json:
        """GET /personal_access_tokens/self: the token's record."""
        expires = self.token_expires_at or (
            self.clock().date() + timedelta(days=TOKEN_LIFETIME_DAYS)
        )
        return {
            "id": TOKEN_ID,
            "name": TOKEN_NAME,
            "revoked": False,
            "created_at": TOKEN_CREATED_AT,
            "description": "CMOC Cockpit sync and handovers",
            "scopes": self.scopes,
            "user_id": TOKEN_USER["id"],
            "last_used_at": format_time(self.clock()),
            "active": expires >= self.clock().date(),
            "expires_at": expires.isoformat(),
            "last_used_ips": ["127.0.0.1"],
        }

    def _project(self, project: Json, user: Json) -> Json:
        """GET /projects/:id for a signed-in user: the project with the user's `permissions`.

        doc/api/projects.md "Get a single project": `project_access` and `group_access`, each
        `{access_level, notification_level}` or null when the user is not a member that way.
        """
        level = self.memberships.get(project["path_with_namespace"])
        if user is not TOKEN_USER_FULL or level is None:
            access = None
        else:
            access = {"access_level": level, "notification_level": NOTIFICATION_LEVEL_GLOBAL}
        return {**project, "permissions": {"project_access": access, "group_access": None}}

    def _route(self, parts: list[str], request: httpx.Request, user: Json) -> httpx.Response:
        if parts == ["user"]:
            # GET /user (lib/api/users.rb): UserWithAdmin, which adds `is_admin`, for a user who
            # can read all resources; UserPublic otherwise.
            answer = {key: user[key] for key in TOKEN_USER}
            if self.admin and user is TOKEN_USER_FULL:
                answer["is_admin"] = True
            return httpx.Response(200, json=answer)
        if parts == ["personal_access_tokens", "self"]:
            return httpx.Response(200, json=self._token_details())
        if len(parts) == 2 and parts[0] == "users":
            return self._user(parts[1])
        if len(parts) < 2 or parts[0] != "projects":
            return _message(404, "404 Not Found", "error")
        project = self.projects.get(parts[1])
        if project is None:
            return _message(404, "404 Project Not Found")
        path = project["path_with_namespace"]
        match parts[2:]:
            case []:
                return httpx.Response(200, json=self._project(project, user))
            case ["issues"]:
                # List project issues (doc/api/issues.md): keyset or offset pagination.
                return self._issue_listing(path, request)
            case ["issues", iid]:
                issue = self._issue(path, iid)
                return httpx.Response(200, json=issue) if issue else _message(404, "404 Not found")
            case ["issues", iid, "resource_label_events"]:
                if self._issue(path, iid) is None:
                    return _message(404, "404 Not found")
                return paginate(self.label_events[path].get(int(iid), []), request)
        return _message(404, "404 Not Found", "error")

    def _user(self, user_id: str) -> httpx.Response:
        """GET /users/:id: `Entities::User`, or `UserDetailsWithAdmin` for an administrator."""
        found = self.users.get(user_id) if user_id.isdigit() else None
        if found is None:
            return _message(404, "404 User Not Found")
        answer = {
            **user_basic(found),
            "created_at": "2019-04-01T09:00:00.000Z",
            **USER_PROFILE,
            "public_email": found.get("public_email"),
        }
        if self.admin:
            answer.update(email=found.get("email"), is_admin=found is TOKEN_USER_FULL)
        return httpx.Response(200, json=answer)

    def _issue_listing(self, path: str, request: httpx.Request) -> httpx.Response:
        """Project issues, a keyset page when asked and supported, else an offset page.

        Offset pages past the instance's `offset_pagination_limit` answer 405, as GitLab does
        for types that offer keyset pagination (lib/api/helpers/pagination_strategies.rb).
        """
        params = request.url.params
        issues, key = self._issues(path, params)
        order_by = params.get("order_by") or "created_at"
        if self.keyset and params.get("pagination") == "keyset" and order_by in KEYSET_ORDER_FIELDS:
            descending = (params.get("sort") or "desc") == "desc"
            return keyset_paginate(issues, request, key, descending=descending)
        per_page = min(_positive_int(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        page = _positive_int(params, "page", 1)
        if self.keyset and self.offset_limit and page * per_page > self.offset_limit:
            # Grape's `error!` with a text answers `{"error": ...}`.
            return _message(
                405,
                f"Offset pagination has a maximum allowed offset of {self.offset_limit} for "
                "requests that return objects of type Issue. Remaining records can be "
                "retrieved using keyset pagination.",
                "error",
            )
        return paginate(issues, request)

    def _issue(self, path: str, iid: str) -> Json | None:
        if not iid.isdigit():
            return None
        return next((i for i in self.issues[path] if i["iid"] == int(iid)), None)

    def _issues(
        self, path: str, params: httpx.QueryParams
    ) -> tuple[list[Json], Callable[[Json], SortKey]]:
        """The project's issues matching GitLab's list filters in the asked order, and its key."""
        state = params.get("state") or "all"
        if state not in ("opened", "closed", "all"):
            raise BadRequest("state does not have a valid value")
        order_by = params.get("order_by") or "created_at"
        sort = params.get("sort") or "desc"
        orders = KEYSET_ORDER_FIELDS if self.keyset else ORDER_FIELDS
        if order_by not in orders:
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
        selected = [issue for issue in self.issues[path] if all(c(issue) for c in checks)]
        position = 0 if order_by == "created_at" else 1

        def key(issue: Json) -> SortKey:
            if order_by == "id":
                return (issue["id"],)
            return (times[issue["iid"]][position].timestamp(), issue["id"])

        selected.sort(key=key, reverse=sort == "desc")
        return selected, key

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

    def _writable(self, path: str) -> None:
        """Copy the project's issues and label events before this sandbox first changes them."""
        if path not in self._owned:
            self.issues[path] = copy.deepcopy(self.issues[path])
            self.label_events[path] = copy.deepcopy(self.label_events[path])
            self._owned.add(path)

    def _label(self, name: str) -> Json:
        """The project label called `name`, created (as GitLab does) when it does not exist."""
        if name not in self.labels:
            new_id = NEW_LABEL_FIRST_ID + len(self.labels)
            self.labels[name] = {
                "id": new_id,
                "name": name,
                "color": NEW_LABEL_COLOR,
                "description": None,
            }
        return self.labels[name]

    def _label_events(
        self, issue: Json, removed: list[str], added: list[str], stamp: str, by: Json
    ) -> list[Json]:
        user = {key: by[key] for key in EVENT_USER_KEYS}
        events = []
        for action, names in (("remove", removed), ("add", added)):
            for name in names:
                events.append(
                    {
                        "id": self._next_event_id,
                        "user": user,
                        "created_at": stamp,
                        "resource_type": "Issue",
                        "resource_id": issue["id"],
                        "label": dict(self._label(name)),
                        "action": action,
                    }
                )
                self._next_event_id += 1
        return events

    def _edit_issue(
        self, path: str, rest: list[str], request: httpx.Request, user: Json
    ) -> httpx.Response:
        """PUT /projects/:id/issues/:iid: labels, state, title, description, confidentiality."""
        if self._issue(path, rest[0]) is None:
            return _message(404, "404 Not found")
        params = request_params(request)
        if not any(name in params for name in EDIT_PARAMS):
            missing = ", ".join(EDIT_PARAMS)
            return _message(
                400, f"{missing} are missing, at least one parameter must be provided", "error"
            )
        fields = _field_changes(params)
        self._writable(path)
        issue = self._issue(path, rest[0])
        assert issue is not None
        stamp = format_time(self.clock())
        old = list(issue["labels"])
        base = label_list(params["labels"]) if "labels" in params else old
        removed = set(label_list(params.get("remove_labels")))
        wanted = list(dict.fromkeys([*base, *label_list(params.get("add_labels"))]))
        wanted = [n for n in wanted if n not in removed]
        wanted = exclusive(wanted, [n for n in wanted if n not in old])
        before = copy.deepcopy(issue)
        if set(wanted) != set(old):
            issue["labels"] = sorted(wanted, key=str.lower)
            gone = [n for n in old if n not in wanted]
            new = [n for n in wanted if n not in old]
            self.label_events[path].setdefault(issue["iid"], []).extend(
                self._label_events(issue, gone, new, stamp, user)
            )
        state_event = fields.pop("state_event", None)
        issue.update(fields)
        if state_event == "close" and issue["state"] == "opened":
            issue.update(state="closed", closed_at=stamp, closed_by=user_basic(user))
        if state_event == "reopen" and issue["state"] == "closed":
            issue.update(state="opened", closed_at=None, closed_by=None)
        issue["severity"] = _severity(issue)
        if issue != before:
            issue["updated_at"] = stamp
            created = self.issue_times[path][issue["iid"]][0]
            self.issue_times[path][issue["iid"]] = (created, parse_time(stamp))
        return httpx.Response(200, json=issue)

    def _create_issue(
        self, path: str, rest: list[str], request: httpx.Request, user: Json
    ) -> httpx.Response:
        """POST /projects/:id/issues: a new issue by the acting user, 201 and its JSON."""
        params = request_params(request)
        title = str(params.get("title") or "").strip()
        if not title:
            raise Blank("title")
        issue_type = params.get("issue_type") or "issue"
        if issue_type not in ISSUE_TYPES:
            raise BadRequest("issue_type does not have a valid value")
        confidential = _bool(params.get("confidential", False), "confidential")
        wanted = label_list(params.get("labels"))
        labels = exclusive(wanted, wanted)
        people = {user["id"]: user for user in self.org.gitlab_users}
        assignees = [
            people[i]
            for i in _int_list(params.get("assignee_ids") or [], "assignee_ids")
            if i in people
        ]
        self._writable(path)
        issues = self.issues[path]
        iid = 1 + max((i["iid"] for i in issues), default=0)
        issue_id, self._next_issue_id = self._next_issue_id, self._next_issue_id + 1
        now = self.clock()
        stamp = format_time(now)
        issue: Json = {
            "id": issue_id,
            "iid": iid,
            "project_id": cat.PROJECT_IDS[path],
            "title": title,
            "description": params.get("description"),
            "state": "opened",
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "closed_by": None,
            "labels": sorted(labels, key=str.lower),
            "milestone": None,
            "assignees": [user_basic(a) for a in assignees],
            "assignee": user_basic(assignees[0]) if assignees else None,
            "author": user_basic(user),
            "type": issue_type.upper(),
            "issue_type": issue_type,
            "severity": "UNKNOWN",
            "user_notes_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": confidential,
            "discussion_locked": None,
            "web_url": f"{GITLAB_WEB}/{path}/-/issues/{iid}",
            "references": {"short": f"#{iid}", "relative": f"#{iid}", "full": f"{path}#{iid}"},
        }
        issue["severity"] = _severity(issue)
        issues.append(issue)
        self.label_events[path][iid] = self._label_events(issue, [], labels, stamp, user)
        at = parse_time(stamp)
        self.issue_times[path][iid] = (at, at)
        return httpx.Response(201, json=issue)


def _field_changes(params: dict[str, Any]) -> dict[str, Any]:
    """The checked non-label fields an edit sets; `state_event` is kept for the caller."""
    fields: dict[str, Any] = {}
    if "title" in params:
        title = str(params["title"] or "").strip()
        if not title:
            raise Blank("title")
        fields["title"] = title
    if "description" in params:
        fields["description"] = params["description"]
    if "confidential" in params:
        fields["confidential"] = _bool(params["confidential"], "confidential")
    if "issue_type" in params:
        if params["issue_type"] not in ISSUE_TYPES:
            raise BadRequest("issue_type does not have a valid value")
        fields["issue_type"] = params["issue_type"]
        fields["type"] = params["issue_type"].upper()
    if "state_event" in params:
        if params["state_event"] not in ("close", "reopen"):
            raise BadRequest("state_event does not have a valid value")
        fields["state_event"] = params["state_event"]
    return fields


def _severity(issue: Json) -> str:
    """The issue's severity the way the organisation derives it: from its severity label."""
    if issue["issue_type"] != "incident":
        return "UNKNOWN"
    level = next((label[-1] for label in issue["labels"] if label.startswith("severity::")), "")
    return cat.GITLAB_SEVERITY.get(int(level), "UNKNOWN") if level.isdigit() else "UNKNOWN"
