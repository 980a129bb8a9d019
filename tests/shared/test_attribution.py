"""Attribution on hand-made paths whose answers are computed by hand (issue 17)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from shared.attribution import (
    MARKOV,
    MODELS,
    OTHER,
    attribute,
    build_paths,
    conversions_and_touches,
    rule_weights,
)

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-03-01", tz="UTC")


def _paths(rows: list[tuple[str, str, float, list[tuple[str, float]]]], nulls=(), **kwargs):
    """rows: (conversion id, person, value, [(channel, days before the conversion)])."""
    conversions = pd.DataFrame(
        [(cid, person, T0 + 20 * DAY, value) for cid, person, value, _ in rows],
        columns=["conversion_id", "person", "at", "value"],
    )
    touches = [
        (person, T0 + 20 * DAY - days * DAY, channel)
        for _cid, person, _value, touches in rows
        for channel, days in touches
    ]
    touches += [
        (f"n{i}", T0 + 21 * DAY + j * DAY, channel)
        for i, path in enumerate(nulls)
        for j, channel in enumerate(path)
    ]
    frame = pd.DataFrame(touches, columns=["person", "at", "channel"])
    return build_paths(conversions, frame, since=T0, until=T0 + 60 * DAY, **kwargs)


def _credits(result) -> dict[str, float]:
    return {c.channel: round(c.revenue, 6) for c in result.channels}


# One conversion of 100 with four touches: display (10 days before), email (7), email (3),
# paid_search (0); a second of 50 with one touch (direct, 1 day); a third of 30 with two.
HAND = [
    ("a", "p1", 100.0, [("display", 10), ("email", 7), ("email", 3), ("paid_search", 0)]),
    ("b", "p2", 50.0, [("direct", 1)]),
    ("c", "p3", 30.0, [("display", 5), ("direct", 2)]),
]


def test_each_rule_gives_the_hand_computed_credits() -> None:
    paths = _paths(HAND)
    assert _credits(attribute(paths, "last_click")) == {
        "paid_search": 100.0,
        "direct": 80.0,
        "display": 0.0,
        "email": 0.0,
    }
    assert _credits(attribute(paths, "first_click")) == {
        "display": 130.0,
        "direct": 50.0,
        "email": 0.0,
        "paid_search": 0.0,
    }
    # Linear: a's four touches get 25 each; c's two 15 each.
    assert _credits(attribute(paths, "linear")) == {
        "direct": 65.0,
        "email": 50.0,
        "display": 40.0,
        "paid_search": 25.0,
    }
    # Position-based: a 40/10/10/40, b 100 %, c 50/50.
    assert _credits(attribute(paths, "position_based")) == {
        "direct": 65.0,
        "display": 55.0,
        "paid_search": 40.0,
        "email": 20.0,
    }


def test_time_decay_halves_a_touch_per_half_life() -> None:
    # a: weights 2^-10/7, 2^-1, 2^-3/7, 1 (half-life 7 days); c: 2^-5/7, 2^-2/7.
    paths = _paths(HAND)
    got = _credits(attribute(paths, "time_decay", half_life_days=7))
    wa = [2 ** (-10 / 7), 2 ** (-7 / 7), 2 ** (-3 / 7), 1.0]
    wc = [2 ** (-5 / 7), 2 ** (-2 / 7)]
    expected = {
        "display": 100 * wa[0] / sum(wa) + 30 * wc[0] / sum(wc),
        "email": 100 * (wa[1] + wa[2]) / sum(wa),
        "paid_search": 100 * wa[3] / sum(wa),
        "direct": 50.0 + 30 * wc[1] / sum(wc),
    }
    assert got == pytest.approx(expected)
    # A shorter half-life moves credit to the last touch.
    short = _credits(attribute(paths, "time_decay", half_life_days=1))
    assert short["paid_search"] > got["paid_search"]


def test_position_based_edge_cases() -> None:
    touches = pd.DataFrame(
        {"conversion_id": [1, 2, 2, 3, 3, 3], "channel": list("abcdef"), "age_days": [0] * 6}
    )
    weights = rule_weights(touches, "position_based")
    assert list(weights) == pytest.approx([1.0, 0.5, 0.5, 0.4, 0.2, 0.4])


def test_markov_removal_effect_matches_the_worked_example() -> None:
    """Paths: display → email → conversion (100), email → conversion (200),
    display → null (a visitor who never bought).

    Transitions: start→display 2/3, start→email 1/3; display→email 1/2, display→null 1/2;
    email→conversion 1. P(conversion) = 2/3·1/2 + 1/3 = 2/3.
    Without display: start→display goes to null, P = 1/3, removal effect 1 − (1/3)/(2/3) = 1/2.
    Without email: nothing reaches a conversion, P = 0, removal effect 1.
    Shares: display 0.5/1.5 = 1/3, email 2/3 of the 300: display 100, email 200.
    """
    paths = _paths(
        [
            ("a", "p1", 100.0, [("display", 9), ("email", 5)]),
            ("b", "p2", 200.0, [("email", 1)]),
        ],
        nulls=[("display",)],
    )
    result = attribute(paths, MARKOV)
    assert _credits(result) == pytest.approx({"email": 200.0, "display": 100.0})
    assert result.interval_note and "too few" in result.interval_note
    assert all(c.low is None and c.high is None for c in result.channels)


def _many(n: int) -> list:
    rows = []
    for i in range(n):
        path = [("display", 9), ("email", 2)] if i % 3 else [("paid_search", 1)]
        if i % 5 == 0:
            path = [("retargeting", 4), *path]
        rows.append((f"c{i}", f"p{i}", 10.0 + i, path))
    return rows


def test_every_model_hands_out_exactly_the_attributed_revenue() -> None:
    paths = _paths(
        [*_many(60), ("x", "lonely", 999.0, [])],
        nulls=[("display",), ("email", "display"), ("retargeting",)] * 5,
    )
    for model in MODELS:
        result = attribute(paths, model)
        assert math.isclose(sum(c.revenue for c in result.channels), result.attributed_revenue)
        assert result.attributed_revenue == sum(10.0 + i for i in range(60))
        assert result.unattributed_revenue == 999.0 and result.unattributed_conversions == 1
        assert math.isclose(sum(c.conversions for c in result.channels), 60)


def test_the_bootstrap_interval_holds_the_estimate_and_is_seeded() -> None:
    paths = _paths(_many(90), nulls=[("display",), ("email", "display")] * 20)
    result = attribute(paths, MARKOV)
    assert result.interval_note is None
    for credit in result.channels:
        assert credit.low <= credit.revenue <= credit.high, credit
    assert attribute(paths, MARKOV) == result  # the same seed, the same interval
    # The same paths of people read in another order (other ids) give the same interval.
    renamed = [(cid, f"z{99 - int(person[1:])}", value, t) for cid, person, value, t in _many(90)]
    shuffled = _paths(renamed[::-1], nulls=[("email", "display"), ("display",)] * 20)
    assert attribute(shuffled, MARKOV).channels == result.channels


def test_unknown_channels_are_kept_as_other_and_counted() -> None:
    paths = _paths(
        [("a", "p1", 100.0, [("carrier_pigeon", 3), ("email", 1)]), ("b", "p2", 10.0, [])]
    )
    assert paths.other_touches == 1
    result = attribute(paths, "linear")
    assert _credits(result) == {OTHER: 50.0, "email": 50.0}
    assert result.other_touches == 1


def test_touches_outside_the_lookback_or_after_until_do_not_count() -> None:
    rows = [("a", "p1", 100.0, [("display", 40), ("email", 2), ("direct", -1)])]
    paths = _paths(rows, lookback_days=30)
    assert _credits(attribute(paths, "linear")) == {"email": 100.0}


def _events(rows: list[tuple]) -> pd.DataFrame:
    columns = ["customer_id", "visitor_id", "type", "channel", "cart_id", "value", "occurred_at"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    frame["type"] = frame["type"].astype("category")
    frame["channel"] = frame["channel"].astype("category")
    return frame


def test_conversions_respect_the_cut_off_and_find_recovered_carts() -> None:
    events = _events(
        [
            ("c1", "v1", "touchpoint", "email", None, None, "2026-03-01"),
            ("c1", "v1", "add_to_cart", None, "k1", 40.0, "2026-03-02"),
            ("c1", "v1", "purchase", "direct", "k1", 40.0, "2026-03-05"),  # 3 days later
            ("c2", "v2", "add_to_cart", None, "k2", 60.0, "2026-03-06 10:00"),
            ("c2", "v2", "purchase", None, "k2", 60.0, "2026-03-06 10:20"),  # bought at once
            (None, "v3", "touchpoint", "display", None, None, "2026-03-07"),
            ("c3", "v4", "purchase", None, None, 99.0, "2026-04-02"),  # after until
        ]
    )
    since, until = pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-04-01", tz="UTC")
    purchases, touches = conversions_and_touches(events, "purchase", since, until)
    assert sorted(purchases["value"]) == [40.0, 60.0]
    # Purchases are conversions, not touchpoints; an anonymous visitor is a person too.
    assert sorted(touches["channel"]) == ["display", "email"]
    assert touches["person"].nunique() == 2  # c1's e-mail, the visitor v3's display
    recovered, _ = conversions_and_touches(events, "recovered_cart", since, until)
    assert list(recovered["value"]) == [40.0]
