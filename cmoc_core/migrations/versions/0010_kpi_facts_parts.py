"""the KPI report's copy kept in parts of at most a mebibyte

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The copy is made again from the history when it is missing: nothing is lost.
    op.drop_table("kpifacts")
    _create(("key", "name", "part"))


def downgrade() -> None:
    op.drop_table("kpifacts")
    _create(("key", "name"))


def _create(primary_key: tuple[str, ...]) -> None:
    """The copy's table, keyed by `primary_key`."""
    op.create_table(
        "kpifacts",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        *([sa.Column("part", sa.Integer(), nullable=False)] if "part" in primary_key else []),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Arrow data compresses little, and decompressing it costs more than reading it.
        op.execute("ALTER TABLE kpifacts ALTER COLUMN data SET STORAGE EXTERNAL")
