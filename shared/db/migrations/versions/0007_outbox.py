"""outbox_events: what webhooks must hear about, written with its cause

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_events_event", "outbox_events", ["event"])
    op.create_index("ix_outbox_events_created_at", "outbox_events", ["created_at"])
    op.create_index("ix_outbox_events_dispatched_at", "outbox_events", ["dispatched_at"])


def downgrade() -> None:
    op.drop_table("outbox_events")
