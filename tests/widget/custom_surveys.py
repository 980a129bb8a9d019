"""Surveys the built-in ones do not cover, created through the admin API by the tests that
need them: one with every question type (no built-in survey has multiple choice), and one that
samples nobody."""

from __future__ import annotations

from typing import Any

EVERY_QUESTION_TYPE = "every_question_type"
NEVER_SAMPLED = "never_sampled"

# Labels in the order the widget shows them; the tests find controls by these names.
TITLE = "Tell us about your order"
NPS_LABEL = "How likely are you to recommend us?"
CSAT_LABEL = "How satisfied are you with your order?"
CES_LABEL = "How easy was it to order?"
REASON_LABEL = "What made you choose us?"
EXTRAS_LABEL = "Which extras did you use?"
COMMENT_LABEL = "Anything else?"
REASONS = {"price": "The price", "delivery": "Fast delivery", "range": "The range"}
EXTRAS = {
    "gift_wrap": "Gift wrapping",
    "express": "Express delivery",
    "newsletter": "The newsletter",
    "carbon_offset": "Carbon offset",
}


def _scale_texts(label: str) -> dict[str, str]:
    return {"label": label, "min_label": "Not at all", "max_label": "Very much"}


def every_question_type() -> dict[str, Any]:
    """Every type the widget renders, all required but the comment; never on cooldown."""
    return {
        "key": EVERY_QUESTION_TYPE,
        "name": "Every question type",
        "questions": [
            {"id": "nps", "type": "nps", "required": True},
            {"id": "csat", "type": "csat", "required": True},
            {"id": "ces", "type": "ces", "required": True},
            {
                "id": "reason",
                "type": "single_choice",
                "required": True,
                "options": list(REASONS),
            },
            {"id": "extras", "type": "multi_choice", "required": True, "options": list(EXTRAS)},
            {"id": "comment", "type": "text", "required": False, "max_length": 500},
        ],
        "texts": {
            "en": {
                "title": TITLE,
                "intro": "Six quick questions.",
                "submit": "Send",
                "thanks": "Thank you!",
                "close": "Close",
                "questions": {
                    "nps": _scale_texts(NPS_LABEL),
                    "csat": _scale_texts(CSAT_LABEL),
                    "ces": _scale_texts(CES_LABEL),
                    "reason": {"label": REASON_LABEL, "options": REASONS},
                    "extras": {"label": EXTRAS_LABEL, "options": EXTRAS},
                    "comment": {"label": COMMENT_LABEL},
                },
            }
        },
        "sampling_rate": 1.0,
        "cooldown_days": 0,
        # Shown with an order id, that is at the purchase moment: above post_purchase, which
        # would otherwise be due then and win.
        "priority": 50,
    }


def never_sampled() -> dict[str, Any]:
    """A survey whose sampling rate is 0: the eligibility endpoint turns every visitor away."""
    return {
        "key": NEVER_SAMPLED,
        "name": "Never sampled",
        "questions": [{"id": "nps", "type": "nps", "required": True}],
        "texts": {"en": {"title": "Nobody sees this", "questions": {"nps": {"label": "NPS?"}}}},
        "sampling_rate": 0.0,
        "cooldown_days": 0,
    }
