"""Reading JSON answers: fast, and the same as the standard library on every valid body."""

from __future__ import annotations

import json

import pytest

from cmoc_core.clients.http import loads


@pytest.mark.parametrize(
    "body",
    [
        b'{"incidents": [{"id": "PABC123", "incident_number": 182679}], "more": false}',
        b'{"n": 123456789012345678901234567890}',
        '{"title": "Degraded performance – CI runners ✓"}'.encode(),
        b"[]",
    ],
)
def test_every_valid_body_reads_as_the_standard_library_reads_it(body):
    assert loads(body) == json.loads(body)


@pytest.mark.parametrize("body", [b"", b"ok", b'{"incidents": [', b"<html>502</html>"])
def test_a_body_that_is_not_json_is_a_value_error(body):
    with pytest.raises(ValueError):
        loads(body)
