"""AppTest runs pages without a server: nothing of theirs goes on running in the background."""

from __future__ import annotations

import threading

from streamlit.testing.v1 import AppTest


def refreshers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "cmoc-refresher" and t.is_alive()}


def test_a_page_run_by_apptest_starts_no_background_refresher(app: AppTest) -> None:
    before = refreshers()
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title, "the page did not draw"
    assert refreshers() - before == set()
