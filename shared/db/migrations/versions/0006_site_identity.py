"""sites: identity secret and whether customer ids must be signed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 20:30:00

Sites made before this revision get no secret and do not require signatures, so running shops
keep working; each is named in a warning, with the command that gives it a secret.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "require_identity_signature",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    names = [row[0] for row in op.get_bind().execute(sa.text("SELECT name FROM sites"))]
    for name in names:
        log.warning(
            "site %r accepts unsigned customer ids from browsers; once its server signs them, "
            "run: kundresa sites rotate-secret %r --require",
            name,
            name,
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("require_identity_signature")
        batch_op.drop_column("identity_secret")
