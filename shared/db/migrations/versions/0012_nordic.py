"""sites.currency: the ISO 4217 currency of the shop's prices (SEK unless set)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 22:10:00

Set it with ``kundresa sites set-currency NAME DKK``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("currency", sa.String(length=3), nullable=False, server_default="SEK")
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("currency")
