"""the past status-page incident a practice drill replays

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practicedrill", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source_incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("practicedrill", schema=None) as batch_op:
        batch_op.drop_column("source_incident_id")
