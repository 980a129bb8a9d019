"""Cart features for cart-abandonment risk: open carts, the moments a shop can act on a cart,
and one row per (cart, moment) built from the events before it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from shared.features import DAY, MINUTE, VIEW_TYPES, stage_name, stage_timeline, typed_columns
from shared.journey_frames import (
    DISCOUNT_PROPERTY,
    SESSION_PROPERTIES,
    JourneyFrames,
    as_utc,
    known_events,
    property_column,
)

# A cart without activity for this long is no longer open, even if no shop marked it abandoned.
CART_MAX_IDLE = pd.Timedelta(days=7)
# Page views within this window before a cart was opened count as its session.
SESSION_WINDOW = pd.Timedelta(minutes=60)
CART_EVENT_TYPES = ("add_to_cart", "remove_from_cart", "checkout_started")
# A visitor's events with gaps shorter than this are one session.
SESSION_GAP = pd.Timedelta(minutes=30)
# Time on a product page counts at most this long (a tab left open is not reading).
PRODUCT_PAGE_CAP = pd.Timedelta(minutes=10)

CART_FEATURE_DOCS: dict[str, str] = {
    "segment": "customer segment, when the visitor was identified (categorical)",
    "stage": "customer's journey stage at the cutoff (categorical)",
    "product_category": "category of the first product put in the cart (categorical)",
    "device": "device the cart was opened on (categorical)",
    "channel": "channel of the first event of the visitor's current session (categorical)",
    "cart_value": "value added minus value removed",
    "cart_items": "items added minus items removed",
    "minutes_open": "minutes since the cart was opened",
    "minutes_idle": "minutes since the last cart activity",
    "checkout_started": "1 when checkout was started, else 0",
    "minutes_in_checkout": "minutes since checkout was started",
    "session_depth": "visitor's events in the hour before the cart was opened",
    "session_minutes": "minutes from the first to the last event of the visitor's session",
    "session_pages": "pages viewed in the session (page views, touchpoints, product views)",
    "session_product_views": "product pages viewed in the session",
    "minutes_on_product_pages": "minutes spent on product pages in the session (capped each)",
    "returning_visitor": "1 when the visitor or its known customer was seen before the session",
    "discount_shown": "1 when a discount was shown in the session, else 0",
    **{
        f"session_{key}_{how}": f"{how} of the events' {key} property in the session"
        for key, how in SESSION_PROPERTIES.items()
    },
    "past_purchases": "known customer's purchases before the cutoff (none when anonymous)",
    "past_abandonments": "known customer's carts marked abandoned before the cutoff",
    "days_since_last_purchase": "days since the known customer's previous purchase",
}
CART_FEATURES: list[str] = list(CART_FEATURE_DOCS)
CART_CATEGORICAL: list[str] = ["segment", "stage", "product_category", "device", "channel"]
# The session columns of the "session logistic regression" baseline.
CART_SESSION_FEATURES: list[str] = [
    "session_minutes",
    "session_pages",
    "session_product_views",
    "minutes_on_product_pages",
    "returning_visitor",
    "discount_shown",
    "cart_value",
    "cart_items",
    *(f"session_{key}_{how}" for key, how in SESSION_PROPERTIES.items()),
]
# The moments at which a shop can still act on a cart (training snapshots): right after a
# cart change, after quiet of these lengths following the last cart activity, at exit intent.
CART_QUIET_MOMENTS: dict[str, pd.Timedelta] = {
    "quiet_5": pd.Timedelta(minutes=5),
    "quiet_15": pd.Timedelta(minutes=15),
    "quiet_60": pd.Timedelta(minutes=60),
}
CART_MOMENTS: tuple[str, ...] = ("change", *CART_QUIET_MOMENTS, "exit_intent")
# A snapshot "right after" an event is taken this long after it (features see events before).
JUST_AFTER = pd.Timedelta(seconds=1)


def cart_spans(events: pd.DataFrame) -> pd.DataFrame:
    """Every cart with its visitor and customer (of its first event; NaN when anonymous), when
    it opened, when it was last touched, and when it was bought or marked abandoned (NaT when
    not, among the events given)."""
    carts = events[events["cart_id"].notna()]
    etype = carts["type"].astype(str)
    grouped = carts.groupby("cart_id", sort=False)
    activity = carts[etype.isin(CART_EVENT_TYPES)].groupby("cart_id")["occurred_at"]
    first = carts.sort_values("occurred_at", kind="stable").groupby("cart_id", sort=False).head(1)
    first = first.set_index("cart_id")
    spans = pd.DataFrame({"opened_at": grouped["occurred_at"].min()})
    spans["visitor_id"] = first["visitor_id"].reindex(spans.index)
    spans["customer_id"] = grouped["customer_id"].first()
    spans["last_activity_at"] = activity.max()
    spans["purchased_at"] = carts[etype == "purchase"].groupby("cart_id")["occurred_at"].min()
    spans["abandoned_at"] = carts[etype == "cart_abandoned"].groupby("cart_id")["occurred_at"].min()
    spans.index.name = "cart_id"
    return spans[
        [
            "visitor_id",
            "customer_id",
            "opened_at",
            "last_activity_at",
            "purchased_at",
            "abandoned_at",
        ]
    ]


def open_carts(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """Carts open at ``cutoff``: opened before it, not bought, not marked abandoned, and touched
    within the last ``CART_MAX_IDLE``; anonymous visitors' carts too. Index cart_id; columns
    visitor_id, customer_id (NaN when the visitor is not identified), as_of."""
    cutoff_ts = as_utc(cutoff)
    spans = cart_spans(known_events(frames, cutoff_ts, anonymous=True))
    last_touch = spans["last_activity_at"].fillna(spans["opened_at"])
    is_open = (
        spans["purchased_at"].isna()
        & spans["abandoned_at"].isna()
        & (cutoff_ts - last_touch <= CART_MAX_IDLE)
    )
    found = spans.loc[is_open, ["visitor_id", "customer_id"]].copy()
    found["as_of"] = cutoff_ts
    return found


def cart_decision_moments(events: pd.DataFrame) -> pd.DataFrame:
    """The moments a shop could act on each cart, from the cart's (and its visitor's) events.

    Right after each cart change (add, remove, checkout start); 5, 15 and 60 minutes after a
    cart activity when the cart saw nothing more by then and was still open; right after an
    ``exit_intent`` event of the cart's visitor while the cart was open and touched within the
    last hour. Never a cart idle for longer than an hour. Index cart_id; columns visitor_id,
    as_of, moment (one of ``CART_MOMENTS``).
    """
    spans = cart_spans(events)
    columns = ["visitor_id", "as_of", "moment"]
    if spans.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="cart_id"))
    closed = spans[["purchased_at", "abandoned_at"]].min(axis=1)
    carts = events[events["cart_id"].notna()].sort_values(["cart_id", "occurred_at"])
    ctype = carts["type"].astype(str)
    activity = carts[ctype.isin(CART_EVENT_TYPES)][["cart_id", "occurred_at"]]
    # The next event of the same cart after each activity (any type: a purchase closes it).
    nxt = carts.groupby("cart_id")["occurred_at"].shift(-1)
    following = nxt[ctype.isin(CART_EVENT_TYPES).to_numpy()]
    closes = closed.reindex(activity["cart_id"]).to_numpy()
    parts = []
    change = activity["occurred_at"] + JUST_AFTER
    still_open = ~(closes <= change.to_numpy())
    parts.append(_moments(activity["cart_id"][still_open], change[still_open], "change"))
    for name, quiet in CART_QUIET_MOMENTS.items():
        at = activity["occurred_at"] + quiet
        ok = ~(following <= at).to_numpy() & ~(closes <= at.to_numpy())
        parts.append(_moments(activity["cart_id"][ok], at[ok], name))
    parts.append(_exit_moments(events, spans, activity, closed))
    moments = pd.concat(parts, ignore_index=True)
    moments = moments.drop_duplicates(["cart_id", "as_of"]).sort_values(["as_of", "cart_id"])
    moments["visitor_id"] = spans["visitor_id"].reindex(moments["cart_id"]).to_numpy()
    return moments.set_index("cart_id")[columns]


def _moments(cart_ids: pd.Series, at: pd.Series, name: str) -> pd.DataFrame:
    return pd.DataFrame({"cart_id": cart_ids.to_numpy(), "as_of": at.to_numpy(), "moment": name})


def _exit_moments(
    events: pd.DataFrame, spans: pd.DataFrame, activity: pd.DataFrame, closed: pd.Series
) -> pd.DataFrame:
    """Exit intents of a visitor with a cart open and touched within the last hour: the cart is
    the one the visitor touched last (an exit event need not name it)."""
    exits = events[(events["type"].astype(str) == "exit_intent") & events["visitor_id"].notna()]
    if exits.empty or activity.empty:
        return _moments(
            pd.Series([], dtype=object), pd.Series([], dtype="datetime64[ns, UTC]"), "exit_intent"
        )
    touched = activity.assign(
        visitor_id=spans["visitor_id"].reindex(activity["cart_id"]).to_numpy()
    )
    touched = touched.dropna(subset=["visitor_id"]).sort_values("occurred_at")
    left = exits[["visitor_id", "occurred_at"]].sort_values("occurred_at")
    # merge_asof wants one key type; ids come as Arrow strings or Python objects by reader.
    touched["visitor_id"] = touched["visitor_id"].astype(object)
    left = left.assign(visitor_id=left["visitor_id"].astype(object))
    matched = pd.merge_asof(
        left.rename(columns={"occurred_at": "exit_at"}),
        touched.rename(columns={"occurred_at": "touched_at"}),
        left_on="exit_at",
        right_on="touched_at",
        by="visitor_id",
        tolerance=CART_QUIET_MOMENTS["quiet_60"],
    ).dropna(subset=["cart_id"])
    at = matched["exit_at"] + JUST_AFTER
    ok = ~(closed.reindex(matched["cart_id"]).to_numpy() <= at.to_numpy())
    return _moments(matched["cart_id"][ok], at[ok], "exit_intent")


def cart_task_context(features: pd.DataFrame) -> pd.DataFrame:
    """What a cart score is stored with: its customer (None when anonymous), visitor, cart id,
    and context; the value at risk is the cart's value."""
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].astype(object),
            "visitor_id": features["visitor_id"].astype(object),
            "cart_id": features.index.astype(str),
            "stage": features["stage"],
            "segment": features["segment"],
            "product_category": features["product_category"],
            "value": features["cart_value"],
        },
        index=features.index,
    )


def every_row(features: pd.DataFrame) -> pd.DataFrame:
    return features


def build_cart_features(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """One row per cart open at ``cutoff``: index cart_id, visitor_id, customer_id, then
    ``CART_FEATURES``."""
    return build_cart_features_at(frames, open_carts(frames, cutoff))


def build_cart_features_at(
    frames: JourneyFrames, snapshots: pd.DataFrame, known_at: datetime | None = None
) -> pd.DataFrame:
    """Cart features for (cart, as_of) snapshots, each from events strictly before its as_of.

    ``snapshots`` has index cart_id (repeats allowed) and a column as_of. Training uses the
    decision moments of ``cart_decision_moments``; serving uses every open cart at one cutoff.
    A cart belongs to its visitor: cart and session features come from the visitor's own
    events, so they do not change when the visitor is identified later. The customer (and the
    customer's history: segment, stage, past purchases) counts only when the visitor was
    identified before the snapshot; ``customer_id`` is NaN otherwise. A customer's history
    holds the visitors linked to them before ``known_at`` (default: the latest snapshot);
    training passes the end of the snapshot window, so that a row does not depend on which
    other snapshots were drawn with it.
    """
    columns = ["visitor_id", "customer_id", *CART_FEATURES]
    text_columns = ["visitor_id", "customer_id", *CART_CATEGORICAL]
    if snapshots.empty:
        empty = pd.DataFrame(columns=columns, index=pd.Index([], name="cart_id"))
        return typed_columns(empty, text_columns).astype({"customer_id": object})
    snaps = snapshots.reset_index().rename(columns={"index": "cart_id"})[["cart_id", "as_of"]]
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    snaps["row"] = np.arange(len(snaps))
    latest = snaps["as_of"].max()
    if known_at is not None:
        latest = max(latest, as_utc(known_at))
    ev = known_events(frames, latest, anonymous=True)

    carts = ev[ev["cart_id"].isin(set(snaps["cart_id"]))]
    joined = snaps[["row", "cart_id", "as_of"]].merge(carts, on="cart_id", how="inner")
    joined = joined[joined["occurred_at"] < joined["as_of"]]
    joined = joined.sort_values(["row", "occurred_at"], kind="stable")
    # Known at as_of: named by the event itself, or linked to its visitor before as_of.
    attributable = joined["customer_id"].notna() & ~(joined["linked_at"] >= joined["as_of"])
    jtype = joined["type"].astype(str)
    sign = np.select([jtype == "add_to_cart", jtype == "remove_from_cart"], [1.0, -1.0], 0.0)
    first = joined.groupby("row").head(1).set_index("row")
    is_cart_activity = jtype.isin(CART_EVENT_TYPES)
    checkout = joined[jtype == "checkout_started"].groupby("row")["occurred_at"].min()

    out = snaps.set_index("row")
    out["visitor_id"] = first["visitor_id"].astype(object)
    owner = joined[attributable].groupby("row")["customer_id"].last()
    out["customer_id"] = owner.reindex(out.index).astype(object)
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

    opened = first["occurred_at"].reindex(out.index)
    session = _session_features(ev, out["visitor_id"], out["as_of"], opened)
    for column in session.columns:
        out[column] = session[column]

    customer_events = ev[ev["customer_id"].notna()]
    customer_events = customer_events[~(customer_events["linked_at"] >= latest)]
    history = _CustomerHistory(customer_events)
    who = out["customer_id"]
    anonymous = who.isna()
    seen_before = history.count_between(who, None, out["session_start"], kinds=None) > 0
    out["returning_visitor"] = (out["returning_visitor"].astype(bool) | seen_before).astype(float)
    out["past_purchases"] = history.count_between(who, None, out["as_of"], kinds=("purchase",))
    out["past_abandonments"] = history.count_between(
        who, None, out["as_of"], kinds=("cart_abandoned",)
    )
    out.loc[anonymous, ["past_purchases", "past_abandonments"]] = np.nan
    last_buy = history.last_before(who, out["as_of"], kind="purchase")
    out["days_since_last_purchase"] = (out["as_of"] - last_buy) / DAY

    segments = frames.customers.drop_duplicates("customer_id").set_index("customer_id")["segment"]
    out["segment"] = who.map(segments)
    out["stage"] = _stage_as_of(customer_events, out[["customer_id", "as_of"]])
    # An anonymous visitor with a cart is at the desire stage as far as anyone can tell.
    out.loc[anonymous, "stage"] = "desire"
    out = out.set_index("cart_id")
    typed = typed_columns(out[columns], text_columns)
    # None, not the text "none", for an anonymous visitor; object dtype whatever the rows hold.
    owners = out["customer_id"].astype(object)
    typed["customer_id"] = pd.Series(
        owners.where(owners.notna(), None).to_numpy(), index=typed.index, dtype=object
    )
    return typed


def _session_features(
    events: pd.DataFrame, visitors: pd.Series, as_of: pd.Series, opened: pd.Series
) -> pd.DataFrame:
    """Per (visitor, as_of): the visitor's session that holds its last event before as_of.

    A session is the visitor's events with gaps under ``SESSION_GAP``. Sums are differences of
    running totals over the visitor's events sorted in time, found by binary search, so only
    events strictly before each as_of count.
    """
    index = visitors.index
    wanted = events[events["visitor_id"].isin(set(visitors.dropna()))]
    wanted = wanted.sort_values(["visitor_id", "occurred_at"], kind="stable")
    n = len(wanted)
    if n == 0:
        return _no_session(index)
    codes, uniques = pd.factorize(wanted["visitor_id"])
    codes = codes.astype(np.int64)
    times = wanted["occurred_at"]
    keys = _CustomerHistory._key(codes, times)
    new_visitor = np.ones(n, dtype=bool)
    new_visitor[1:] = codes[1:] != codes[:-1]
    gap = times.diff().to_numpy()
    new_session = new_visitor | (gap >= SESSION_GAP.to_timedelta64())
    session_no = np.cumsum(new_session) - 1
    starts = times.to_numpy()[np.flatnonzero(new_session)]
    etype = wanted["type"].astype(str).to_numpy()
    is_page = np.isin(etype, VIEW_TYPES)
    is_product = etype == "product_view"
    discount = (etype == "discount_shown") | (
        wanted[property_column(DISCOUNT_PROPERTY)].fillna(0.0).to_numpy() > 0
    )
    # Time on a product page: until the next event of the same session, capped.
    until_next = np.append(gap[1:], np.timedelta64("NaT"))
    same_session = np.append(~new_session[1:], False)
    cap_minutes = PRODUCT_PAGE_CAP / MINUTE
    reading = np.where(
        is_product & same_session,
        np.minimum(pd.to_timedelta(until_next).to_numpy() / MINUTE.to_timedelta64(), cap_minutes),
        0.0,
    )
    reading = np.nan_to_num(reading)

    def running(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(values, dtype=float)])

    pages, products, reads, discounts = (
        running(v) for v in (is_page, is_product, reading, discount)
    )
    visitor_codes = pd.Index(uniques).get_indexer(visitors).astype(np.int64)
    has_visitor = (visitor_codes >= 0) & as_of.notna().to_numpy()
    upper = np.searchsorted(keys, _CustomerHistory._key(visitor_codes, as_of), side="left")
    last = upper - 1
    found = has_visitor & (last >= 0)
    safe_last = np.clip(last, 0, n - 1)
    found &= codes[safe_last] == visitor_codes
    session = session_no[safe_last]
    first_of_session = np.searchsorted(session_no, session, side="left")
    start_time = pd.Series(starts[session], index=index)

    def window(totals: np.ndarray) -> np.ndarray:
        return np.where(found, totals[safe_last + 1] - totals[first_of_session], np.nan)

    out = pd.DataFrame(index=index)
    out["session_start"] = start_time.where(found)
    last_time = pd.Series(times.to_numpy()[safe_last], index=index)
    out["session_minutes"] = ((last_time - out["session_start"]) / MINUTE).where(found)
    out["session_pages"] = window(pages)
    out["session_product_views"] = window(products)
    # The last product view before as_of is read until as_of (never past it: no later event).
    open_reading = np.where(
        found & is_product[safe_last],
        np.minimum((as_of - last_time) / MINUTE, cap_minutes),
        0.0,
    )
    # reading[safe_last] may look at the event after as_of: take it out.
    tail = np.where(found, reading[safe_last], 0.0)
    out["minutes_on_product_pages"] = window(reads) - tail + open_reading
    out["discount_shown"] = (np.nan_to_num(window(discounts)) > 0).astype(float)
    # The visitor's own events before the session (the customer's are added by the caller).
    before_session = codes[np.clip(first_of_session - 1, 0, n - 1)] == visitor_codes
    out["returning_visitor"] = (found & (first_of_session > 0) & before_session).astype(float)
    for key, how in SESSION_PROPERTIES.items():
        values = wanted[property_column(key)].to_numpy(dtype=float)
        column = f"session_{key}_{how}"
        if how == "sum":
            out[column] = window(running(np.nan_to_num(values)))
        else:
            # Events without the property must not hide an earlier value in the session.
            fill = -np.inf if how == "max" else np.inf
            grouped = pd.Series(np.where(np.isnan(values), fill, values)).groupby(session_no)
            extreme = (grouped.cummax() if how == "max" else grouped.cummin()).to_numpy()
            extreme = np.where(np.isinf(extreme), np.nan, extreme)
            out[column] = np.where(found, extreme[safe_last], np.nan)
    first_channel = wanted["channel"].astype(object).to_numpy()[np.flatnonzero(new_session)]
    out["channel"] = pd.Series(np.where(found, first_channel[session], None), index=index)
    out["session_depth"] = _count_between(
        keys, visitor_codes, opened - SESSION_WINDOW, opened, index
    )
    return out


def _no_session(index: pd.Index) -> pd.DataFrame:
    """What ``_session_features`` gives rows whose visitor has no event (none is known)."""
    out = pd.DataFrame(index=index)
    out["session_start"] = pd.Series(pd.NaT, index=index, dtype="datetime64[us, UTC]")
    for column in ("session_minutes", "session_pages", "session_product_views"):
        out[column] = np.nan
    out["minutes_on_product_pages"] = np.nan
    out["discount_shown"] = 0.0
    out["returning_visitor"] = 0.0
    for key, how in SESSION_PROPERTIES.items():
        out[f"session_{key}_{how}"] = np.nan
    out["channel"] = None
    out["session_depth"] = 0.0
    return out


def _count_between(
    keys: np.ndarray, codes: np.ndarray, start: pd.Series, end: pd.Series, index: pd.Index
) -> pd.Series:
    valid = (codes >= 0) & start.notna().to_numpy() & end.notna().to_numpy()
    zero = pd.Timestamp(0, tz=UTC)
    lower = np.searchsorted(keys, _CustomerHistory._key(codes, start.fillna(zero)), "left")
    upper = np.searchsorted(keys, _CustomerHistory._key(codes, end.fillna(zero)), "left")
    return pd.Series(np.where(valid, np.maximum(upper - lower, 0), 0).astype(float), index=index)


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
