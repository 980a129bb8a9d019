"""Purchase readiness: each person's place on the 12-step scale of seed 003, 0 % to 110 %.

The scale's steps belong to the journey stages by ``PRESETS["readiness"]`` of
``shared.journey`` (0–10 % awareness, 20–40 % interest, 50–70 % desire, 80–100 % purchase,
110 % loyalty); what the person did in their current round of the journey (since their last
purchase, as the journey loops back to desire) places them on a step within the stage:

====  =====================================================================================
step  evidence in the current round
====  =====================================================================================
0     one touch, or nothing yet
10    several touches or page views
20    a product view (or a sign-up to the newsletter with fewer than two views)
30    two to four product views
40    five or more product views, or views and a newsletter sign-up
50    something in a cart
60    two or more additions to a cart
70    came back to a cart in a later visit (or was shown a discount with it)
80    started checkout
90    started checkout again, or after coming back
100   has just bought (nothing since the purchase)
110   came back after a purchase without a new cart: loyalty (a review or referral too)
====  =====================================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.journey import map_stage

STEPS: tuple[int, ...] = tuple(range(0, 120, 10))
# A visit ends after this much quiet (the same rule as the channel of a visit).
VISIT_GAP = pd.Timedelta(minutes=30)
# An open cart is at least at desire and, being open, not yet bought.
CART_FLOOR, CART_CEILING = 50, 90


def stage_of_step(step: int) -> str:
    """The journey stage a readiness step belongs to, by the mapping in ``shared.journey``."""
    return map_stage(f"{step}%", "readiness")


def readiness(events: pd.DataFrame, person: pd.Series) -> pd.Series:
    """Readiness (0–110, a multiple of 10) per person of ``person`` (one key per event row;
    events in any order, with type and occurred_at). People without events are absent."""
    if events.empty:
        return pd.Series(dtype=int)
    frame = pd.DataFrame(
        {
            "person": person.to_numpy(),
            "type": events["type"].astype(object).to_numpy(),
            "at": events["occurred_at"].to_numpy(),
        }
    ).sort_values(["person", "at"], kind="stable")
    is_purchase = frame["type"] == "purchase"
    last_purchase = frame["at"].where(is_purchase).groupby(frame["person"]).transform("max")
    bought_before = last_purchase.notna()
    # The current round: everything after the last purchase (the purchase itself included).
    current = frame[~bought_before | (frame["at"] >= last_purchase)].copy()
    current["new_visit"] = current.groupby("person")["at"].diff().isna() | (
        current.groupby("person")["at"].diff() > VISIT_GAP
    )
    current["visit"] = current.groupby("person")["new_visit"].cumsum()
    first_cart_visit = (
        current["visit"].where(current["type"] == "add_to_cart").groupby(current["person"]).min()
    )
    current["after_cart_visit"] = current["visit"] > current["person"].map(first_cart_visit)

    def count(kind: str) -> pd.Series:
        return (current["type"] == kind).groupby(current["person"]).sum()

    grouped = current.groupby("person")
    events_n = grouped.size()
    views = count("product_view")
    signup = count("newsletter_signup") > 0
    carts = count("add_to_cart")
    checkouts = count("checkout_started")
    discount = count("discount_shown") > 0
    advocacy = (count("review") + count("referral")) > 0
    bought = count("purchase") > 0
    came_back = (
        (current["after_cart_visit"] & current["type"].ne("purchase"))
        .groupby(current["person"])
        .any()
    )
    checkout_after_return = (
        (current["after_cart_visit"] & current["type"].eq("checkout_started"))
        .groupby(current["person"])
        .any()
    )
    only_purchase = bought & (events_n == 1)
    steps = np.select(
        [
            bought & (carts == 0) & (checkouts == 0) & ~only_purchase,
            only_purchase,
            (checkouts >= 2) | checkout_after_return,
            checkouts >= 1,
            (carts >= 1) & (came_back | discount),
            carts >= 2,
            carts >= 1,
            advocacy,
            (views >= 5) | ((views >= 2) & signup),
            views >= 2,
            (views >= 1) | signup,
            events_n >= 2,
        ],
        [110, 100, 90, 80, 70, 60, 50, 110, 40, 30, 20, 10],
        default=0,
    )
    return pd.Series(steps.astype(int), index=events_n.index, name="readiness")


def cart_readiness(person_readiness: int | None) -> int:
    """An open cart's step: its person's, kept within desire to checkout (an open cart is in a
    cart and not bought)."""
    if person_readiness is None:
        return CART_FLOOR
    return int(min(max(person_readiness, CART_FLOOR), CART_CEILING))
