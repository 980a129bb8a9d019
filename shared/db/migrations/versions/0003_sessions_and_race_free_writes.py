"""one open follow-up per customer and task, session versions, atomic sign-in failure counts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 20:45:00

Follow-ups taken twice by a race before this revision are closed before the unique index is
made: per customer and task the newest case still in progress is kept, every older one is
resolved with a note saying it duplicated the kept one (nothing is deleted: the notes of a
duplicate stay readable). The users' own lock-out columns give way to ``sign_in_failures``;
their counts are not carried over (at worst a locked account is unlocked by the upgrade).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN_FOLLOW_UP = "status <> 'resolved'"
MIGRATION_AUTHOR = "kundresa db upgrade"


def upgrade() -> None:
    _resolve_duplicate_open_follow_ups()
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(
            "uq_follow_ups_open",
            ["customer_id", "task"],
            unique=True,
            sqlite_where=sa.text(OPEN_FOLLOW_UP),
            postgresql_where=sa.text(OPEN_FOLLOW_UP),
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("session_version")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index("uq_follow_ups_open")


def _resolve_duplicate_open_follow_ups() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            f"SELECT id, customer_id, task FROM follow_ups WHERE {OPEN_FOLLOW_UP} "
            "ORDER BY customer_id, task, created_at DESC, id DESC"
        )
    ).all()
    kept: dict[tuple[str, str], int] = {}
    _when = sa.bindparam("now", type_=sa.DateTime(timezone=True))
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # the tables keep naive UTC on SQLite
    for follow_up_id, customer_id, task in rows:
        newest = kept.setdefault((customer_id, task), follow_up_id)
        if newest == follow_up_id:
            continue
        connection.execute(
            sa.text(
                "UPDATE follow_ups SET status = 'resolved', resolved_at = :now, "
                "updated_at = :now WHERE id = :id"
            ).bindparams(_when),
            {"now": now, "id": follow_up_id},
        )
        connection.execute(
            sa.text(
                "INSERT INTO follow_up_notes (follow_up_id, author, status, note, created_at) "
                "VALUES (:id, :author, 'resolved', :note, :now)"
            ).bindparams(_when),
            {
                "id": follow_up_id,
                "author": MIGRATION_AUTHOR,
                "note": (
                    f"Closed by the upgrade as a duplicate of follow-up {newest}: "
                    "one case per customer and task may be in progress."
                ),
                "now": now,
            },
        )
