"""Request bodies as the fake servers read them: JSON, or an HTML form."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx

FORM_TYPE = "application/x-www-form-urlencoded"


def form_dict(text: str) -> dict[str, Any]:
    """An HTML form's fields; a name sent more than once maps to the list of its values."""
    fields: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name not in fields:
            fields[name] = value
        elif isinstance(fields[name], list):
            fields[name].append(value)
        else:
            fields[name] = [fields[name], value]
    return fields


def parse_body(content: bytes, content_type: str = "") -> Any:
    """The parsed JSON, or the form dict for a form; None when empty, else the raw text."""
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    if FORM_TYPE in content_type.lower():
        return form_dict(text)
    try:
        return json.loads(text)
    except ValueError:
        return text


def request_body(request: httpx.Request) -> Any:
    """`parse_body` of an already-read request."""
    return parse_body(request.content, request.headers.get("content-type", ""))
