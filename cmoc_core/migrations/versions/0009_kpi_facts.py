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
        for table in KPI_SOURCES:  # once per statement: a bulk write costs one update
            op.execute(
                f"CREATE TRIGGER {table}_history AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_history_revision()"
            )
        return
    for table in KPI_SOURCES:  # SQLite's triggers run once per row
        for change in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_history_{change} AFTER {change.upper()} ON {table} "
                f"BEGIN {BUMP}; END"
            )


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
