"""The one way to get an engine and a session.

SQLite gets WAL, a busy timeout and foreign keys, so several gunicorn workers can write to
one file safely; on PostgreSQL a pooled connection that sat idle is pinged before use, so a
restarted server does not fail requests. Engines hide SQL parameters in their errors and
logs (``hide_parameters``): parameters hold personal data.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from shared.db.reachability import REACHABILITY

log = logging.getLogger(__name__)


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
    # hide_parameters: a failed statement is logged with its trace, and its parameters are
    # customer and visitor ids that must not outlive an erasure in the logs.
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _prepare_sqlite(engine)
    else:
        engine = create_engine(url, pool_size=5, max_overflow=10, hide_parameters=True)
        _ping_when_idle(engine)
    _note_reachable(engine)
    return engine


def _note_reachable(engine: Engine) -> None:
    """A checked-out connection ends an outage (see ``shared.db.reachability``)."""

    @event.listens_for(engine, "checkout")
    def _checked_out(_dbapi_connection, _record, _proxy) -> None:  # noqa: ANN001
        REACHABILITY.regained()


# A connection back in the pool for longer than this is pinged before it is used again.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for connections that have been idle: a ping on every
    checkout is one more round trip per request (0.22 ms of a 0.78 ms response insert,
    measured in-process), while a connection in steady use proves itself alive. A failed
    ping makes the pool replace the connection (``DisconnectionError``, up to three tries);
    a server that restarts under load fails only the statements in flight, after which
    SQLAlchemy's disconnect handling renews the whole pool (the survey service's write path,
    which runs on the DBAPI connection, renews it and retries by itself: storage.store_new)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:  # noqa: ANN001
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("idle connection failed its ping") from exc


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


_WRITE_LOCKS: dict[tuple[str, int], tuple[threading.Lock, int]] = {}


def _write_lock(database: str) -> tuple[threading.Lock, int]:
    """This process's thread lock and lock-file descriptor for a SQLite file, opened once: an
    ``flock`` belongs to an open file, so a descriptor inherited across a fork would let parent
    and child in together, hence one per process id."""
    key = (database, os.getpid())
    lock = _WRITE_LOCKS.get(key)
    if lock is None:
        with _LOCK:
            lock = _WRITE_LOCKS.get(key)
            if lock is None:
                descriptor = os.open(f"{database}-writelock", os.O_RDWR | os.O_CREAT, 0o600)
                os.set_inheritable(descriptor, False)
                lock = _WRITE_LOCKS[key] = (threading.Lock(), descriptor)
    return lock


@contextmanager
def sqlite_write_lock(engine: Engine) -> Iterator[None]:
    """Queue this process's writers to a SQLite file on locks that wake them at once.

    SQLite lets one writer in at a time and makes the others poll: its busy handler sleeps 1,
    2, 5, 10 … ms between tries, so with eight request threads writing, most of a short write's
    time was spent asleep (measured: p50 9.9 ms for a 0.3 ms insert). Here the threads of one
    process wait on a ``threading.Lock`` and the processes on an ``flock`` of a file beside the
    database, both of which hand over the moment the holder is done. Hold it for the statements
    and the commit only: everything inside is time every other writer waits. On PostgreSQL, or
    an in-memory SQLite database, this does nothing.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    thread_lock, descriptor = _write_lock(database)
    with thread_lock:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


# The survey service's write path checkpoints the WAL itself every this many writes of a
# process, after it has let go of the write lock. SQLite's own checkpoint (at 1,000 WAL pages)
# runs inside the commit that crosses the mark, two fsyncs long (measured: 1 write in 100 took
# 4–5 ms instead of 0.13 ms, a quarter of all write time), while every writer of both workers
# waited on the lock. A passive checkpoint runs beside other writers. SQLite's automatic one
# stays on as the backstop, and for the few writes made elsewhere (sessions, migrations).
CHECKPOINT_EVERY_WRITES = 64
_WRITES = itertools.count(1)


def checkpoint_sqlite_now_and_then(engine: Engine, dbapi_connection) -> None:  # noqa: ANN001
    """Call after a write to a SQLite file, outside ``sqlite_write_lock``; every
    ``CHECKPOINT_EVERY_WRITES``-th call runs a passive WAL checkpoint on that connection. The
    write is committed already: a failed checkpoint is logged, and the next one catches up."""
    if engine.dialect.name != "sqlite" or next(_WRITES) % CHECKPOINT_EVERY_WRITES:
        return
    try:
        dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
    except engine.dialect.loaded_dbapi.Error:
        log.warning("WAL checkpoint failed; SQLite's automatic one will catch up", exc_info=True)


def dispose_engines() -> None:
    """Close every pooled connection and write-lock file (after a fork, and between tests)."""
    with _LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
        _FACTORIES.clear()
        for _thread_lock, descriptor in _WRITE_LOCKS.values():
            os.close(descriptor)
        _WRITE_LOCKS.clear()
    for engine in engines:
        engine.dispose()
