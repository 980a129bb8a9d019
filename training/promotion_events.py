"""``model.promoted``: tell webhooks that a task's champion alias moved.

The alias lives in MLflow, not in the database, so the event cannot share its transaction:
it is written right after the alias moved, to the database named by ``database_url`` (the
worker and ``kundresa promote`` pass their settings'), else by ``DATABASE_URL``; with
neither (a notebook, the training tests) no event is written. A promotion is never undone because the event could not
be written; that is logged instead.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from shared.db.session import session_scope
from shared.outbox import enqueue
from shared.tasks import Task

log = logging.getLogger(__name__)


def _default_database_url() -> str | None:
    return os.environ.get("DATABASE_URL", "").strip() or None


def announce_promotion(
    task: Task, version: str, reason: str, database_url: str | None = None
) -> bool:
    """Enqueue ``model.promoted``; False when there is no database to write it to."""
    url = database_url or _default_database_url()
    if url is None:
        log.info("no database to record model.promoted in", extra={"task": task.name})
        return False
    payload = {
        "task": task.name,
        "model_name": task.model_name,
        "version": str(version),
        "reason": reason[:500],
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        with session_scope(url) as session:
            enqueue(session, "model.promoted", payload)
    except SQLAlchemyError:
        log.warning("model.promoted could not be recorded", exc_info=True)
        return False
    return True
