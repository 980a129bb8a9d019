"""Revision 0003 closes follow-ups a race had taken twice before it makes them unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from shared.db.migrate import upgrade
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import Customer, FollowUp, FollowUpNote
from tests.shared.test_migrations import empty_database  # noqa: F401 — the fixture

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_upgrade_keeps_the_newest_open_follow_up_and_resolves_the_others(
    empty_database: str,  # noqa: F811
) -> None:
    upgrade(empty_database, "0002")
    dispose_engines()
    with session_scope(empty_database) as session:
        session.execute(insert(Customer), [{"id": "c1"}, {"id": "c2"}])
        rows = [
            ("c1", "brand_switch", "open", T0),
            ("c1", "brand_switch", "contacted", T0 + timedelta(minutes=1)),
            ("c1", "brand_switch", "open", T0 + timedelta(minutes=2)),
            ("c1", "brand_switch", "resolved", T0 - timedelta(days=9)),
            ("c1", "cart_abandonment", "open", T0),
            ("c2", "brand_switch", "open", T0),
        ]
        session.execute(
            FollowUp.__table__.insert(),
            [
                {
                    "customer_id": customer,
                    "task": task,
                    "status": status,
                    "assignee": "agent@shop.example",
                    "created_at": at,
                    "updated_at": at,
                }
                for customer, task, status, at in rows
            ],
        )
    dispose_engines()
    upgrade(empty_database)
    with session_scope(empty_database) as session:
        statuses = session.execute(select(FollowUp.id, FollowUp.status).order_by(FollowUp.id))
        assert [status for _id, status in statuses] == [
            "resolved",
            "resolved",
            "open",
            "resolved",
            "open",
            "open",
        ]
        notes = session.scalars(select(FollowUpNote).order_by(FollowUpNote.follow_up_id)).all()
        assert [(n.follow_up_id, n.status) for n in notes] == [(1, "resolved"), (2, "resolved")]
        assert "duplicate of follow-up 3" in notes[0].note
        assert session.get(FollowUp, 1).resolved_at is not None
    with pytest.raises(IntegrityError), session_scope(empty_database) as session:
        session.add(FollowUp(customer_id="c2", task="brand_switch", assignee="b@shop.example"))
