"""the history revision moves on when rows change, not for statements that changed none

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The composer saves a working incident all through it: only these columns count (as in 0009).
WORKING = "workingincident"
COUNTED = ("issue_url", "practice")
BUMP = "UPDATE historyrevision SET revision = revision + 1 WHERE id = 1"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        # SQLite's triggers run once per row changed; a working incident's now only when a
        # column that counts holds a new value.
        _working_trigger(" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COUNTED))
        return
    # A statement's trigger runs even when the statement changed no row: a sync storing rows
    # as they are stored made the copy stale. The rows a statement changed are its transition
    # table (PostgreSQL's CREATE TRIGGER, REFERENCING); the revision moves on when it has any.
    op.execute(
        "CREATE FUNCTION bump_history_revision_if_changed() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN IF current_setting('cmoc.history_bumped', true) IS DISTINCT FROM 'on'"
        f" AND EXISTS (SELECT 1 FROM changed) THEN {BUMP};"
        " PERFORM set_config('cmoc.history_bumped', 'on', true); END IF; RETURN NULL; END $$"
    )
    for table in _triggered("_history"):  # the tables the KPI report reads, as 0009 made them
        op.execute(f"DROP TRIGGER {table}_history ON {table}")
        changes = {"insert": "NEW", "delete": "OLD"} | (
            {} if table == WORKING else {"update": "NEW"}
        )
        for change, rows in changes.items():
            op.execute(
                f"CREATE TRIGGER {table}_history_{change} AFTER {change.upper()} ON {table} "
                f"REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT "
                "EXECUTE FUNCTION bump_history_revision_if_changed()"
            )
        op.execute(
            f"CREATE TRIGGER {table}_history_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_history_revision()"
        )
    # A column list cannot go with a transition table; a working incident's rows are few.
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COUNTED)
    op.execute(
        f"CREATE TRIGGER {WORKING}_history_update AFTER UPDATE OF {', '.join(COUNTED)} "
        f"ON {WORKING} FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION bump_history_revision()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _working_trigger(None)
        return
    for table in _triggered("_history_insert"):
        for change in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_history_{change} ON {table}")
        update = f"UPDATE OF {', '.join(COUNTED)}" if table == WORKING else "UPDATE"
        op.execute(
            f"CREATE TRIGGER {table}_history AFTER INSERT OR {update} OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_history_revision()"
        )
    op.execute("DROP FUNCTION bump_history_revision_if_changed()")


def _triggered(suffix: str) -> list[str]:
    """The tables with a trigger named after them with `suffix`, on PostgreSQL."""
    found = op.get_bind().exec_driver_sql(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE t.tgname = c.relname || %(suffix)s ORDER BY c.relname",
        {"suffix": suffix},
    )
    return [table for (table,) in found]


def _working_trigger(when: str | None) -> None:
    """SQLite's trigger on updates of a working incident's counted columns, `when` given."""
    op.execute(f"DROP TRIGGER {WORKING}_history_update")
    op.execute(
        f"CREATE TRIGGER {WORKING}_history_update AFTER UPDATE OF {', '.join(COUNTED)} "
        f"ON {WORKING} {f'WHEN {when} ' if when else ''}BEGIN {BUMP}; END"
    )
