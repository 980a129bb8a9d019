"""identity link history; privacy requests name the customer by a keyed pseudonym

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_links_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_identity_links_visitor_id"), ["visitor_id"], unique=False
        )
    # What came before is unknown: each current link becomes one open link.
    op.execute(
        "INSERT INTO identity_links (visitor_id, customer_id, linked_at) "
        "SELECT visitor_id, customer_id, linked_at FROM identities"
    )
    # The digest needs the app's secret key, which a migration does not have: old lines keep
    # their raw id until the customer is erased (survey_service.customer_data).
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_digest", sa.String(length=64), nullable=True))
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_index(
            batch_op.f("ix_privacy_requests_customer_digest"), ["customer_digest"], unique=False
        )


def downgrade() -> None:
    # The old schema needs a value: a line without a raw id keeps its digest there.
    op.execute(
        "UPDATE privacy_requests SET customer_id = customer_digest WHERE customer_id IS NULL"
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_requests_customer_digest"))
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("customer_digest")
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_links_visitor_id"))
        batch_op.drop_index(batch_op.f("ix_identity_links_customer_id"))
    op.drop_table("identity_links")
