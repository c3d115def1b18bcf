"""The layers point one way: only cmoc_core/ui imports streamlit; pages and views reach no SQL."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_cmoc_core_outside_ui_never_imports_streamlit():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "cmoc_core").rglob("*.py")
        if "ui" not in path.relative_to(ROOT / "cmoc_core").parts[:1]
        and "streamlit" in imported_modules(path)
    ]
    assert offenders == []


def test_the_check_sees_a_streamlit_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from streamlit import session_state\n")
    assert "streamlit" in imported_modules(probe)


def test_pages_reach_no_http_or_sql_directly():
    forbidden = {"httpx", "sqlalchemy", "sqlmodel", "sqlite3", "psycopg", "requests"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & forbidden)
        for path in [ROOT / "app.py", *(ROOT / "app_pages").glob("*.py")]
        if imported_modules(path) & forbidden
    }
    assert offenders == {}


def test_views_reach_no_sql_or_http_directly():
    # deps.py owns the engine and the sessions; every other ui module only draws.
    forbidden = {"sqlmodel", "sqlalchemy", "httpx", "sqlite3", "psycopg"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & forbidden)
        for path in (ROOT / "cmoc_core" / "ui").glob("*.py")
        if path.name != "deps.py" and imported_modules(path) & forbidden
    }
    assert offenders == {}


def _loaded_after(imports: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `imports`."""
    probe = (
        f"import sys\n{imports}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_the_first_page_and_the_kpis_command_leave_heavy_libraries_unloaded():
    # pandas takes half a second to load: the composer (the first page) never needs it, and
    # a report's PDF libraries load only when a report is asked for.
    first_page = _loaded_after(
        "import app_pages, cmoc_core.ui.composer_view, cmoc_core.ui.signin, cmoc_core.ui.freshness"
    )
    assert {"pandas", "kaleido", "fpdf"} & first_page == set()
    assert "streamlit" in first_page  # the probe loaded what it says
    kpi_page = _loaded_after("import cmoc_core.ui.kpi_data, cmoc_core.ui.charts, cmoc_core.kpis")
    assert {"kaleido", "fpdf"} & kpi_page == set()
    assert "pandas" in kpi_page
    command = _loaded_after("import cmoc_core.cli")
    assert {"pandas", "httpx", "alembic"} & command == set()
