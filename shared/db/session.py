"""The one way to get an engine and a session.

SQLite gets WAL, a busy timeout and foreign keys, so several gunicorn workers can write to
one file safely; PostgreSQL gets a pre-ping pool so a restarted server does not fail requests.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@functools.cache
def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (cached: every write asks)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[str, sessionmaker[Session]] = {}
_LOCK = threading.Lock()


def get_engine(url: str) -> Engine:
    """One engine per database URL per process."""
    url = normalise_url(url)
    engine = _ENGINES.get(url)  # the lock only for the first use of a URL
    if engine is not None:
        return engine
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _create_engine(url)
        return engine


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        _prepare_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def session_factory(url: str) -> sessionmaker[Session]:
    url = normalise_url(url)
    with _LOCK:
        factory = _FACTORIES.get(url)
    if factory is None:
        factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
        with _LOCK:
            factory = _FACTORIES.setdefault(url, factory)
    return factory


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_WRITE_LOCKS: dict[str, threading.Lock] = {}


@contextmanager
def sqlite_write_lock(engine: Engine) -> Iterator[None]:
    """Queue this process's writers to a SQLite file on locks that wake them at once.

    SQLite lets one writer in at a time and makes the others poll: its busy handler sleeps 1,
    2, 5, 10 … ms between tries, so with eight request threads writing, most of a short write's
    time was spent asleep (measured: p50 9.9 ms for a 0.3 ms insert). Here the threads of one
    process wait on a ``threading.Lock`` and the processes on an ``flock`` of a file beside the
    database, both of which hand over the moment the holder is done. On PostgreSQL, or an
    in-memory SQLite database, this does nothing.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with _LOCK:
        thread_lock = _WRITE_LOCKS.setdefault(database, threading.Lock())
    with thread_lock:
        descriptor = os.open(f"{database}-writelock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the flock


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, and between tests)."""
    with _LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
        _FACTORIES.clear()
    for engine in engines:
        engine.dispose()
