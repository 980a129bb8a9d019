"""The journey model: stages, presets from the seed articles, and how a stage is derived.

The default is the looping model of seed 004: awareness → interest → desire → purchase →
loyalty → advocacy, looping back to desire on the next purchase. The other models from the
seeds are presets that map each of their phases onto these stages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

STAGES: tuple[str, ...] = ("awareness", "interest", "desire", "purchase", "loyalty", "advocacy")
STAGE_INDEX: dict[str, int] = {stage: i for i, stage in enumerate(STAGES)}
# After advocacy (or loyalty) the next purchase starts at desire again: the loop of seed 004.
LOOP_BACK_TO = "desire"

PRESETS: dict[str, dict[str, str]] = {
    "looping": {stage: stage for stage in STAGES},
    # Seed 000: seven phases from first attention to referral.
    "seven_phases": {
        "attention": "awareness",
        "intention": "interest",
        "information": "interest",
        "decision": "desire",
        "conversion": "purchase",
        "activation": "loyalty",
        "referral": "advocacy",
    },
    # Seed 001: the classic three-step funnel.
    "three_steps": {
        "awareness": "awareness",
        "consideration": "interest",
        "decision": "desire",
    },
    # Seed 003: readiness to buy from 0 % to 110 %, in twelve steps of ten.
    "readiness": {
        f"{pct}%": stage
        for pct, stage in [
            (0, "awareness"),
            (10, "awareness"),
            (20, "interest"),
            (30, "interest"),
            (40, "interest"),
            (50, "desire"),
            (60, "desire"),
            (70, "desire"),
            (80, "purchase"),
            (90, "purchase"),
            (100, "purchase"),
            (110, "loyalty"),
        ]
    },
}

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "touchpoint",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "purchase",
    "cart_abandoned",
    "support_contact",
    "refund",
    "review",
    "referral",
    "newsletter_signup",
    "identify",
    # A visitor about to leave (a shop's script sees it) and a discount shown: cart moments.
    "exit_intent",
    "discount_shown",
)
CHANNELS: tuple[str, ...] = (
    "display",
    "paid_social",
    "organic_social",
    "organic_search",
    "paid_search",
    "email",
    "newsletter",
    "retargeting",
    "direct",
    "referral",
    "affiliate",
    "pr",
)

# The journey rules: an event type moves a customer to at least this stage.
STAGE_OF_EVENT: dict[str, str] = {
    "page_view": "awareness",
    "touchpoint": "awareness",
    "product_view": "interest",
    "newsletter_signup": "interest",
    "add_to_cart": "desire",
    "checkout_started": "purchase",
    "purchase": "purchase",
    "review": "advocacy",
    "referral": "advocacy",
}


def map_stage(name: str, preset: str = "looping") -> str:
    """Map a phase name of a preset onto a default stage; raises KeyError for unknown names."""
    return PRESETS[preset][name]


def next_stage(stage: str, has_purchased: bool, event_type: str) -> str:
    """The stage after one event, given the stage before it.

    A repeat visit after a purchase is loyalty; a new cart after loyalty or advocacy loops back
    to desire; otherwise a customer only moves forward.
    """
    if event_type in {"review", "referral"}:
        return "advocacy"
    if event_type == "purchase" or event_type == "checkout_started":
        return "purchase"
    if event_type == "add_to_cart":
        return LOOP_BACK_TO if STAGE_INDEX[stage] >= STAGE_INDEX["purchase"] else "desire"
    if has_purchased and event_type in {"page_view", "touchpoint", "product_view"}:
        return stage if stage == "advocacy" else "loyalty"
    target = STAGE_OF_EVENT.get(event_type)
    if target is None:
        return stage
    return target if STAGE_INDEX[target] > STAGE_INDEX[stage] else stage


def derive_stage(events: Iterable[Mapping[str, object]]) -> str:
    """The current stage of one customer from their events in time order.

    An event that names a stage explicitly wins over the rules.
    """
    stage = "awareness"
    has_purchased = False
    for event in events:
        explicit = event.get("stage")
        event_type = str(event.get("type"))
        if explicit in STAGE_INDEX:
            stage = str(explicit)
        else:
            stage = next_stage(stage, has_purchased, event_type)
        has_purchased = has_purchased or event_type == "purchase"
    return stage
