"""Follow-ups: a support agent takes an at-risk customer and moves the case to resolved.

Statuses only move forward (open → contacted → resolved; a case may be resolved straight from
open); every change and note is kept in ``follow_up_notes``. The outcome of a case is read from
the risk history: the score when it was taken against the first score made after it was
resolved, so the team sees whether talking to the customer lowered the risk.

Every case is due a number of working days after it was taken (``due_at``) and is overdue
after that until resolved; it can be handed to another active user. Every change (taken,
assigned, moved) writes a ``follow_up.changed`` outbox event in the same transaction, with ids
and states only, never the customer's personal data.

A resolved customer is not offered again until a score made after the resolution is high
again (``offered_again``): the at-risk list's "no follow-up yet" and the Cases page say so too.

Every function takes the caller's session; the ones that change something commit it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model_service.working_days import add_working_days
from shared import outbox
from shared.db.tables import Customer, FollowUp, FollowUpNote, RiskScore, User
from shared.errors import Conflict, Invalid, NotFound
from shared.tasks import TASK_NAMES

STATUSES: tuple[str, ...] = ("open", "contacted", "resolved")
ALLOWED_MOVES: dict[str, set[str]] = {
    "open": {"open", "contacted", "resolved"},
    "contacted": {"contacted", "resolved"},
    "resolved": {"resolved"},
}
NOTE_MAX_LENGTH = 2000
DEFAULT_DUE_WORKING_DAYS = 2
CHANGED = "follow_up.changed"


def is_allowed_move(current: str, new: str) -> bool:
    """Whether a case may go from ``current`` to ``new`` (staying put adds a note)."""
    return new in ALLOWED_MOVES.get(current, set())


def take_follow_up(
    session: Session,
    customer_id: str,
    task: str,
    assignee: str,
    note: str | None = None,
    *,
    author: str | None = None,
    due_working_days: int = DEFAULT_DUE_WORKING_DAYS,
) -> dict[str, Any]:
    """Open a follow-up for an at-risk customer, linked to their newest score of ``task``,
    due ``due_working_days`` working days from now. ``author`` (default: the assignee) is who
    opened it; handing it straight to someone else needs them to be an active user.

    The database keeps one case in progress per customer and task (a partial unique index):
    the insert is tried and a refused one is the Conflict, so of agents taking the same
    customer at once exactly one succeeds. A savepoint keeps a caller's session usable.
    """
    if task not in TASK_NAMES:
        message = f"Unknown task; use one of {', '.join(TASK_NAMES)}."
        raise Invalid(message, field="task")
    author = author or assignee
    if assignee != author:
        check_assignee(session, assignee)
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"No customer {customer_id!r}.", field="customer_id")
    score_id = session.scalar(
        select(RiskScore.id)
        .where(RiskScore.customer_id == customer_id, RiskScore.task == task)
        .order_by(RiskScore.as_of.desc(), RiskScore.id.desc())
        .limit(1)
    )
    now = datetime.now(UTC)
    follow_up = FollowUp(
        customer_id=customer_id,
        task=task,
        assignee=assignee,
        risk_score_id=score_id,
        created_at=now,
        updated_at=now,
        due_at=add_working_days(now, due_working_days),
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
    session.add(
        FollowUpNote(
            follow_up_id=follow_up.id,
            author=author,
            status="open",
            note=note,
            assigned_to=assignee if assignee != author else None,
        )
    )
    announce(session, follow_up, change="taken", by=author)
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
    assignee: str | None = None,
) -> dict[str, Any]:
    """Move a case forward, hand it to another active user and/or add a note; every change
    is kept as a note line."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"Status must be one of {', '.join(STATUSES)}.", field="status")
    if status is None and not note and assignee is None:
        raise Invalid("Send a new status, an assignee, a note, or some of them.", field="status")
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(f"No follow-up {follow_up_id}.", field="id")
    new_status = status or follow_up.status
    if not is_allowed_move(follow_up.status, new_status):
        raise Invalid(f"A {follow_up.status} follow-up cannot become {new_status}.", field="status")
    reassigned = assignee is not None and assignee != follow_up.assignee
    if reassigned:
        if follow_up.status == "resolved":
            raise Invalid("A resolved follow-up cannot be handed on.", field="assignee")
        check_assignee(session, assignee)
        follow_up.assignee = assignee
    now = datetime.now(UTC)
    moved = new_status != follow_up.status
    follow_up.status = new_status
    follow_up.updated_at = now
    if new_status == "resolved" and follow_up.resolved_at is None:
        follow_up.resolved_at = now
    session.add(
        FollowUpNote(
            follow_up_id=follow_up.id,
            author=author,
            status=new_status,
            note=note,
            assigned_to=assignee if reassigned else None,
        )
    )
    if moved or reassigned:
        announce(session, follow_up, change="moved" if moved else "assigned", by=author)
    session.flush()
    view = follow_up_view(session, follow_up)
    session.commit()
    return view


def check_assignee(session: Session, assignee: str) -> None:
    """A case goes only to someone who can open the dashboard: an active user."""
    active = session.scalar(select(User.id).where(User.email == assignee, User.active.is_(True)))
    if active is None:
        raise Invalid("Assign to an active dashboard user (their e-mail).", field="assignee")


def announce(session: Session, follow_up: FollowUp, *, change: str, by: str) -> None:
    """The ``follow_up.changed`` outbox event of a change, in the caller's transaction: ids
    and states for a helpdesk to act on, no name, e-mail or note of the customer."""
    site_id = session.scalar(select(Customer.site_id).where(Customer.id == follow_up.customer_id))
    outbox.enqueue(
        session,
        CHANGED,
        {
            "follow_up_id": follow_up.id,
            "customer_id": follow_up.customer_id,
            "task": follow_up.task,
            "change": change,
            "status": follow_up.status,
            "assignee": follow_up.assignee,
            "changed_by": by,
            "due_at": follow_up.due_at.isoformat() if follow_up.due_at else None,
        },
        site_id=str(site_id) if site_id is not None else None,
    )


def offered_again(
    resolved_at: datetime | None, newest_as_of: datetime | None, newest_band: str | None
) -> bool:
    """Whether a customer whose last case was resolved at ``resolved_at`` is offered again:
    only when a score made after the resolution is high (one call per risk, not per look)."""
    if resolved_at is None:
        return True
    return newest_as_of is not None and newest_as_of > resolved_at and newest_band == "high"


def is_overdue(follow_up: FollowUp, now: datetime | None = None) -> bool:
    if follow_up.status == "resolved" or follow_up.due_at is None:
        return False
    return follow_up.due_at < (now or datetime.now(UTC))


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
    notes = list(notes)
    resolved_by = next((n.author for n in reversed(notes) if n.status == "resolved"), None)
    return {
        "id": follow_up.id,
        "customer_id": follow_up.customer_id,
        "task": follow_up.task,
        "status": follow_up.status,
        "assignee": follow_up.assignee,
        "created_at": follow_up.created_at,
        "updated_at": follow_up.updated_at,
        "due_at": follow_up.due_at,
        "overdue": is_overdue(follow_up),
        "resolved_at": follow_up.resolved_at,
        "resolved_by": resolved_by,
        "risk_before": before.probability if before else None,
        "risk_after": after.probability if after else None,
        "risk_change": after.probability - before.probability if before and after else None,
        "notes": [
            {
                "author": n.author,
                "status": n.status,
                "note": n.note,
                "assigned_to": n.assigned_to,
                "at": n.created_at,
            }
            for n in notes
        ],
    }
