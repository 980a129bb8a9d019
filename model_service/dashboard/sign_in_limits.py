"""Failed sign-ins counted per key, atomically, with a block that doubles.

A key is a digest of a client address or of an e-mail (``failure_key``). ``count_attempt``
counts an attempt and chooses the key's next block in one statement, so parallel attempts can
neither read the same old count nor slip past a block being set; the rule that uses these
counts is ``users.authenticate``'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.db.tables import SignInFailure, UTCDateTime

# The first block after ``max_failed`` failures; each further failure doubles it.
FIRST_DELAY_SECONDS = 32
# A count with no failure for this long starts again from one.
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """The moment of an attempt and the settings that turn a count into a block."""

    now: datetime
    max_failed: int
    longest: timedelta

    def blocked_until(self, failures: int) -> datetime | None:
        if failures < self.max_failed:
            return None
        doublings = min(failures - self.max_failed, 32)  # 2**32 s is past any cap
        delay = timedelta(seconds=FIRST_DELAY_SECONDS * 2**doublings)
        return self.now + min(delay, self.longest)

    def steps(self) -> int:
        """How many failures past ``max_failed`` reach the longest delay."""
        step = 0
        while FIRST_DELAY_SECONDS * 2**step < self.longest.total_seconds() and step < 32:
            step += 1
        return step


@dataclass(frozen=True)
class Count:
    """One key's answer to an attempt: ``refused`` (blocked, not counted), else the count
    with this attempt and the block it started, if any."""

    refused: bool
    failures: int = 0
    blocked_until: datetime | None = None


def failure_key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def count_attempt(session: Session, key: str, limits: Limits) -> Count:
    """Count one attempt under ``key`` unless the key is blocked, in one atomic statement:
    INSERT ... ON CONFLICT DO UPDATE ... WHERE not blocked ... RETURNING (SQLite and
    PostgreSQL alike). The new block is chosen inside the statement from the new count."""
    table = SignInFailure.__table__
    when = UTCDateTime()
    forgotten = table.c.last_failed_at < literal(limits.now - FORGET_AFTER, when)
    failures = case((forgotten, 1), else_=table.c.failures + 1)
    blocks = [(failures < limits.max_failed, null())]
    for step in range(limits.steps() + 1):
        count = limits.max_failed + step
        blocks.append((failures == count, literal(limits.blocked_until(count), when)))
    longest = literal(limits.now + limits.longest, when)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(
            key=key,
            failures=1,
            last_failed_at=limits.now,
            blocked_until=limits.blocked_until(1),
        )
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": failures,
                "last_failed_at": limits.now,
                "blocked_until": case(*blocks, else_=longest),
            },
            where=or_(table.c.blocked_until.is_(None), table.c.blocked_until <= limits.now),
        )
        .returning(table.c.failures, table.c.blocked_until)
    )
    row = session.execute(statement).first()
    if row is None:
        blocked = session.scalar(select(SignInFailure.blocked_until).where(table.c.key == key))
        # None only if a success cleared the key in between: the block was ending anyway.
        return Count(refused=True, blocked_until=blocked or limits.now)
    return Count(refused=False, failures=row.failures, blocked_until=row.blocked_until)


def take_back(session: Session, key: str, counted: Count) -> None:
    """Undo an address's count of an attempt that succeeded, and the block it started."""
    table = SignInFailure.__table__
    session.execute(update(table).where(table.c.key == key).values(failures=table.c.failures - 1))
    if counted.blocked_until is not None:
        session.execute(
            update(table)
            .where(table.c.key == key, table.c.blocked_until == counted.blocked_until)
            .values(blocked_until=None)
        )


def forget(session: Session, key: str) -> None:
    """Clear a key's count and block (its owner proved who they are)."""
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))
