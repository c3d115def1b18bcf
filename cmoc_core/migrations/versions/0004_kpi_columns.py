"""when each incident opened, and the announced next updates, stored with the history

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import cmoc_core.models

from cmoc_core.cadence import announcement_columns

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 5_000
ANNOUNCED = ("announced_minutes", "announced_clock")


def upgrade() -> None:
    with op.batch_alter_table("statuspagemessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announced_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("announced_clock", sa.Integer(), nullable=True))
    with op.batch_alter_table("statuspageincident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "first_message_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_statuspageincident_first_message_at"), ["first_message_at"], unique=False
        )
    op.execute(
        "UPDATE statuspageincident SET first_message_at = coalesce("
        "(SELECT min(m.posted_at) FROM statuspagemessage m WHERE m.incident_id = statuspageincident.id),"
        " datetime_open)"
    )
    messages = sa.table(
        "statuspagemessage",
        sa.column("id", sa.String()),
        sa.column("details", sa.Text()),
        sa.column("announced_minutes", sa.Float()),
        sa.column("announced_clock", sa.Integer()),
    )
    connection = op.get_bind()
    found = [
        {"message_id": row.id, **announcement_columns(row.details)}
        for row in connection.execute(sa.select(messages.c.id, messages.c.details))
    ]
    announcing = [row for row in found if any(row[k] is not None for k in ANNOUNCED)]
    update = (
        messages.update()
        .where(messages.c.id == sa.bindparam("message_id"))
        .values(
            announced_minutes=sa.bindparam("announced_minutes"),
            announced_clock=sa.bindparam("announced_clock"),
        )
    )
    for start in range(0, len(announcing), BATCH):
        connection.execute(update, announcing[start : start + BATCH])


def downgrade() -> None:
    with op.batch_alter_table("statuspageincident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statuspageincident_first_message_at"))
        batch_op.drop_column("first_message_at")
    with op.batch_alter_table("statuspagemessage", schema=None) as batch_op:
        batch_op.drop_column("announced_clock")
        batch_op.drop_column("announced_minutes")
