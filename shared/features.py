"""What the two feature builders share: column conventions and the journey stage timeline.

THE feature builders are one piece of code for training and for serving: the pure functions
``shared.customer_features.build_customer_features`` and
``shared.cart_features.build_cart_features`` turn journey frames (``shared.journey_frames``,
read by ``shared.journey_loader``) into one row per customer or per open cart. Training calls
them at many past cutoffs; the model service calls them at "now".

Conventions: categorical features are strings (``"none"`` when absent), numeric features are
floats, and a numeric value that does not exist (the recency of a customer who never bought) is
NaN, left for the model pipeline to impute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.journey import STAGE_INDEX, STAGES

DAY = pd.Timedelta(days=1)
MINUTE = pd.Timedelta(minutes=1)
NONE = "none"

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


def typed_columns(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as strings ("none" when missing), every other column as float."""
    frame = frame.copy()
    for column in frame.columns:
        if column in categorical:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), NONE)
            frame[column] = frame[column].astype(str)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame
