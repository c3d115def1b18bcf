"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cmoc_core.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "component",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("statuspage_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("component_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("container_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("container_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("component", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_statuspage_id"), ["statuspage_id"], unique=False
        )

    op.create_table(
        "gitlabissue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("iid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "closed_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=True),
        sa.Column("author_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("assignee_ids", sa.JSON(), nullable=False),
        sa.Column("web_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "label_events_synced_for",
            cmoc_core.models.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_path", "iid"),
    )
    with op.batch_alter_table("gitlabissue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gitlabissue_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_gitlabissue_kind"), ["kind"], unique=False)

    op.create_table(
        "maintenance",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("statuspage_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column(
            "planned_start", cmoc_core.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "planned_end", cmoc_core.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("maintenance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_maintenance_statuspage_id"), ["statuspage_id"], unique=False
        )

    op.create_table(
        "oncallentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("schedule_kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("start", cmoc_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "user_id", "start"),
    )
    with op.batch_alter_table("oncallentry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oncallentry_schedule_id"), ["schedule_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oncallentry_start"), ["start"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oncallentry_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "pagerdutyincident",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "created_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "resolved_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("html_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "acknowledged_at",
            cmoc_core.models.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("production_issue_iid", sa.Integer(), nullable=True),
        sa.Column(
            "statuspage_incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pagerdutyincident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pagerdutyincident_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pagerdutyincident_service_id"), ["service_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pagerdutyincident_statuspage_incident_id"),
            ["statuspage_incident_id"],
            unique=False,
        )

    op.create_table(
        "pagerdutylogentry",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "created_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("agent_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("agent_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pagerdutylogentry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pagerdutylogentry_incident_id"),
            ["incident_id"],
            unique=False,
        )

    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "personmapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("person_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "external_id"),
    )
    op.create_table(
        "stakeholderthread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "statuspage_incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False
        ),
        sa.Column(
            "posted_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stakeholderthread", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stakeholderthread_statuspage_incident_id"),
            ["statuspage_incident_id"],
            unique=False,
        )

    op.create_table(
        "statuspageincident",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("statuspage_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "datetime_open", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("post_mortem_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("production_issue_iid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("statuspageincident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statuspageincident_datetime_open"),
            ["datetime_open"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_statuspageincident_production_issue_iid"),
            ["production_issue_iid"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_statuspageincident_statuspage_id"),
            ["statuspage_id"],
            unique=False,
        )

    op.create_table(
        "syncstate",
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cursor", cmoc_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_attempt_at",
            cmoc_core.models.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "last_success_at",
            cmoc_core.models.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )
    op.create_table(
        "gitlablabelevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("label_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "created_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["gitlabissue.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gitlablabelevent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gitlablabelevent_issue_id"), ["issue_id"], unique=False
        )

    op.create_table(
        "identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "external_id"),
    )
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "maintenancemessage",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("maintenance_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=True),
        sa.Column(
            "posted_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["maintenance_id"],
            ["maintenance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("maintenancemessage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_maintenancemessage_maintenance_id"),
            ["maintenance_id"],
            unique=False,
        )

    op.create_table(
        "statuspagemessage",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("incident_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column(
            "posted_at", cmoc_core.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["statuspageincident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("statuspagemessage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statuspagemessage_incident_id"),
            ["incident_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_statuspagemessage_posted_at"), ["posted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("statuspagemessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statuspagemessage_posted_at"))
        batch_op.drop_index(batch_op.f("ix_statuspagemessage_incident_id"))

    op.drop_table("statuspagemessage")
    with op.batch_alter_table("maintenancemessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenancemessage_maintenance_id"))

    op.drop_table("maintenancemessage")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_person_id"))

    op.drop_table("identity")
    with op.batch_alter_table("gitlablabelevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gitlablabelevent_issue_id"))

    op.drop_table("gitlablabelevent")
    op.drop_table("syncstate")
    with op.batch_alter_table("statuspageincident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statuspageincident_statuspage_id"))
        batch_op.drop_index(batch_op.f("ix_statuspageincident_production_issue_iid"))
        batch_op.drop_index(batch_op.f("ix_statuspageincident_datetime_open"))

    op.drop_table("statuspageincident")
    with op.batch_alter_table("stakeholderthread", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stakeholderthread_statuspage_incident_id"))

    op.drop_table("stakeholderthread")
    op.drop_table("personmapping")
    op.drop_table("person")
    with op.batch_alter_table("pagerdutylogentry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pagerdutylogentry_incident_id"))

    op.drop_table("pagerdutylogentry")
    with op.batch_alter_table("pagerdutyincident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pagerdutyincident_statuspage_incident_id"))
        batch_op.drop_index(batch_op.f("ix_pagerdutyincident_service_id"))
        batch_op.drop_index(batch_op.f("ix_pagerdutyincident_created_at"))

    op.drop_table("pagerdutyincident")
    with op.batch_alter_table("oncallentry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oncallentry_user_id"))
        batch_op.drop_index(batch_op.f("ix_oncallentry_start"))
        batch_op.drop_index(batch_op.f("ix_oncallentry_schedule_id"))

    op.drop_table("oncallentry")
    with op.batch_alter_table("maintenance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenance_statuspage_id"))

    op.drop_table("maintenance")
    with op.batch_alter_table("gitlabissue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gitlabissue_kind"))
        batch_op.drop_index(batch_op.f("ix_gitlabissue_created_at"))

    op.drop_table("gitlabissue")
    with op.batch_alter_table("component", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_statuspage_id"))

    op.drop_table("component")
