"""What to say: reasons in plain words, and one suggested action for the agent.

The model's reasons (feature, value, reference) are put into words by ``shared.reasons``. The
suggested action looks first at what the customer told us — a cart left over shipping cost gets
a shipping offer, a detractor who complains about delivery gets a call with a delivery fix —
and only then at the model's strongest reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l

from shared import reasons as plain_reasons
from shared.metrics import DISSATISFIED_MAX, HARD_EFFORT_MAX, is_detractor
from shared.surveys import builtin_surveys

DELIVERY_WORDS: tuple[str, ...] = (
    "deliver",
    "shipping",
    "shipment",
    "parcel",
    "package",
    "courier",
    " late",
    "leverans",
    "levererad",
    "frakt",
    "paket",
    "försen",
    " sen ",
)
# What to offer for the reason a customer gave for leaving a cart.
ACTION_FOR_REASON = {
    "unexpected_shipping_cost": _l("Send a shipping offer: free or cheaper delivery on this cart."),
    "delivery_too_slow": _l("Offer a faster delivery option and confirm the date."),
    "price_too_high": _l("Offer a discount or a cheaper alternative."),
    "found_cheaper_elsewhere": _l("Offer to match the price."),
    "payment_problem": _l("Call and help with the payment; offer another way to pay."),
    "complicated_checkout": _l("Call and complete the order together with the customer."),
    "did_not_trust_site": _l("Reassure: send reviews, return terms and contact details."),
}
CALL_DELIVERY_FIX = _l("Call today, apologise and offer a delivery fix.")
CALL_UNHAPPY = _l("Call today and ask what went wrong; offer to put it right.")
CALL_EFFORT = _l("Call and sort out what was hard for them.")


def explain_reasons(reasons: Sequence[Mapping[str, Any]] | None, locale: str) -> list[dict]:
    """Each model reason as ``{"text", "direction", "effect", "action"}`` in the user's
    language, strongest first."""
    return [
        plain_reasons.explain(
            str(reason.get("feature", "")),
            reason.get("value"),
            reason.get("reference"),
            locale,
            reason.get("contribution"),
        )
        for reason in reasons or []
        if reason.get("feature")
    ]


def is_unhappy(answer: Mapping[str, Any] | None) -> bool:
    """A detractor, a dissatisfied or a struggling customer by their latest answer."""
    if not answer:
        return False
    nps, csat, ces = answer.get("nps"), answer.get("csat"), answer.get("ces")
    return (
        (nps is not None and is_detractor(nps))
        or (csat is not None and csat <= DISSATISFIED_MAX)
        or _hard(ces)
    )


def _hard(ces: float | None) -> bool:
    return ces is not None and ces <= HARD_EFFORT_MAX


def mentions_delivery(text: str | None) -> bool:
    lowered = f" {text or ''} ".lower()
    return any(word in lowered for word in DELIVERY_WORDS)


def suggest_action(
    reasons: Sequence[Mapping[str, Any]] | None,
    answer: Mapping[str, Any] | None,
    locale: str,
) -> str | None:
    """One action for the agent, from the customer's own words first, then the model's reasons."""
    answer = answer or {}
    reason_code = answer.get("reason")
    unhappy = is_unhappy(answer)
    delivery = reason_code == "delivery_too_slow" or mentions_delivery(answer.get("comment"))
    if unhappy and delivery:
        return str(CALL_DELIVERY_FIX)
    if reason_code in ACTION_FOR_REASON:
        return str(ACTION_FOR_REASON[reason_code])
    if unhappy:
        return str(CALL_EFFORT if _hard(answer.get("ces")) else CALL_UNHAPPY)
    # The strongest reason that raises the risk: nothing needs doing about one that lowers it.
    return next((r["action"] for r in explain_reasons(reasons, locale) if r["action"]), None)


@cache
def _reason_labels() -> dict[str, dict[str, str]]:
    """The option texts of the built-in survey that asks why a cart was left."""
    for survey in builtin_surveys():
        if any(question["id"] == "reason" for question in survey["questions"]):
            return {
                locale: dict(texts["questions"]["reason"]["options"])
                for locale, texts in survey["texts"].items()
            }
    return {}


def answer_reason_label(code: str | None, locale: str) -> str | None:
    """The words a customer picked for leaving a cart, in the agent's language."""
    if not code:
        return None
    labels = _reason_labels()
    return labels.get(locale, labels.get("en", {})).get(code, code.replace("_", " "))
