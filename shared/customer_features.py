"""Customer features: one row per customer, for brand-switch risk."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from shared.features import DAY, stage_name, stage_timeline, typed_columns
from shared.journey import CHANNELS
from shared.journey_frames import JourneyFrames, as_utc, known_events, known_responses

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
        return typed_columns(out.reindex(columns=CUSTOMER_FEATURES), CUSTOMER_CATEGORICAL)
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
    return typed_columns(out[CUSTOMER_FEATURES], CUSTOMER_CATEGORICAL)


def customer_context(features: pd.DataFrame) -> pd.DataFrame:
    """``CUSTOMER_CONTEXT`` for customer feature rows: stage, segment, main product category and
    value (purchases in the last 365 days, the revenue at risk if the customer leaves)."""
    context = pd.DataFrame(index=features.index)
    context["stage"] = features["stage"]
    context["segment"] = features["segment"]
    context["product_category"] = features["main_category"]
    context["value"] = features["monetary_365d"].fillna(0.0)
    return context[CUSTOMER_CONTEXT]


def customer_task_context(features: pd.DataFrame) -> pd.DataFrame:
    """What a brand-switch score is stored with: the customer, no cart, and their context."""
    context = customer_context(features)
    context.insert(0, "customer_id", features.index.astype(str))
    context.insert(1, "cart_id", None)
    return context


def customers_who_bought(features: pd.DataFrame) -> pd.DataFrame:
    """Brand switch's population: customers with at least one purchase before the cutoff."""
    return features[features["frequency"] > 0]


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
