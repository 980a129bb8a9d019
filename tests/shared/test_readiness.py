"""Purchase readiness on the 12-step scale (issue 17), from hand-made journeys."""

from __future__ import annotations

import pandas as pd
import pytest

from shared.journey import PRESETS
from shared.readiness import STEPS, cart_readiness, readiness, stage_of_step

START = pd.Timestamp("2026-05-01", tz="UTC")


def _journeys(people: dict[str, list[tuple[str, float]]]) -> pd.Series:
    """people: person -> [(event type, minutes after START)]."""
    rows = [
        (p, kind, START + pd.Timedelta(minutes=m)) for p, evs in people.items() for kind, m in evs
    ]
    events = pd.DataFrame(rows, columns=["person", "type", "occurred_at"])
    return readiness(events, events["person"]).to_dict()


def test_each_step_from_its_evidence() -> None:
    day = 24 * 60
    got = _journeys(
        {
            "p0": [("touchpoint", 0)],
            "p10": [("touchpoint", 0), ("page_view", 1)],
            "p20": [("touchpoint", 0), ("product_view", 1)],
            "p30": [("product_view", 0), ("product_view", 2), ("product_view", 3)],
            "p40": [("product_view", m) for m in range(5)],
            "p50": [("product_view", 0), ("add_to_cart", 1)],
            "p60": [("add_to_cart", 1), ("add_to_cart", 3)],
            "p70": [("add_to_cart", 1), ("page_view", day)],  # came back in a later visit
            "p80": [("add_to_cart", 1), ("checkout_started", 3)],
            "p90": [("add_to_cart", 1), ("checkout_started", 3), ("checkout_started", day)],
            "p100": [("add_to_cart", 1), ("purchase", 5)],
            "p110": [("add_to_cart", 1), ("purchase", 5), ("page_view", 10 * day)],
            # The loop: a new cart after a purchase is desire again.
            "loop": [("purchase", 0), ("product_view", day), ("add_to_cart", day + 1)],
            "fan": [("purchase", 0), ("review", day)],
        }
    )
    for person, step in got.items():
        if person.startswith("p"):
            assert step == int(person[1:]), person
    assert got["loop"] == 50 and got["fan"] == 110


def test_steps_belong_to_the_stages_of_the_journey_preset() -> None:
    assert tuple(int(k.rstrip("%")) for k in PRESETS["readiness"]) == STEPS
    assert [stage_of_step(s) for s in (0, 20, 50, 80, 110)] == [
        "awareness",
        "interest",
        "desire",
        "purchase",
        "loyalty",
    ]


@pytest.mark.parametrize(("person", "cart"), [(None, 50), (20, 50), (80, 80), (110, 90)])
def test_an_open_cart_is_between_desire_and_checkout(person, cart) -> None:
    assert cart_readiness(person) == cart
