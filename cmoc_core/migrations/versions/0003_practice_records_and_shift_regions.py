"""practice records and shift regions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cmoc_core.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "practiceevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("quarter", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scheduled_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("facilitator_id", sa.Integer(), nullable=True),
        sa.Column("note_taker_id", sa.Integer(), nullable=True),
        sa.Column("cmoc_id", sa.Integer(), nullable=True),
        sa.Column("issue_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cmoc_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["facilitator_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["note_taker_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("practiceevent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practiceevent_region"), ["region"], unique=False)

    op.create_table(
        "practicedrill",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cmoc_id", sa.Integer(), nullable=True),
        sa.Column("working_incident_id", sa.Integer(), nullable=True),
        sa.Column("started_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("score", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cmoc_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["practiceevent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["working_incident_id"],
            ["workingincident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("practicedrill", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practicedrill_cmoc_id"), ["cmoc_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_practicedrill_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_practicedrill_finished_at"), ["finished_at"], unique=False
        )

    with op.batch_alter_table("oncallentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("oncallentry", schema=None) as batch_op:
        batch_op.drop_column("region")

    with op.batch_alter_table("practicedrill", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practicedrill_finished_at"))
        batch_op.drop_index(batch_op.f("ix_practicedrill_event_id"))
        batch_op.drop_index(batch_op.f("ix_practicedrill_cmoc_id"))

    op.drop_table("practicedrill")
    with op.batch_alter_table("practiceevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practiceevent_region"))

    op.drop_table("practiceevent")
