"""Reading journey frames from the database: one streamed query per table, vectorised.

The rest of the feature code is pure (frames in, DataFrames out); this is the only part that
touches the database, so training and serving read exactly the same way.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime

import pandas as pd
import pyarrow as pa
from sqlalchemy import String, and_, case, func, or_, select, type_coerce

from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from shared.journey_frames import (
    EVENT_PROPERTIES,
    PERIOD_EVENT_COLUMNS,
    PERIOD_RESPONSE_COLUMNS,
    JourneyFrames,
    PeriodFrames,
    as_utc,
    property_column,
)

# IN (...) lists longer than this are filtered in pandas: SQLite limits bound parameters.
MAX_IN_LIST = 1000
READ_CHUNK = 250_000
# Event columns of a few distinct names, read as pandas categories.
CATEGORICAL = ("type", "stage", "channel", "product_category", "device")


def load_journey_frames(
    database_url: str,
    cutoff: datetime,
    customer_ids: Sequence[str] | None = None,
    visitor_ids: Sequence[str] | None = None,
    since: datetime | None = None,
) -> JourneyFrames:
    """Read events, responses and customers strictly before ``cutoff``, one query per table.

    An anonymous event counts for the customer its visitor id was linked to before the cutoff;
    events of visitors never linked are kept with no customer (their carts are scored by
    visitor). ``customer_ids`` and ``visitor_ids`` restrict the events to those customers and
    visitors (the model service scoring a few); with only ``visitor_ids`` no customer is read.
    ``since`` leaves out events and responses before it (a report over a period; features,
    which look back over the whole history, never pass it).
    """
    cutoff_ts = as_utc(cutoff)
    cutoff_py = cutoff_ts.to_pydatetime()
    ids = None if customer_ids is None else list(dict.fromkeys(customer_ids))
    visitors = None if visitor_ids is None else list(dict.fromkeys(visitor_ids))
    if ids is None and visitors is not None:
        ids = []
    if visitors is not None and len(visitors) > MAX_IN_LIST:
        raise ValueError(f"at most {MAX_IN_LIST} visitor ids at a time")
    engine = get_engine(database_url)
    with engine.connect() as conn:
        events_query = _events_query(cutoff_py, ids, visitors)
        responses_query = _responses_query(cutoff_py, ids)
        if since is not None:
            since_py = as_utc(since).to_pydatetime()
            events_query = events_query.where(JourneyEvent.__table__.c.occurred_at >= since_py)
            responses_query = responses_query.where(Response.__table__.c.submitted_at >= since_py)
        events = _read(conn, events_query, ("occurred_at", "linked_at"))
        responses = _read(conn, responses_query, ("submitted_at", "linked_at"))
        customers = _read(conn, _customers_query(ids), ())
    if ids is not None and len(ids) > MAX_IN_LIST:
        wanted = set(ids)
        events = events[
            events["customer_id"].isin(wanted) | events["visitor_id"].isin(set(visitors or ()))
        ]
        responses = responses[responses["customer_id"].isin(wanted)]
        customers = customers[customers["customer_id"].isin(wanted)]
    return frames_from_tables(events, responses, customers, cutoff_py)


def frames_from_tables(
    events: pd.DataFrame, responses: pd.DataFrame, customers: pd.DataFrame, cutoff: datetime
) -> JourneyFrames:
    """Frames from the rows the three queries below return (columns named as they name them,
    times aware UTC), whoever read them: this process from the database, or a Spark task from
    its share of the customers (shared/spark/features.py) — so both build the same features."""
    events = _prepare_events(events)
    responses = responses.sort_values("submitted_at", kind="stable").reset_index(drop=True)
    return JourneyFrames(
        events=events,
        responses=responses,
        customers=customers,
        cutoff=as_utc(cutoff).to_pydatetime(),
    )


def load_period_frames(
    database_url: str,
    since: datetime,
    until: datetime,
    *,
    answers: bool = True,
    columns: Sequence[str] = PERIOD_EVENT_COLUMNS,
) -> PeriodFrames:
    """The events and survey answers of ``[since, until)``, with only what reports over a
    period read (attribution, channels per stage): the columns of ``PERIOD_EVENT_COLUMNS`` and
    ``PERIOD_RESPONSE_COLUMNS``. Customers are resolved through identities linked before
    ``until``, as ``load_journey_frames`` resolves them at a cutoff; events come in time order,
    from the covering index ``ix_journey_events_period``, which holds every column read.
    ``answers=False`` leaves the survey answers out (an empty frame) for a caller that needs
    none; ``columns`` reads only some of the events' (each costs time: a period is many rows)."""
    since_py, until_py = as_utc(since).to_pydatetime(), as_utc(until).to_pydatetime()
    ev, rs = JourneyEvent.__table__, Response.__table__
    events_from, who, _linked = _resolved(ev, until_py)
    wanted = [name for name in PERIOD_EVENT_COLUMNS if name in columns]
    selected = [ev.c[name] for name in wanted if name not in ("customer_id", "occurred_at")]
    events_query = (
        select(
            who.label("customer_id"),
            *selected,
            type_coerce(ev.c.occurred_at, String).label("occurred_at"),
        )
        .select_from(events_from)
        .where(ev.c.occurred_at >= since_py, ev.c.occurred_at < until_py)
        .order_by(ev.c.occurred_at)
    )
    responses_from, who, _linked = _resolved(rs, until_py)
    responses_query = (
        select(
            who.label("customer_id"),
            rs.c.nps,
            rs.c.csat,
            type_coerce(rs.c.submitted_at, String).label("submitted_at"),
        )
        .select_from(responses_from)
        .where(rs.c.submitted_at >= since_py, rs.c.submitted_at < until_py, who.is_not(None))
    )
    with get_engine(database_url).connect() as conn:
        events = _read(conn, events_query, ("occurred_at",))
    if answers:
        with get_engine(database_url).connect() as conn:
            responses = _read(conn, responses_query, ("submitted_at",))
    else:
        responses = pd.DataFrame({c: pd.Series(dtype=object) for c in PERIOD_RESPONSE_COLUMNS})
        responses["submitted_at"] = pd.Series(dtype="datetime64[us, UTC]")
    events = events[[name for name in PERIOD_EVENT_COLUMNS if name in events.columns]]
    if "value" in events:
        events["value"] = pd.to_numeric(events["value"], errors="coerce").astype(float)
    for column in CATEGORICAL:
        if column in events:
            events[column] = events[column].astype("category")
    return PeriodFrames(events=events, responses=responses, since=since_py, until=until_py)


def _resolved(table, cutoff: datetime):
    """``table`` joined to the identity links made before ``cutoff``; whose row it is (its own
    customer, else its visitor's); and when that link was made (none: the row named them)."""
    idt = Identity.__table__
    joined = table.outerjoin(
        idt, and_(idt.c.visitor_id == table.c.visitor_id, idt.c.linked_at < cutoff)
    )
    who = func.coalesce(table.c.customer_id, idt.c.customer_id)
    # When the row names its customer itself, a later link of its visitor changes nothing.
    return joined, who, case((table.c.customer_id.is_(None), idt.c.linked_at))


def _events_query(cutoff: datetime, ids: list[str] | None, visitors: list[str] | None = None):
    ev = JourneyEvent.__table__
    events_from, who, linked_at = _resolved(ev, cutoff)
    # The whole document is only needed for two rare event types; leaving it out elsewhere
    # keeps reads fast. The declared numeric properties are extracted in SQL, one per column.
    props = case(
        (ev.c.type.in_(("support_contact", "cart_abandoned")), type_coerce(ev.c.properties, String))
    )
    numeric = [
        ev.c.properties[key].as_float().label(property_column(key)) for key in EVENT_PROPERTIES
    ]
    stmt = select(
        who.label("customer_id"),
        ev.c.visitor_id,
        ev.c.type,
        ev.c.stage,
        ev.c.channel,
        ev.c.product_category,
        ev.c.value,
        ev.c.cart_id,
        ev.c.device,
        type_coerce(ev.c.occurred_at, String).label("occurred_at"),
        type_coerce(linked_at, String).label("linked_at"),
        props.label("properties"),
        *numeric,
    ).select_from(events_from)
    return _restrict(stmt, ev, ev.c.occurred_at, cutoff, who, ids, visitors)


def _responses_query(cutoff: datetime, ids: list[str] | None):
    rs = Response.__table__
    idt = Identity.__table__
    responses_from, who, _linked = _resolved(rs, cutoff)
    stmt = (
        select(
            who.label("customer_id"),
            rs.c.survey_key,
            rs.c.nps,
            rs.c.csat,
            rs.c.ces,
            rs.c.reason,
            rs.c.cart_id,
            type_coerce(rs.c.submitted_at, String).label("submitted_at"),
            type_coerce(idt.c.linked_at, String).label("linked_at"),
        )
        .select_from(responses_from)
        .where(who.is_not(None))
    )
    return _restrict(stmt, rs, rs.c.submitted_at, cutoff, who, ids)


def _restrict(
    stmt,
    table,
    time_column,
    cutoff: datetime,
    who,
    ids: list[str] | None,
    visitors: list[str] | None = None,
):
    """Rows before the cutoff, of the given customers (and visitors) when there are few.

    For everyone, the time condition is wrapped in a function so that no index is used: near
    "now" nearly every row qualifies, and walking the time index then the table is random I/O
    (measured on SQLite: 12.5 s instead of 3.9 s for 715,000 events). For a few customers,
    indexable conditions on the customer and visitor columns come first.
    """
    if ids is None or len(ids) > MAX_IN_LIST:
        return stmt.where(func.coalesce(time_column, time_column) < cutoff)
    idt = Identity.__table__
    their_visitors = select(idt.c.visitor_id).where(idt.c.customer_id.in_(ids))
    if visitors:
        return stmt.where(
            time_column < cutoff,
            or_(
                table.c.customer_id.in_(ids),
                table.c.visitor_id.in_(their_visitors),
                table.c.visitor_id.in_(visitors),
            ),
            or_(who.in_(ids), table.c.visitor_id.in_(visitors)),
        )
    return stmt.where(
        time_column < cutoff,
        or_(table.c.customer_id.in_(ids), table.c.visitor_id.in_(their_visitors)),
        who.in_(ids),
    )


def _customers_query(ids: list[str] | None):
    cu = Customer.__table__
    stmt = select(cu.c.id.label("customer_id"), cu.c.segment, cu.c.locale)
    if ids is not None and len(ids) <= MAX_IN_LIST:
        stmt = stmt.where(cu.c.id.in_(ids))
    return stmt


def _read(conn, stmt, time_columns: tuple[str, ...]) -> pd.DataFrame:
    """A query's rows as one DataFrame, read a chunk at a time into Arrow columns.

    The rows come as the driver's plain tuples from the DB-API cursor (``_driver_rows``):
    SQLAlchemy's Row objects and its streaming buffer cost a microsecond per row, a third of a
    period report's time at 100,000 customers. Nothing here needs a result processor: times
    are parsed below, numbers are coerced by the callers. The collector is paused meanwhile:
    the rows are millions of young objects that all live until the chunk is converted, so each
    collection would walk them for nothing. Columns of a few names (``CATEGORICAL``) are built
    as Arrow dictionaries, so they arrive as pandas categories with no second pass."""
    types = {c.key: _arrow_type(c.type, c.key in CATEGORICAL) for c in stmt.selected_columns}
    with _collector_paused(), _driver_rows(conn, stmt) as (columns, cursor):
        chunks = []
        while rows := cursor.fetchmany(READ_CHUNK):
            # Column-wise through Arrow: pandas converts Python strings to its Arrow-backed
            # strings slower than Arrow does.
            values = zip(*rows, strict=True)
            chunks.append(
                pa.table(
                    {c: _arrow_array(v, types[c]) for c, v in zip(columns, values, strict=True)}
                )
            )
            del rows, values
    if not chunks:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        for column in time_columns:
            frame[column] = pd.Series(dtype="datetime64[us, UTC]")
        return frame
    # One conversion for every chunk: Arrow unifies the chunks' dictionaries on the way.
    frame = pa.concat_tables(chunks, promote_options="permissive").to_pandas()
    for column in frame.columns.intersection(CATEGORICAL):
        if not isinstance(frame[column].dtype, pd.CategoricalDtype):
            continue  # not text after all (see _arrow_array): the caller makes categories
        # In sorted order, as pandas makes categories: a dictionary's are in order of appearance.
        names = frame[column].cat.categories
        if not names.is_monotonic_increasing:
            frame[column] = frame[column].cat.reorder_categories(names.sort_values())
    for column in time_columns:
        # SQLite returns text, PostgreSQL aware datetimes; both parse the same way here.
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _arrow_type(sql_type, categorical: bool) -> pa.DataType | None:
    """The Arrow type of a column's values, when its SQL type says (None: let Arrow infer)."""
    try:
        python_type = sql_type.python_type
    except NotImplementedError:
        return None
    if python_type is str and categorical:
        return pa.dictionary(pa.int32(), pa.string())
    return {str: pa.string(), float: pa.float64(), int: pa.int64()}.get(python_type)


def _arrow_array(values, arrow_type: pa.DataType | None) -> pa.Array:
    """Values as an Arrow array of their declared type (a third faster than inferring it),
    else of the inferred one: a driver may return another type than declared (PostgreSQL's
    times come as datetimes where a text cast is declared, for SQLite's stored text)."""
    if arrow_type is not None:
        try:
            return pa.array(values, type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return pa.array(values)


@contextmanager
def _driver_rows(conn, stmt):
    """The column names and a DB-API cursor that streams ``stmt``'s rows.

    SQLite steps its statement as rows are fetched, so its plain cursor streams. PostgreSQL's
    driver would hold the whole result in memory before the first fetch: a named (server-side)
    cursor sends it a chunk at a time instead. Its statement is compiled by SQLAlchemy for
    the connection's dialect (IN lists expanded); psycopg binds the values itself."""
    columns = list(stmt.selected_columns.keys())
    if conn.dialect.name != "postgresql":
        result = conn.execute(stmt)
        try:
            yield columns, result.cursor
        finally:
            result.close()
        return
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    with conn.connection.driver_connection.cursor(name="kundresa_read") as cursor:
        cursor.itersize = READ_CHUNK
        cursor.execute(str(compiled), compiled.params)
        yield columns, cursor


@contextmanager
def _collector_paused():
    """No cyclic garbage collection inside the block (other threads included: the flag is the
    process's), restored after; a block inside another leaves it to the outer one."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _prepare_events(events: pd.DataFrame) -> pd.DataFrame:
    events = events.copy()
    events["value"] = pd.to_numeric(events["value"], errors="coerce").astype(float)
    for column in CATEGORICAL:
        events[column] = events[column].astype("category")
    events["properties"] = events["properties"].map(_parse_properties, na_action="ignore")
    for key in EVENT_PROPERTIES:
        column = property_column(key)
        events[column] = pd.to_numeric(events[column], errors="coerce").astype(float)
    return events.sort_values(["customer_id", "occurred_at"], kind="stable").reset_index(drop=True)


def _parse_properties(value: object) -> dict:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
