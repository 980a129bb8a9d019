"""risk scores of anonymous visitors' carts: visitor_id, customer_id nullable

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 16:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot change a column's nullability in place, so the table is rebuilt.
    with op.batch_alter_table("risk_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor_id", sa.String(length=64), nullable=True))
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # The old schema has no place for a score without a customer.
    op.execute(
        "UPDATE follow_ups SET risk_score_id = NULL WHERE risk_score_id IN "
        "(SELECT id FROM risk_scores WHERE customer_id IS NULL)"
    )
    op.execute("DELETE FROM risk_scores WHERE customer_id IS NULL")
    with op.batch_alter_table("risk_scores", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("visitor_id")
