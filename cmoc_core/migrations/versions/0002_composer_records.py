"""composer records

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cmoc_core.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auditentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auditentry_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_auditentry_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "draft",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "workingincident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("statuspage_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("practice", sa.Boolean(), nullable=False),
        sa.Column("statuspage_incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("severity", sa.Integer(), nullable=True),
        sa.Column("issue_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("pagerduty_incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("slack_channel", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("zoom_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("opened_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("post_mortem_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("last_posted_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_text", sa.Text(), nullable=True),
        sa.Column("draft_revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workingincident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workingincident_statuspage_incident_id"),
            ["statuspage_incident_id"],
            unique=False,
        )

    op.create_table(
        "outboxentry",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["workingincident.id"],
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("outboxentry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outboxentry_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outboxentry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outboxentry_incident_id"))

    op.drop_table("outboxentry")
    with op.batch_alter_table("workingincident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workingincident_statuspage_incident_id"))

    op.drop_table("workingincident")
    op.drop_table("draft")
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auditentry_incident_id"))
        batch_op.drop_index(batch_op.f("ix_auditentry_at"))

    op.drop_table("auditentry")
