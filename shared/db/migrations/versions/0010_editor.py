"""survey lifecycle and funnel: when a survey was published or archived; per impression its
stage and device and when the visitor started answering

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    # Surveys active before this revision were published; the inactive ones count as paused.
    surveys = sa.table(
        "surveys",
        sa.column("active", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("published_at", sa.DateTime(timezone=True)),
    )
    op.execute(surveys.update().values(published_at=surveys.c.created_at))
    with op.batch_alter_table("survey_impressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("device", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_survey_impressions_time", ["shown_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_impressions", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_impressions_time")
        batch_op.drop_column("started_at")
        batch_op.drop_column("device")
        batch_op.drop_column("stage")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
        batch_op.drop_column("published_at")
