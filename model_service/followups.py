"""Follow-ups: a support agent takes an at-risk customer and moves the case to resolved.

Statuses only move forward (open → contacted → resolved; a case may be resolved straight from
open); every change and note is kept in ``follow_up_notes``. The outcome of a case is read from
the risk history: the score when it was taken against the first score made after it was
resolved, so the team sees whether talking to the customer lowered the risk.

Every function takes the caller's session; the ones that change something commit it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.db.tables import Customer, FollowUp, FollowUpNote, RiskScore
from shared.errors import Conflict, Invalid, NotFound
from shared.tasks import TASK_NAMES

STATUSES: tuple[str, ...] = ("open", "contacted", "resolved")
ALLOWED_MOVES: dict[str, set[str]] = {
    "open": {"open", "contacted", "resolved"},
    "contacted": {"contacted", "resolved"},
    "resolved": {"resolved"},
}
NOTE_MAX_LENGTH = 2000


def is_allowed_move(current: str, new: str) -> bool:
    """Whether a case may go from ``current`` to ``new`` (staying put adds a note)."""
    return new in ALLOWED_MOVES.get(current, set())


def take_follow_up(
    session: Session, customer_id: str, task: str, assignee: str, note: str | None = None
) -> dict[str, Any]:
    """Open a follow-up for an at-risk customer, linked to their newest score of ``task``.

    The database keeps one case in progress per customer and task (a partial unique index):
    the insert is tried and a refused one is the Conflict, so of agents taking the same
    customer at once exactly one succeeds. A savepoint keeps a caller's session usable.
    """
    if task not in TASK_NAMES:
        message = f"Unknown task; use one of {', '.join(TASK_NAMES)}."
        raise Invalid(message, field="task")
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"No customer {customer_id!r}.", field="customer_id")
    score_id = session.scalar(
        select(RiskScore.id)
        .where(RiskScore.customer_id == customer_id, RiskScore.task == task)
        .order_by(RiskScore.as_of.desc(), RiskScore.id.desc())
        .limit(1)
    )
    follow_up = FollowUp(
        customer_id=customer_id, task=task, assignee=assignee, risk_score_id=score_id
    )
    try:
        with session.begin_nested():
            session.add(follow_up)
            session.flush()
    except IntegrityError:
        existing = session.scalar(
            select(FollowUp).where(
                FollowUp.customer_id == customer_id,
                FollowUp.task == task,
                FollowUp.status != "resolved",
            )
        )
        if existing is None:
            raise
        raise Conflict(
            f"{existing.assignee} already follows this customer up (follow-up {existing.id}).",
            field="customer_id",
        ) from None
    session.add(FollowUpNote(follow_up_id=follow_up.id, author=assignee, status="open", note=note))
    session.flush()
    view = follow_up_view(session, follow_up)
    session.commit()
    return view


def update_follow_up(
    session: Session,
    follow_up_id: int,
    *,
    author: str,
    status: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Move a case forward and/or add a note; every change is kept as a note line."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"Status must be one of {', '.join(STATUSES)}.", field="status")
    if status is None and not note:
        raise Invalid("Send a new status, a note, or both.", field="status")
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(f"No follow-up {follow_up_id}.", field="id")
    new_status = status or follow_up.status
    if not is_allowed_move(follow_up.status, new_status):
        raise Invalid(f"A {follow_up.status} follow-up cannot become {new_status}.", field="status")
    now = datetime.now(UTC)
    follow_up.status = new_status
    follow_up.updated_at = now
    if new_status == "resolved" and follow_up.resolved_at is None:
        follow_up.resolved_at = now
    session.add(
        FollowUpNote(follow_up_id=follow_up.id, author=author, status=new_status, note=note)
    )
    session.flush()
    view = follow_up_view(session, follow_up)
    session.commit()
    return view


def get_follow_up(session: Session, follow_up_id: int) -> dict[str, Any]:
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(f"No follow-up {follow_up_id}.", field="id")
    return follow_up_view(session, follow_up)


def customer_follow_ups(session: Session, customer_id: str) -> list[dict[str, Any]]:
    """Every follow-up of one customer, newest first, with notes and outcome."""
    rows = session.scalars(
        select(FollowUp)
        .where(FollowUp.customer_id == customer_id)
        .order_by(FollowUp.created_at.desc(), FollowUp.id.desc())
    )
    return [follow_up_view(session, row) for row in rows]


def follow_up_view(session: Session, follow_up: FollowUp) -> dict[str, Any]:
    """A follow-up with its notes and the risk before it was taken and after it was resolved."""
    notes = session.scalars(
        select(FollowUpNote)
        .where(FollowUpNote.follow_up_id == follow_up.id)
        .order_by(FollowUpNote.created_at, FollowUpNote.id)
    )
    before = session.get(RiskScore, follow_up.risk_score_id) if follow_up.risk_score_id else None
    after = None
    if follow_up.resolved_at is not None:
        after = session.scalar(
            select(RiskScore)
            .where(
                RiskScore.customer_id == follow_up.customer_id,
                RiskScore.task == follow_up.task,
                RiskScore.as_of >= follow_up.resolved_at,
            )
            .order_by(RiskScore.as_of, RiskScore.id)
            .limit(1)
        )
    return {
        "id": follow_up.id,
        "customer_id": follow_up.customer_id,
        "task": follow_up.task,
        "status": follow_up.status,
        "assignee": follow_up.assignee,
        "created_at": follow_up.created_at,
        "updated_at": follow_up.updated_at,
        "resolved_at": follow_up.resolved_at,
        "risk_before": before.probability if before else None,
        "risk_after": after.probability if after else None,
        "risk_change": after.probability - before.probability if before and after else None,
        "notes": [
            {"author": n.author, "status": n.status, "note": n.note, "at": n.created_at}
            for n in notes
        ],
    }
