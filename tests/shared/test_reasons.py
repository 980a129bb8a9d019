"""Reasons read as words a support agent can say, never as codes or placeholders."""

from __future__ import annotations

from shared.metrics import top_reasons
from shared.reasons import explain


def test_an_absent_abandonment_reason_reads_as_words_not_none() -> None:
    text = explain("abandon_reason_last", "none", "price_too_high", "sv")["text"]
    assert "none" not in text
    assert text == "Har inte berättat varför en varukorg lämnades."


def test_an_abandonment_reason_is_shown_as_the_customer_saw_it() -> None:
    assert (
        "Oväntade fraktkostnader"
        in explain("abandon_reason_last", "unexpected_shipping_cost", "none", "sv")["text"]
    )
    assert (
        "Unexpected shipping cost"
        in explain("abandon_reason_last", "unexpected_shipping_cost", "none", "en")["text"]
    )


def test_top_reasons_ignore_missing_values_from_pandas() -> None:
    reasons = ["price_too_high", float("nan"), None, "delivery_too_slow", "price_too_high"]
    assert top_reasons(reasons) == [("price_too_high", 2), ("delivery_too_slow", 1)]
