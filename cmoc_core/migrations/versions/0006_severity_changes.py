"""severity changes made in the cockpit, with their time and who made them

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cmoc_core.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "severitychange",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["workingincident.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("severitychange", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_severitychange_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_severitychange_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("severitychange", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_severitychange_incident_id"))
        batch_op.drop_index(batch_op.f("ix_severitychange_at"))
    op.drop_table("severitychange")
