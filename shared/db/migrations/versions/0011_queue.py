"""the support queue: who a customer is, the shop's link, a due time per case

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 22:00:00
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Frozen here: a migration must not change when the default of the code does later.
DUE_WORKING_DAYS = 2


def _due(created: datetime) -> datetime:
    moment, left = created, DUE_WORKING_DAYS
    while left:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("external_url", sa.String(length=500), nullable=True))
    with op.batch_alter_table("follow_ups") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_follow_ups_due_at", ["due_at"])
    with op.batch_alter_table("follow_up_notes") as batch:
        batch.add_column(sa.Column("assigned_to", sa.String(length=254), nullable=True))
    # Cases taken before due times existed are due two working days after they were taken.
    bind = op.get_bind()
    follow_ups = sa.table(
        "follow_ups",
        sa.column("id", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("due_at", sa.DateTime(timezone=True)),
    )
    for row in bind.execute(sa.select(follow_ups.c.id, follow_ups.c.created_at)).all():
        created = row.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        due = _due(created)
        if bind.dialect.name == "sqlite":
            due = due.astimezone(UTC).replace(tzinfo=None)
        bind.execute(
            sa.update(follow_ups).where(follow_ups.c.id == row.id).values(due_at=due)
        )


def downgrade() -> None:
    with op.batch_alter_table("follow_up_notes") as batch:
        batch.drop_column("assigned_to")
    with op.batch_alter_table("follow_ups") as batch:
        batch.drop_index("ix_follow_ups_due_at")
        batch.drop_column("due_at")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("external_url")
    with op.batch_alter_table("customers") as batch:
        for column in ("site_id", "attributes", "phone", "email", "name"):
            batch.drop_column(column)
