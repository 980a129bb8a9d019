"""Reasons say true things: the words state the fact, the direction is the contribution's sign,
plurals agree with the number, the advice fits the side the value is on, and every
prediction gets its reasons however close to 0 or 1 its probability is."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from model_service.explain import top_reasons
from shared.i18n import LOCALES
from shared.labels import CHANNELS, known_codes, label
from shared.reasons import REASONS, explain

PLACEHOLDER = re.compile(r"%\(|\{value\}|\{feature\}")


def _records(feature: str) -> list[tuple[object, object]]:
    """Hand-made (value, reference) pairs on each side of the typical value, zero included."""
    reason = REASONS[feature]
    if reason.kind:
        sample = known_codes(reason.kind)[0]
        return [(sample, "none"), ("shop_own_code", sample)]
    if reason.boolean:
        return [(1, 0), (0, 1)]
    return [(0, 3.0), (1, 3.0), (2, 3.0), (0.4, 3.0), (40.0, 3.0), (3.5, 3.0)]


@pytest.mark.parametrize("feature", sorted(REASONS))
def test_every_reason_in_every_direction_and_language_reads_as_words(feature: str) -> None:
    for locale in LOCALES:
        for value, reference in _records(feature):
            for contribution, direction in ((0.12, "up"), (-0.12, "down")):
                said = explain(feature, value, reference, locale, contribution)
                assert said["direction"] == direction
                assert said["text"] and not PLACEHOLDER.search(said["text"]), said
                if "_" in feature:
                    assert feature not in said["text"], f"the code {feature} shows: {said}"
                assert "_" not in said["text"], said
                if direction == "up":
                    assert said["action"] and not PLACEHOLDER.search(said["action"]), said
                else:
                    assert said["action"] is None, "nothing to do about what lowers the risk"
        effects = {explain(feature, 1, 0, locale, c)["effect"] for c in (0.1, -0.1)}
        assert len(effects) == 2, "raising and lowering read differently"


@pytest.mark.parametrize("locale", LOCALES)
def test_plurals_agree_with_the_number(locale: str) -> None:
    counted = [f for f, r in REASONS.items() if r.count]
    assert len(counted) > 30
    for feature in counted:
        one = explain(feature, 1, 5.0, locale, 0.1)["text"]
        two = explain(feature, 2, 5.0, locale, 0.1)["text"]
        assert one.replace("1", "2", 1) != two, f"{feature} in {locale}: {one!r} / {two!r}"
    assert explain("events_30d", 1, 5.0, "en", 0.1)["text"] == "1 event in the last 30 days."
    assert explain("events_30d", 1, 5.0, "sv", 0.1)["text"] == "1 händelse de senaste 30 dagarna."
    assert explain("events_30d", 3, 5.0, "da", 0.1)["text"] == "3 hændelser de seneste 30 dage."
    assert explain("events_30d", 1, 5.0, "nb", 0.1)["text"] == "1 hendelse de siste 30 dagene."


def test_a_small_count_that_raises_the_risk_is_not_worded_as_a_good_sign() -> None:
    """Seen in the wild: "Rarely leaves carts (0)" and "cart opened 0.5 minutes ago" as risks."""
    never = explain("past_abandonments", 0.0, 1.0, "en", 0.08)
    assert never == {
        "text": "Has never left a cart before.",
        "direction": "up",
        "effect": "raises the risk",
        "action": "Build trust: show reviews, returns and delivery terms.",
    }
    just_now = explain("minutes_open", 0.5, 6.0, "en", 0.05)
    assert just_now["text"] == "The cart was opened less than a minute ago."
    assert (
        "0.5" not in just_now["text"]
        and "0,5" not in explain("minutes_open", 0.5, 6.0, "sv", 0.05)["text"]
    )
    left_two = explain("past_abandonments", 2.0, 0.0, "sv", -0.03)
    assert left_two["text"] == "Har lämnat 2 varukorgar tidigare."
    assert left_two["direction"] == "down" and left_two["action"] is None


def test_advice_fits_the_side_of_the_value() -> None:
    few = explain("tp_organic_search_90d", 1.0, 4.0, "en", 0.06)
    assert few["text"] == "1 contact via organic search in 90 days."
    assert "spam" not in few["action"]
    many = explain("tp_organic_search_90d", 12.0, 4.0, "en", 0.06)
    assert many["text"] == "12 contacts via organic search in 90 days."
    assert "spam" in many["action"]
    none = explain("tp_email_90d", 0.0, 2.0, "nb", 0.06)
    assert none["text"] == "Ingen kontakt via e-post på 90 dager."


def test_categories_are_shown_by_their_label_in_the_readers_language() -> None:
    assert explain("segment", "bargain_hunter", "regular", "da", 0.2)["text"] == (
        "I segmentet Tilbudsjægere."
    )
    assert explain("product_category", "electronics", "fashion", "sv", 0.2)["text"] == (
        "En varukorg med Elektronik."
    )
    assert explain("channel", "paid_search", "direct", "nb", 0.2)["text"] == (
        "Kom via søkeannonser."
    )


def test_numbers_are_written_as_the_reader_writes_them() -> None:
    assert explain("cart_value", 1234.0, 300.0, "sv", 0.1)["text"] == "En stor varukorg (1\xa0234)."
    assert explain("csat_mean", 2.5, 4.0, "da", 0.1)["text"] == (
        "Gennemsnitlig tilfredshed: 2,5 af 5."
    )


@pytest.mark.parametrize("kind", ["survey", "segment", "stage", "category", "channel", "device"])
def test_labels_never_return_a_code_for_a_known_code(kind: str) -> None:
    for code in known_codes(kind):
        for locale in LOCALES:
            words = label(kind, code, locale)
            assert words and "_" not in words, (kind, code, locale, words)
            if "_" in code:
                assert words != code, (kind, code, locale)
            if locale == "nb":  # "tablet" is Danish too; Norwegian says "nettbrett"
                assert words != code, (kind, code, locale)


def test_languages_are_named_in_the_readers_language() -> None:
    assert label("language", "nb", "nb") == "Norsk bokmål"
    assert label("language", "nb", "en") == "Norwegian Bokmål"
    assert label("language", "da", "sv") == "Danska"
    assert label("language", "sv", "da") == "Svensk"
    assert label("reason", "price_too_high", "da") == "Prisen var for høj"
    assert label("segment", "shop_own_segment", "sv") == "shop own segment"
    assert set(CHANNELS) >= {"organic_search", "email"}


def _saturated_model(scale: float):
    """A logistic model on three columns whose probability can be pushed to ~1."""
    columns = ["a", "b", "c"]

    def predict_proba(rows):
        z = scale * (rows["a"] - 1.0) + 0.5 * (rows["b"] - 1.0) - 0.8 * (rows["c"] - 1.0)
        return 1.0 / (1.0 + np.exp(-z))

    return SimpleNamespace(
        feature_columns=columns,
        reference_row={"a": 1.0, "b": 1.0, "c": 1.0},
        predict_proba=predict_proba,
    )


def test_the_riskiest_rows_still_get_their_reasons_with_the_right_signs() -> None:
    served = _saturated_model(scale=3.0)
    rows = {"a": np.array([4.0, 1.2]), "b": np.array([3.0, 1.0]), "c": np.array([2.0, 1.0])}
    probabilities, reasons = top_reasons(served, rows)
    assert probabilities[0] > 0.9998
    first = reasons[0]
    assert [r["feature"] for r in first] == ["a", "b", "c"], "pushes up first, then down"
    assert first[0]["contribution"] > 0 and first[1]["contribution"] > 0
    assert first[2]["contribution"] < 0, "c lowers the risk and says so by its sign"
    assert [
        explain(r["feature"], r["value"], r["reference"], "en", r["contribution"])["direction"]
        for r in first
    ] == ["up", "up", "down"]
    # A value barely off the typical one is noise, not a reason.
    assert [r["feature"] for r in reasons[1]] == ["a"]
