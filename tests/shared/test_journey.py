"""The journey model: stages, the presets from the seed articles, and stage derivation."""

from __future__ import annotations

import pytest

from shared.journey import (
    CHANNELS,
    EVENT_TYPES,
    PRESETS,
    STAGE_OF_EVENT,
    STAGES,
    derive_stage,
    map_stage,
    next_stage,
)


def test_the_default_stages_are_the_looping_model_in_order() -> None:
    assert STAGES == ("awareness", "interest", "desire", "purchase", "loyalty", "advocacy")


def test_every_preset_maps_onto_default_stages() -> None:
    for name, mapping in PRESETS.items():
        assert set(mapping.values()) <= set(STAGES), name
    assert len(PRESETS["seven_phases"]) == 7
    assert list(PRESETS["three_steps"]) == ["awareness", "consideration", "decision"]
    assert list(PRESETS["readiness"]) == [f"{pct}%" for pct in range(0, 120, 10)]
    assert map_stage("conversion", "seven_phases") == "purchase"
    assert map_stage("referral", "seven_phases") == "advocacy"
    assert map_stage("110%", "readiness") == "loyalty"
    with pytest.raises(KeyError):
        map_stage("nirvana", "seven_phases")


def test_the_rules_use_known_event_types_and_the_design_channels() -> None:
    assert set(STAGE_OF_EVENT) <= set(EVENT_TYPES)
    assert {
        "add_to_cart",
        "checkout_started",
        "purchase",
        "cart_abandoned",
        "support_contact",
        "refund",
        "review",
        "referral",
    } <= set(EVENT_TYPES)
    assert {
        "display",
        "paid_social",
        "organic_search",
        "paid_search",
        "email",
        "newsletter",
        "retargeting",
        "direct",
        "referral",
        "affiliate",
        "pr",
    } <= set(CHANNELS)


@pytest.mark.parametrize(
    ("stage", "purchased", "event_type", "expected"),
    [
        ("awareness", False, "product_view", "interest"),
        ("awareness", False, "add_to_cart", "desire"),
        ("desire", False, "checkout_started", "purchase"),
        ("interest", False, "page_view", "interest"),  # never backwards
        ("purchase", True, "page_view", "loyalty"),  # a repeat visit after buying
        ("advocacy", True, "page_view", "advocacy"),
        ("loyalty", True, "add_to_cart", "desire"),  # the loop back on the next purchase
        ("loyalty", True, "review", "advocacy"),
        ("desire", False, "support_contact", "desire"),  # no rule: stay
    ],
)
def test_next_stage_follows_the_rules(
    stage: str, purchased: bool, event_type: str, expected: str
) -> None:
    assert next_stage(stage, purchased, event_type) == expected


def test_a_customer_journey_is_derived_from_events_in_order() -> None:
    events = [
        {"type": "page_view"},
        {"type": "product_view"},
        {"type": "add_to_cart"},
        {"type": "purchase"},
        {"type": "page_view"},
    ]
    assert derive_stage(events) == "loyalty"
    assert derive_stage(events + [{"type": "referral"}]) == "advocacy"
    assert derive_stage(events + [{"type": "add_to_cart"}]) == "desire"
    assert derive_stage([]) == "awareness"


def test_an_explicit_stage_wins_over_the_rules() -> None:
    events = [{"type": "page_view", "stage": "desire"}, {"type": "touchpoint"}]
    assert derive_stage(events) == "desire"
    assert derive_stage([{"type": "purchase", "stage": "not-a-stage"}]) == "purchase"
