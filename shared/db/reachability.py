"""Whether this process can reach its database, so that an outage is logged once when it
starts and once when it ends instead of a traceback per request.

``lost`` is called by the error handler that answers 503 (``shared.web``); ``regained`` by the
engines when a connection is checked out again (``shared.db.session``), which after a
disconnect needs a fresh connection: SQLAlchemy renews the whole pool on a disconnect.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)


def _driver_errors() -> tuple[type[BaseException], ...]:
    # The survey service's write path checks out raw DBAPI connections: a refused connection
    # then reaches the app as the driver's own error, not wrapped by SQLAlchemy.
    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg
    except ImportError:  # a SQLite-only install
        pass
    else:
        errors.append(psycopg.OperationalError)
    return tuple(errors)


DRIVER_OPERATIONAL_ERRORS = _driver_errors()
# SQLite says OperationalError for a wrong statement too ("no such table"): a bug, no outage.
_SQLITE_STATEMENT_ERRORS = ("no such ", "near ", "table ", "incomplete input")


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached (down, restarting, disconnected,
    or every pooled connection busy for the pool's timeout) rather than that a query is wrong."""
    if isinstance(error, DisconnectionError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        return isinstance(error, OperationalError) and not _sqlite_statement_error(error.orig)
    return isinstance(error, DRIVER_OPERATIONAL_ERRORS) and not _sqlite_statement_error(error)


def _sqlite_statement_error(driver_error: BaseException) -> bool:
    return isinstance(driver_error, sqlite3.OperationalError) and str(driver_error).startswith(
        _SQLITE_STATEMENT_ERRORS
    )


def _reason(error: BaseException) -> str:
    # The driver's own error, first line only: SQLAlchemy's text adds the statement.
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"[:200]


class Reachability:
    """Up or down, per process; each change logged once."""

    def __init__(self) -> None:
        self._down = False
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down

    def lost(self, error: BaseException) -> None:
        if self._down:
            return
        with self._lock:
            if self._down:
                return
            self._down = True
        log.error("database unreachable; answering 503 until it is back (%s)", _reason(error))

    def regained(self) -> None:
        if not self._down:  # the common case, on every checkout: no lock
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.warning("database reachable again")


# One per process.
REACHABILITY = Reachability()
