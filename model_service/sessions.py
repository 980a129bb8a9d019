"""Query functions take either an open SQLAlchemy session or a database URL.

The API views and the dashboard call the same functions; a view may already hold a session,
a script only has a URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from shared.db.session import session_scope

Database = Session | str


@contextmanager
def use_session(db: Database) -> Iterator[Session]:
    """The given session as is (its owner commits), or a new committed scope for a URL."""
    if isinstance(db, Session):
        yield db
        return
    with session_scope(db) as session:
        yield session
