"""survey fatigue: per-site global cooldowns and cap, a priority per survey

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:40:00

Chained after 0004 (written in parallel, ordered at merge).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SITE_COLUMNS = {
    "global_cooldown_shown_days": "14",
    "global_cooldown_answered_days": "30",
    "max_surveys_per_period": "3",
    "period_days": "90",
}
# The priorities by kind as they were when this revision was written (shared/surveys.py).
PRIORITY_BY_KIND = {
    "post_purchase": 40,
    "cart_abandonment": 30,
    "support_ces": 20,
    "relationship_nps": 10,
    "custom": 10,
}


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        for name, default in SITE_COLUMNS.items():
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=default)
            )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.Integer(), nullable=False, server_default="10")
        )
    surveys = sa.table("surveys", sa.column("kind", sa.String), sa.column("priority", sa.Integer))
    for kind, priority in PRIORITY_BY_KIND.items():
        op.execute(surveys.update().where(surveys.c.kind == kind).values(priority=priority))


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_column("priority")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        for name in reversed(SITE_COLUMNS):
            batch_op.drop_column(name)
