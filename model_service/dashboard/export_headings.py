"""The at-risk CSV for people: headings and codes in the reader's language.

A support lead opens the export in a spreadsheet, so by default its headings and its coded
cells (task, band, stage, segment, category, case status) are words in the dashboard's
language. A script that reads the file asks for ``?headings=codes`` and gets the column codes
and raw values, which never change with the language.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

HEADINGS: dict[str, object] = {
    "customer_id": _l("Customer"),
    "cart_id": _l("Cart"),
    "task": _l("Prediction"),
    "probability": _l("Probability"),
    "band": _l("Risk"),
    "stage": _l("Stage"),
    "segment": _l("Segment"),
    "product_category": _l("Product category"),
    "value": _l("Value"),
    "value_at_risk": _l("Value at risk"),
    "reasons": _l("Reasons"),
    "suggested_action": _l("Suggested action"),
    "follow_up_status": _l("Case"),
    "assignee": _l("Assigned to"),
    "latest_nps": _l("Latest NPS"),
    "latest_csat": _l("Latest CSAT"),
    "latest_ces": _l("Latest CES"),
    "latest_reason": _l("Latest reason given"),
    "latest_comment": _l("Latest comment"),
    "model_version": _l("Model version"),
    "scored_at": _l("Scored at"),
}


def headings(columns: tuple[str, ...], codes: bool) -> list[str]:
    """The header row: the column codes for scripts, else the words for people."""
    return list(columns) if codes else [str(HEADINGS[column]) for column in columns]
