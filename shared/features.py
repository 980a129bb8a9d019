"""THE feature builder: one piece of code for training and for serving.

``load_journey_frames`` reads what happened strictly before a cutoff (one query per table,
vectorised), and the pure functions ``build_customer_features`` / ``build_cart_features`` turn
those frames into one row per customer or per open cart. Training calls them at many past
cutoffs; the model service calls them at "now". Because the frames never hold a row from after
the cutoff, a feature cannot see the future (tests/shared/test_features.py proves it).

Conventions: categorical features are strings (``"none"`` when absent), numeric features are
floats, and a numeric value that does not exist (the recency of a customer who never bought) is
NaN, left for the model pipeline to impute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import String, and_, case, func, or_, select, type_coerce

from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from shared.journey import CHANNELS, STAGE_INDEX, STAGES

DAY = pd.Timedelta(days=1)
MINUTE = pd.Timedelta(minutes=1)
NONE = "none"
# A cart without activity for this long is no longer open, even if no shop marked it abandoned.
CART_MAX_IDLE = pd.Timedelta(days=7)
# Page views within this window before a cart was opened count as its session.
SESSION_WINDOW = pd.Timedelta(minutes=60)
# IN (...) lists longer than this are filtered in pandas: SQLite limits bound parameters.
MAX_IN_LIST = 1000
READ_CHUNK = 250_000

VIEW_TYPES = ("page_view", "touchpoint", "product_view")
# Event types that set a stage regardless of the stage before (see shared.journey.next_stage).
RESET_STAGE = {
    "review": "advocacy",
    "referral": "advocacy",
    "purchase": "purchase",
    "checkout_started": "purchase",
    "add_to_cart": "desire",
}
# Event types that move a customer forward to at least this stage.
FORWARD_STAGE = {
    "page_view": "awareness",
    "touchpoint": "awareness",
    "product_view": "interest",
    "newsletter_signup": "interest",
}
CART_EVENT_TYPES = ("add_to_cart", "remove_from_cart", "checkout_started")

# name -> one-line meaning. The order of this dict is the order of the model's columns.
CUSTOMER_FEATURE_DOCS: dict[str, str] = {
    "segment": "customer segment (categorical)",
    "main_category": "most bought product category, else most viewed (categorical)",
    "stage": "current journey stage derived by the rules of shared.journey (categorical)",
    "days_in_stage": "days since the customer entered the current stage",
    "recency_days": "days since the last purchase",
    "frequency": "number of purchases",
    "monetary_total": "sum of purchase values",
    "monetary_mean": "mean purchase value",
    "monetary_365d": "sum of purchase values in the last 365 days",
    "tenure_days": "days since the first known event",
    "interval_mean_days": "mean days between consecutive purchases",
    "interval_std_days": "standard deviation of days between purchases",
    "recency_ratio": "recency_days / interval_mean_days (at least a day): how overdue the next "
    "purchase is against the customer's own rhythm",
    "overdue_days": "recency_days - interval_mean_days: days past the usual next purchase",
    "first_purchase_days": "days since the first purchase (the age T of buy-till-you-die models)",
    "is_repeat_buyer": "1 when the customer has bought more than once, else 0",
    "days_since_last_event": "days since any event",
    "events_30d": "events in the last 30 days",
    "touchpoints_30d": "events with a marketing channel in the last 30 days",
    "touchpoints_90d": "events with a marketing channel in the last 90 days",
    **{f"tp_{c}_90d": f"touchpoints via {c} in the last 90 days" for c in CHANNELS},
    "carts_added_90d": "add-to-cart events in the last 90 days",
    "carts_abandoned_total": "carts marked abandoned",
    "carts_abandoned_90d": "carts marked abandoned in the last 90 days",
    "abandon_reason_last": "latest reason given for abandoning a cart (categorical)",
    "csat_last": "latest CSAT answer (1-5)",
    "csat_mean": "mean CSAT answer",
    "ces_last": "latest customer-effort answer (1-7, high = easy, low = hard)",
    "ces_mean": "mean customer-effort answer (low = hard)",
    "nps_last": "latest NPS answer (0-10)",
    "nps_mean": "mean NPS answer",
    "is_detractor": "1 when the latest NPS answer is 0-6, else 0",
    "responses_total": "survey responses given",
    "support_contacts_total": "support contacts",
    "support_contacts_90d": "support contacts in the last 90 days",
    "support_unresolved_90d": "support contacts in the last 90 days marked unresolved",
    "refunds_total": "refunds",
    "refunds_365d": "refunds in the last 365 days",
    "advocacy_actions": "reviews and referrals",
    "devices": "distinct devices seen",
    "is_multi_device": "1 when seen on more than one device or visitor id, else 0",
}
CUSTOMER_FEATURES: list[str] = list(CUSTOMER_FEATURE_DOCS)
CUSTOMER_CATEGORICAL: list[str] = ["segment", "main_category", "stage", "abandon_reason_last"]

# What a risk-score row and a critical-journey cell need besides the probability.
CUSTOMER_CONTEXT: list[str] = ["stage", "segment", "product_category", "value"]

CART_FEATURE_DOCS: dict[str, str] = {
    "segment": "customer segment (categorical)",
    "stage": "customer's journey stage at the cutoff (categorical)",
    "product_category": "category of the first product put in the cart (categorical)",
    "device": "device the cart was opened on (categorical)",
    "channel": "channel of the cart's first event (categorical)",
    "cart_value": "value added minus value removed",
    "cart_items": "items added minus items removed",
    "minutes_open": "minutes since the cart was opened",
    "minutes_idle": "minutes since the last cart activity",
    "checkout_started": "1 when checkout was started, else 0",
    "minutes_in_checkout": "minutes since checkout was started",
    "session_depth": "events in the hour before the cart was opened",
    "past_purchases": "customer's purchases before the cutoff",
    "past_abandonments": "customer's carts marked abandoned before the cutoff",
    "days_since_last_purchase": "days since the customer's previous purchase",
}
CART_FEATURES: list[str] = list(CART_FEATURE_DOCS)
CART_CATEGORICAL: list[str] = ["segment", "stage", "product_category", "device", "channel"]


@dataclass(frozen=True)
class JourneyFrames:
    """What is known strictly before ``cutoff``.

    ``events``: customer_id (resolved through identities), visitor_id, type, stage, channel,
    product_category, value, cart_id, device, occurred_at, properties (only for support
    contacts and abandoned carts). ``responses``: customer_id, survey_key, nps, csat, ces,
    reason, cart_id, submitted_at. ``customers``: customer_id, segment, locale.
    """

    events: pd.DataFrame
    responses: pd.DataFrame
    customers: pd.DataFrame
    cutoff: datetime


def as_utc(moment: datetime) -> pd.Timestamp:
    """An aware UTC timestamp; a naive datetime is taken to be UTC."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_journey_frames(
    database_url: str, cutoff: datetime, customer_ids: Sequence[str] | None = None
) -> JourneyFrames:
    """Read events, responses and customers strictly before ``cutoff``, one query per table.

    An anonymous event counts for the customer its visitor id was linked to before the cutoff.
    ``customer_ids`` restricts the result to those customers (the model service scoring one).
    """
    cutoff_ts = as_utc(cutoff)
    cutoff_py = cutoff_ts.to_pydatetime()
    ids = None if customer_ids is None else list(dict.fromkeys(customer_ids))
    engine = get_engine(database_url)
    with engine.connect() as conn:
        events = _read(conn, _events_query(cutoff_py, ids), ("occurred_at", "linked_at"))
        responses = _read(conn, _responses_query(cutoff_py, ids), ("submitted_at", "linked_at"))
        customers = _read(conn, _customers_query(ids), ())
    if ids is not None and len(ids) > MAX_IN_LIST:
        wanted = set(ids)
        events = events[events["customer_id"].isin(wanted)]
        responses = responses[responses["customer_id"].isin(wanted)]
        customers = customers[customers["customer_id"].isin(wanted)]
    events = _prepare_events(events)
    responses = responses.sort_values("submitted_at", kind="stable").reset_index(drop=True)
    return JourneyFrames(events=events, responses=responses, customers=customers, cutoff=cutoff_py)


def _events_query(cutoff: datetime, ids: list[str] | None):
    ev = JourneyEvent.__table__
    idt = Identity.__table__
    who = func.coalesce(ev.c.customer_id, idt.c.customer_id)
    # JSON is only needed for two rare event types; leaving it out elsewhere keeps reads fast.
    props = case(
        (ev.c.type.in_(("support_contact", "cart_abandoned")), type_coerce(ev.c.properties, String))
    )
    stmt = (
        select(
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
            type_coerce(idt.c.linked_at, String).label("linked_at"),
            props.label("properties"),
        )
        .select_from(
            ev.outerjoin(idt, and_(idt.c.visitor_id == ev.c.visitor_id, idt.c.linked_at < cutoff))
        )
        .where(who.is_not(None))
    )
    return _restrict(stmt, ev, ev.c.occurred_at, cutoff, who, ids)


def _responses_query(cutoff: datetime, ids: list[str] | None):
    rs = Response.__table__
    idt = Identity.__table__
    who = func.coalesce(rs.c.customer_id, idt.c.customer_id)
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
        .select_from(
            rs.outerjoin(idt, and_(idt.c.visitor_id == rs.c.visitor_id, idt.c.linked_at < cutoff))
        )
        .where(who.is_not(None))
    )
    return _restrict(stmt, rs, rs.c.submitted_at, cutoff, who, ids)


def _restrict(stmt, table, time_column, cutoff: datetime, who, ids: list[str] | None):
    """Rows before the cutoff, of the given customers when there are few.

    For everyone, the time condition is wrapped in a function so that no index is used: near
    "now" nearly every row qualifies, and walking the time index then the table is random I/O
    (measured on SQLite: 12.5 s instead of 3.9 s for 715,000 events). For a few customers,
    indexable conditions on the customer and visitor columns come first.
    """
    if ids is None or len(ids) > MAX_IN_LIST:
        return stmt.where(func.coalesce(time_column, time_column) < cutoff)
    idt = Identity.__table__
    their_visitors = select(idt.c.visitor_id).where(idt.c.customer_id.in_(ids))
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
    """Stream a query into one DataFrame, chunk by chunk, so memory stays near the result size."""
    result = conn.execution_options(stream_results=True, yield_per=READ_CHUNK).execute(stmt)
    columns = list(result.keys())
    parts = []
    for rows in result.partitions():
        # Column-wise through Arrow: pandas probes Row objects as mappings (ten times slower),
        # and converts Python strings to its Arrow-backed strings slower than Arrow does.
        values = zip(*rows, strict=True)
        table = pa.table({c: pa.array(v) for c, v in zip(columns, values, strict=True)})
        part = table.to_pandas()
        for column in time_columns:
            # SQLite returns text, PostgreSQL aware datetimes; both parse the same way here.
            part[column] = pd.to_datetime(part[column], utc=True, format="ISO8601")
        parts.append(part)
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        for column in time_columns:
            frame[column] = pd.Series(dtype="datetime64[us, UTC]")
        return frame
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _prepare_events(events: pd.DataFrame) -> pd.DataFrame:
    events = events.copy()
    events["value"] = pd.to_numeric(events["value"], errors="coerce").astype(float)
    for column in ("type", "stage", "channel", "product_category", "device"):
        events[column] = events[column].astype("category")
    events["properties"] = events["properties"].map(_parse_properties, na_action="ignore")
    return events.sort_values(["customer_id", "occurred_at"], kind="stable").reset_index(drop=True)


def _parse_properties(value: object) -> dict:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def frames_before(frames: JourneyFrames, cutoff: datetime) -> JourneyFrames:
    """The same frames cut at an earlier cutoff (training reads once, then cuts many times)."""
    cutoff_ts = as_utc(cutoff)
    if cutoff_ts > as_utc(frames.cutoff):
        raise ValueError("cannot cut frames at a later cutoff than they were read at")
    return JourneyFrames(
        known_events(frames, cutoff_ts),
        known_responses(frames, cutoff_ts),
        frames.customers,
        cutoff_ts.to_pydatetime(),
    )


def known_events(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """Events before ``cutoff`` that could be attributed to their customer at that moment: an
    anonymous visitor's event counts only once the visitor was linked before the cutoff (a
    link made later reveals that the customer came back — the future)."""
    cutoff_ts = as_utc(cutoff)
    events = frames.events
    return events[(events["occurred_at"] < cutoff_ts) & ~(events["linked_at"] >= cutoff_ts)]


def known_responses(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """Responses before ``cutoff`` attributable at that moment (see ``known_events``)."""
    cutoff_ts = as_utc(cutoff)
    responses = frames.responses
    return responses[
        (responses["submitted_at"] < cutoff_ts) & ~(responses["linked_at"] >= cutoff_ts)
    ]


# ---------------------------------------------------------------------------------------------
# Journey stage, vectorised
# ---------------------------------------------------------------------------------------------


def stage_timeline(events: pd.DataFrame) -> pd.DataFrame:
    """The stage after every event and since when the customer has been in it.

    Events must be sorted by customer and time. This is ``shared.journey.derive_stage`` without
    a Python loop: an event that names a stage, or whose type sets one (cart, checkout,
    purchase, review, referral), starts a new run; within a run views after a purchase mean
    loyalty (advocacy stays advocacy) and other events only move forward.
    Returns customer_id, occurred_at, stage_code (index into STAGES) and stage_since.
    """
    n = len(events)
    customer = pd.factorize(events["customer_id"])[0]
    explicit_code = _lookup(events["stage"], STAGE_INDEX)
    reset_code = _lookup(events["type"], {k: STAGE_INDEX[v] for k, v in RESET_STAGE.items()})
    reset_code = np.where(explicit_code >= 0, explicit_code, reset_code)
    is_reset = reset_code >= 0
    forward = _lookup(events["type"], {k: STAGE_INDEX[v] for k, v in FORWARD_STAGE.items()})
    forward = np.where(is_reset, -1, forward)
    is_view = (_lookup(events["type"], dict.fromkeys(VIEW_TYPES, 1)) == 1) & ~is_reset
    is_purchase = _lookup(events["type"], {"purchase": 1}) == 1

    new_customer = np.ones(n, dtype=bool)
    if n:
        new_customer[1:] = customer[1:] != customer[:-1]
    customer_no = np.cumsum(new_customer)
    run_no = np.cumsum(new_customer | is_reset)
    frame = pd.DataFrame(
        {
            "customer_no": customer_no,
            "run_no": run_no,
            "is_purchase": is_purchase,
            "reset_code": np.where(is_reset, reset_code, -1),
            "forward": forward,
            "is_view": is_view,
        }
    )
    has_purchased = frame.groupby("customer_no")["is_purchase"].cummax().to_numpy(dtype=bool)
    by_run = frame.groupby("run_no")
    run_start = by_run["reset_code"].transform("first").to_numpy()
    run_start = np.where(run_start >= 0, run_start, STAGE_INDEX["awareness"])
    seen_view = by_run["is_view"].cummax().to_numpy(dtype=bool)
    furthest = np.maximum(by_run["forward"].cummax().to_numpy(), run_start)
    loyal = has_purchased & seen_view & (run_start != STAGE_INDEX["advocacy"])
    stage_code = np.where(loyal, STAGE_INDEX["loyalty"], furthest)

    changed = new_customer.copy()
    if n:
        changed[1:] |= stage_code[1:] != stage_code[:-1]
    times = events["occurred_at"]
    since = times.where(pd.Series(changed, index=events.index))
    since = since.groupby(customer_no).ffill()
    return pd.DataFrame(
        {
            "customer_id": events["customer_id"].to_numpy(),
            "occurred_at": times.reset_index(drop=True),
            "stage_code": stage_code,
            "stage_since": since.reset_index(drop=True),
        }
    )


def _lookup(column: pd.Series, table: dict[str, int]) -> np.ndarray:
    """``table[value]`` for every row, -1 where absent; looked up once per distinct value."""
    as_category = column.astype("category")
    per_value = [table.get(str(value), -1) for value in as_category.cat.categories]
    return np.array([*per_value, -1])[as_category.cat.codes.to_numpy()]


def stage_name(codes: np.ndarray | pd.Series) -> pd.Series:
    """Stage names for stage codes (NaN → awareness, where every journey starts)."""
    codes = pd.Series(codes).fillna(STAGE_INDEX["awareness"]).astype(int)
    return codes.map(dict(enumerate(STAGES))).astype(str)


# ---------------------------------------------------------------------------------------------
# Customer features
# ---------------------------------------------------------------------------------------------


def build_customer_features(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """One row per customer with an event before ``cutoff``: exactly ``CUSTOMER_FEATURES``.

    Pure: reads only ``frames`` rows strictly before ``cutoff``, so training and serving agree.
    """
    cutoff_ts = as_utc(cutoff)
    ev = known_events(frames, cutoff_ts)
    rs = known_responses(frames, cutoff_ts)
    # Customers as integer codes: grouping millions of events by a number, not a string.
    codes, uniques = pd.factorize(ev["customer_id"])
    customers = pd.Index(uniques, name="customer_id")
    out = pd.DataFrame(index=customers)
    if customers.empty:
        return _typed(out.reindex(columns=CUSTOMER_FEATURES), CUSTOMER_CATEGORICAL)
    n = len(customers)
    age_days = ((cutoff_ts - ev["occurred_at"]) / DAY).to_numpy()
    etype = ev["type"]

    def count(mask) -> np.ndarray:
        return np.bincount(codes, weights=np.asarray(mask, dtype=float), minlength=n)

    def per_customer(values: np.ndarray, how: str) -> np.ndarray:
        return pd.Series(values).groupby(codes).agg(how).reindex(range(n)).to_numpy()

    segments = frames.customers.drop_duplicates("customer_id").set_index("customer_id")["segment"]
    out["segment"] = segments.reindex(customers)

    is_purchase = (etype == "purchase").to_numpy()
    purchases = ev[is_purchase]
    buyer = pd.Series(codes[is_purchase], index=purchases.index)
    buy_age = pd.Series(age_days[is_purchase], index=purchases.index)
    bought = purchases["value"].groupby(buyer)
    out["main_category"] = _main_category(ev, codes, is_purchase, customers)

    timeline = stage_timeline(ev)
    is_last = np.ones(len(codes), dtype=bool)
    is_last[:-1] = codes[1:] != codes[:-1]
    last = timeline[is_last].set_index(codes[is_last]).reindex(range(n))
    out["stage"] = stage_name(last["stage_code"]).to_numpy()
    out["days_in_stage"] = ((cutoff_ts - last["stage_since"]) / DAY).to_numpy()

    def by_buyer(series: pd.Series) -> np.ndarray:
        return series.reindex(range(n)).to_numpy()

    out["recency_days"] = by_buyer(buy_age.groupby(buyer).min())
    out["frequency"] = count(is_purchase)
    out["monetary_total"] = by_buyer(bought.sum(min_count=1))
    out["monetary_mean"] = by_buyer(bought.mean())
    out["monetary_365d"] = by_buyer(purchases["value"].where(buy_age <= 365).groupby(buyer).sum())
    out["tenure_days"] = per_customer(age_days, "max")
    gaps = (purchases["occurred_at"].groupby(buyer).diff() / DAY).groupby(buyer)
    out["interval_mean_days"] = by_buyer(gaps.mean())
    out["interval_std_days"] = by_buyer(gaps.std())
    # Orders placed the same day have a mean gap of 0: a day is the finest rhythm we trust, so
    # such a customer is very overdue after weeks of silence instead of infinitely or not at all.
    # One-time buyers have no rhythm: NaN, which the model tells apart from on-time.
    out["recency_ratio"] = out["recency_days"] / out["interval_mean_days"].clip(lower=1.0)
    out["overdue_days"] = out["recency_days"] - out["interval_mean_days"]
    out["first_purchase_days"] = by_buyer(buy_age.groupby(buyer).max())
    out["is_repeat_buyer"] = (out["frequency"] > 1).astype(float)
    out["days_since_last_event"] = per_customer(age_days, "min")
    out["events_30d"] = count(age_days <= 30)
    has_channel = ev["channel"].notna().to_numpy()
    out["touchpoints_30d"] = count(has_channel & (age_days <= 30))
    recent = has_channel & (age_days <= 90)
    out["touchpoints_90d"] = count(recent)
    channels = ev["channel"].astype(str).to_numpy()
    for channel in CHANNELS:
        out[f"tp_{channel}_90d"] = count(recent & (channels == channel))

    out["carts_added_90d"] = count((etype == "add_to_cart").to_numpy() & (age_days <= 90))
    abandoned = (etype == "cart_abandoned").to_numpy()
    out["carts_abandoned_total"] = count(abandoned)
    out["carts_abandoned_90d"] = count(abandoned & (age_days <= 90))
    out["abandon_reason_last"] = _last_abandon_reason(ev[abandoned], rs)

    by_responder = rs.groupby("customer_id")
    for score in ("csat", "ces", "nps"):
        values = pd.to_numeric(rs[score], errors="coerce").astype(float)
        grouped = values.groupby(rs["customer_id"])
        out[f"{score}_last"] = grouped.last()
        out[f"{score}_mean"] = grouped.mean()
    out["is_detractor"] = (out["nps_last"] <= 6).astype(float)
    out["responses_total"] = by_responder.size()

    support = (etype == "support_contact").to_numpy()
    out["support_contacts_total"] = count(support)
    out["support_contacts_90d"] = count(support & (age_days <= 90))
    unresolved = np.zeros(len(codes), dtype=bool)
    unresolved[support] = [
        isinstance(p, dict) and p.get("resolved") is False for p in ev["properties"][support]
    ]
    out["support_unresolved_90d"] = count(unresolved & (age_days <= 90))
    refunds = (etype == "refund").to_numpy()
    out["refunds_total"] = count(refunds)
    out["refunds_365d"] = count(refunds & (age_days <= 365))
    out["advocacy_actions"] = count(etype.isin(["review", "referral"]).to_numpy())
    devices = pd.Series(pd.factorize(ev["device"])[0]).where(lambda d: d >= 0)
    out["devices"] = per_customer(devices.to_numpy(), "nunique")
    visitors = pd.Series(pd.factorize(ev["visitor_id"])[0]).where(lambda v: v >= 0)
    several_visitors = per_customer(visitors.to_numpy(), "nunique") > 1
    out["is_multi_device"] = ((out["devices"] > 1) | several_visitors).astype(float)

    counts = [
        c
        for c in CUSTOMER_FEATURES
        if c.endswith(("_30d", "_90d", "_total", "_365d", "_actions", "devices", "frequency"))
        and not c.startswith("monetary")
    ]
    out[counts] = out[counts].fillna(0.0)
    out["monetary_365d"] = out["monetary_365d"].where(out["frequency"] > 0)
    return _typed(out[CUSTOMER_FEATURES], CUSTOMER_CATEGORICAL)


def customer_context(features: pd.DataFrame) -> pd.DataFrame:
    """``CUSTOMER_CONTEXT`` for customer feature rows: stage, segment, main product category and
    value (purchases in the last 365 days, the revenue at risk if the customer leaves)."""
    context = pd.DataFrame(index=features.index)
    context["stage"] = features["stage"]
    context["segment"] = features["segment"]
    context["product_category"] = features["main_category"]
    context["value"] = features["monetary_365d"].fillna(0.0)
    return context[CUSTOMER_CONTEXT]


def _main_category(
    events: pd.DataFrame, codes: np.ndarray, is_purchase: np.ndarray, customers: pd.Index
) -> pd.Series:
    """The most bought category, else the most viewed; ties go to the first name."""
    category_codes, categories = pd.factorize(events["product_category"], sort=True)
    known = category_codes >= 0

    def most_common(mask: np.ndarray) -> pd.Series:
        pairs = pd.DataFrame({"who": codes[mask], "what": category_codes[mask]})
        counts = pairs.value_counts().rename("n").reset_index()
        counts = counts.sort_values(["who", "n", "what"], ascending=[True, False, True])
        top = counts.drop_duplicates("who").set_index("who")["what"]
        return pd.Series(np.asarray(categories)[top.to_numpy()], index=top.index)

    best = most_common(known & is_purchase).combine_first(most_common(known))
    return pd.Series(best.reindex(range(len(customers))).to_numpy(), index=customers)


def _last_abandon_reason(abandoned_events: pd.DataFrame, responses: pd.DataFrame) -> pd.Series:
    """Latest abandonment reason: a cart-abandonment survey answer, else the event's property."""
    from_events = abandoned_events.assign(
        reason=abandoned_events["properties"].map(
            lambda p: p.get("reason") if isinstance(p, dict) else None
        ),
        at=abandoned_events["occurred_at"],
    )[["customer_id", "reason", "at"]]
    said = responses[responses["reason"].notna()]
    from_answers = pd.DataFrame(
        {"customer_id": said["customer_id"], "reason": said["reason"], "at": said["submitted_at"]}
    )
    both = pd.concat([from_events, from_answers], ignore_index=True)
    both = both[both["reason"].notna()].sort_values("at", kind="stable")
    return both.groupby("customer_id")["reason"].last()


def _typed(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as strings ("none" when missing), every other column as float."""
    frame = frame.copy()
    for column in frame.columns:
        if column in categorical:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), NONE)
            frame[column] = frame[column].astype(str)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


# ---------------------------------------------------------------------------------------------
# Cart features
# ---------------------------------------------------------------------------------------------


def cart_spans(events: pd.DataFrame) -> pd.DataFrame:
    """Every cart with its customer, when it opened, when it was last touched, and when it was
    bought or marked abandoned (NaT when not, among the events given)."""
    carts = events[events["cart_id"].notna()]
    etype = carts["type"].astype(str)
    grouped = carts.groupby("cart_id", sort=False)
    activity = carts[etype.isin(CART_EVENT_TYPES)].groupby("cart_id")["occurred_at"]
    spans = pd.DataFrame(
        {
            "customer_id": grouped["customer_id"].first(),
            "opened_at": grouped["occurred_at"].min(),
        }
    )
    spans["last_activity_at"] = activity.max()
    spans["purchased_at"] = carts[etype == "purchase"].groupby("cart_id")["occurred_at"].min()
    spans["abandoned_at"] = carts[etype == "cart_abandoned"].groupby("cart_id")["occurred_at"].min()
    spans.index.name = "cart_id"
    return spans


def open_carts(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """Carts open at ``cutoff``: opened before it, not bought, not marked abandoned, and touched
    within the last ``CART_MAX_IDLE``. Index cart_id; columns customer_id, as_of."""
    cutoff_ts = as_utc(cutoff)
    spans = cart_spans(known_events(frames, cutoff_ts))
    last_touch = spans["last_activity_at"].fillna(spans["opened_at"])
    is_open = (
        spans["purchased_at"].isna()
        & spans["abandoned_at"].isna()
        & (cutoff_ts - last_touch <= CART_MAX_IDLE)
    )
    return pd.DataFrame({"customer_id": spans.loc[is_open, "customer_id"], "as_of": cutoff_ts})


def build_cart_features(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """One row per cart open at ``cutoff``: index cart_id, customer_id, then ``CART_FEATURES``."""
    return build_cart_features_at(frames, open_carts(frames, cutoff))


def build_cart_features_at(frames: JourneyFrames, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Cart features for (cart, as_of) snapshots, each from events strictly before its as_of.

    ``snapshots`` has index cart_id (repeats allowed) and columns customer_id, as_of. Training
    uses many snapshots per cart; serving uses every open cart at one cutoff.
    """
    columns = ["customer_id", *CART_FEATURES]
    if snapshots.empty:
        empty = pd.DataFrame(columns=columns, index=pd.Index([], name="cart_id"))
        return _typed(empty, ["customer_id", *CART_CATEGORICAL])
    snaps = snapshots.reset_index().rename(columns={"index": "cart_id"})
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    snaps["row"] = np.arange(len(snaps))
    # Exact for one as_of (serving, and the no-leakage test). With many (training), a visitor
    # linked between two snapshots counts for the earlier one's customer history too.
    ev = known_events(frames, snaps["as_of"].max())

    carts = ev[ev["cart_id"].isin(set(snaps["cart_id"]))]
    joined = snaps[["row", "cart_id", "as_of"]].merge(carts, on="cart_id", how="inner")
    known = (joined["occurred_at"] < joined["as_of"]) & ~(joined["linked_at"] >= joined["as_of"])
    joined = joined[known].sort_values(["row", "occurred_at"], kind="stable")
    jtype = joined["type"].astype(str)
    sign = np.select([jtype == "add_to_cart", jtype == "remove_from_cart"], [1.0, -1.0], 0.0)
    per_row = joined.groupby("row")
    first = per_row.head(1).set_index("row")
    is_cart_activity = jtype.isin(CART_EVENT_TYPES)
    checkout = joined[jtype == "checkout_started"].groupby("row")["occurred_at"].min()

    out = snaps.set_index("row")
    out["cart_value"] = (joined["value"].fillna(0.0) * sign).groupby(joined["row"]).sum()
    # Quantity is not stored: one cart event is one item.
    out["cart_items"] = pd.Series(sign, index=joined.index).groupby(joined["row"]).sum()
    out["minutes_open"] = (out["as_of"] - first["occurred_at"]) / MINUTE
    last_activity = joined[is_cart_activity].groupby("row")["occurred_at"].max()
    out["minutes_idle"] = (out["as_of"] - last_activity.reindex(out.index)) / MINUTE
    out["checkout_started"] = checkout.reindex(out.index).notna().astype(float)
    out["minutes_in_checkout"] = (out["as_of"] - checkout.reindex(out.index)) / MINUTE
    out["product_category"] = first["product_category"].astype(object)
    out["device"] = first["device"].astype(object)
    out["channel"] = first["channel"].astype(object)

    history = _CustomerHistory(ev)
    opened = first["occurred_at"].reindex(out.index)
    out["session_depth"] = history.count_between(
        out["customer_id"], opened - SESSION_WINDOW, opened, kinds=None
    )
    out["past_purchases"] = history.count_between(
        out["customer_id"], None, out["as_of"], kinds=("purchase",)
    )
    out["past_abandonments"] = history.count_between(
        out["customer_id"], None, out["as_of"], kinds=("cart_abandoned",)
    )
    last_buy = history.last_before(out["customer_id"], out["as_of"], kind="purchase")
    out["days_since_last_purchase"] = (out["as_of"] - last_buy) / DAY

    segments = frames.customers.drop_duplicates("customer_id").set_index("customer_id")["segment"]
    out["segment"] = out["customer_id"].map(segments)
    out["stage"] = _stage_as_of(ev, out[["customer_id", "as_of"]])
    out = out.set_index("cart_id")
    return _typed(out[columns], ["customer_id", *CART_CATEGORICAL])


def _stage_as_of(events: pd.DataFrame, pairs: pd.DataFrame) -> pd.Series:
    """Stage of each (customer_id, as_of) pair from the events strictly before as_of."""
    wanted = events[events["customer_id"].isin(set(pairs["customer_id"]))]
    timeline = stage_timeline(wanted)
    customers = pd.Index(pd.unique(timeline["customer_id"]))
    timeline["who"] = customers.get_indexer(timeline["customer_id"])
    timeline = timeline.sort_values("occurred_at", kind="stable")
    left = pd.DataFrame(
        {
            "who": customers.get_indexer(pairs["customer_id"]),
            "as_of": pairs["as_of"].to_numpy(),
            "order": np.arange(len(pairs)),
        }
    ).sort_values("as_of", kind="stable")
    merged = pd.merge_asof(
        left,
        timeline[["who", "occurred_at", "stage_code"]],
        left_on="as_of",
        right_on="occurred_at",
        by="who",
        allow_exact_matches=False,
    ).sort_values("order")
    return pd.Series(stage_name(merged["stage_code"]).to_numpy(), index=pairs.index)


class _CustomerHistory:
    """Counts of a customer's events before a time, by binary search over sorted keys."""

    def __init__(self, events: pd.DataFrame) -> None:
        self.events = events
        self.codes, uniques = pd.factorize(events["customer_id"])
        self.customers = pd.Index(uniques)
        self._cache: dict[tuple[str, ...] | None, np.ndarray] = {}

    def _keys(self, kinds: tuple[str, ...] | None) -> np.ndarray:
        if kinds not in self._cache:
            times = self.events["occurred_at"]
            codes = self.codes.astype(np.int64)
            if kinds is not None:
                mask = self.events["type"].isin(kinds).to_numpy()
                times, codes = times[mask], codes[mask]
            self._cache[kinds] = np.sort(self._key(codes, times))
        return self._cache[kinds]

    @staticmethod
    def _key(codes: np.ndarray, times: pd.Series) -> np.ndarray:
        # Whole seconds since 1970 fit in 34 bits; the customer's number goes above them.
        seconds = (times - pd.Timestamp(0, tz=UTC)) // pd.Timedelta(seconds=1)
        return (codes << 34) + seconds.to_numpy(dtype=np.int64)

    def _codes_of(self, customers: pd.Series) -> np.ndarray:
        return self.customers.get_indexer(customers).astype(np.int64)

    def count_between(
        self,
        customers: pd.Series,
        start: pd.Series | None,
        end: pd.Series,
        kinds: tuple[str, ...] | None,
    ) -> pd.Series:
        """Events of ``kinds`` (all when None) with start <= time < end, per row."""
        keys = self._keys(kinds)
        codes = self._codes_of(customers)
        valid = (codes >= 0) & end.notna().to_numpy()
        end_filled = end.fillna(pd.Timestamp(0, tz=UTC))
        upper = np.searchsorted(keys, self._key(codes, end_filled), side="left")
        if start is None:
            lower = np.searchsorted(keys, codes << 34, side="left")
        else:
            start_filled = start.fillna(pd.Timestamp(0, tz=UTC))
            lower = np.searchsorted(keys, self._key(codes, start_filled), side="left")
        counts = np.where(valid, np.maximum(upper - lower, 0), 0).astype(float)
        return pd.Series(counts, index=customers.index)

    def last_before(self, customers: pd.Series, end: pd.Series, kind: str) -> pd.Series:
        """Time of the latest event of ``kind`` strictly before ``end`` (to the second)."""
        keys = self._keys((kind,))
        codes = self._codes_of(customers)
        position = np.searchsorted(keys, self._key(codes, end), side="left") - 1
        safe = np.clip(position, 0, max(len(keys) - 1, 0))
        found = (position >= 0) & (codes >= 0) & (len(keys) > 0)
        found &= (keys[safe] >> 34) == codes if len(keys) else found
        seconds = np.where(found, keys[safe] & ((1 << 34) - 1), 0) if len(keys) else 0
        stamps = pd.to_datetime(pd.Series(seconds, index=customers.index), unit="s", utc=True)
        return stamps.where(pd.Series(found, index=customers.index))
