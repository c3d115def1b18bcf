"""the KPI report's columnar copy, and the history revision that tells when it is stale

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The tables the KPI report reads.
KPI_SOURCES = (
    "person",
    "identity",
    "oncallentry",
    "pagerdutyincident",
    "statuspageincident",
    "statuspagemessage",
    "gitlabissue",
    "gitlablabelevent",
    "stakeholderthread",
    "practicedrill",
    "severitychange",
    "workingincident",
)
# Of tables the app rewrites all through an incident, only the columns the report reads: the
# composer saving an incident's state must not make the dashboards' copy stale.
UPDATED_COLUMNS = {"workingincident": "issue_url, practice"}
BUMP = "UPDATE historyrevision SET revision = revision + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "historyrevision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO historyrevision (id, revision) VALUES (1, 0)")
    op.create_table(
        "kpifacts",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", "name"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Arrow data compresses little, and decompressing it costs more than reading it.
        op.execute("ALTER TABLE kpifacts ALTER COLUMN data SET STORAGE EXTERNAL")
        # Once per transaction: each update of the one row adds a row version, and a bulk write
        # sent row by row would otherwise update it once per row.
        op.execute(
            "CREATE FUNCTION bump_history_revision() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF current_setting('cmoc.history_bumped', true) IS DISTINCT FROM 'on' THEN"
            f" {BUMP}; PERFORM set_config('cmoc.history_bumped', 'on', true);"
            " END IF; RETURN NULL; END $$"
        )
        for table in KPI_SOURCES:
            update = _update(table)
            op.execute(
                f"CREATE TRIGGER {table}_history AFTER INSERT OR {update} OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_history_revision()"
            )
        return
    for table in KPI_SOURCES:  # SQLite's triggers run once per row
        events = {"insert": "INSERT", "update": _update(table), "delete": "DELETE"}
        for change, event in events.items():
            op.execute(
                f"CREATE TRIGGER {table}_history_{change} AFTER {event} ON {table} "
                f"BEGIN {BUMP}; END"
            )


def _update(table: str) -> str:
    """The update event that moves the revision on: of any column, or of those the report reads."""
    columns = UPDATED_COLUMNS.get(table)
    return f"UPDATE OF {columns}" if columns else "UPDATE"


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in KPI_SOURCES:
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_history ON {table}")
        else:
            for change in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_history_{change}")
    if postgresql:
        op.execute("DROP FUNCTION bump_history_revision()")
    op.drop_table("kpifacts")
    op.drop_table("historyrevision")
