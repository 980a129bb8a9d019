"""Pure rules of the dashboard: SVG charts escape text, suggested actions, stage criticality,
calibration bins and spreadsheet-safe CSV cells."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

import numpy as np
import pytest
from flask import Flask
from flask_babel import Babel

from model_service.dashboard import charts
from model_service.dashboard.advice import is_unhappy, mentions_delivery, suggest_action
from model_service.dashboard.journey_map import criticality_level, stage_criticality
from model_service.dashboard.models_page import calibration_bins
from shared.csv_export import defuse

HOSTILE = "<script>alert(1)</script>&"


@pytest.fixture
def babel_context():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield


def _parse(svg) -> ElementTree.Element:
    """Well-formed XML is proof that no label broke out of its element."""
    return ElementTree.fromstring(str(svg))


def test_journey_map_escapes_labels_and_draws_the_loop_back_to_desire():
    cells = [
        charts.StageCell(
            key=key,
            label=HOSTILE if key == "desire" else key,
            headline="10 reached",
            rows=[("Drop-off", "20 %"), (HOSTILE, "1")],
            level="high",
            conversion="80 %",
            href="/dashboard/?stage=" + key,
        )
        for key in ("awareness", "interest", "desire", "purchase", "loyalty", "advocacy")
    ]
    svg = charts.journey_map(cells, title=HOSTILE, loop_label="bought again")
    root = _parse(svg)
    assert "<script>" not in str(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert HOSTILE in texts  # shown, as text
    assert root.find(".//{http://www.w3.org/2000/svg}path[@class='loop']") is not None


def test_line_charts_and_risk_histograms_escape_names_and_handle_no_data():
    series = [charts.Series(HOSTILE, [(date(2026, 1, 1), 0.2), (date(2026, 2, 1), None)])]
    _parse(charts.line_chart(series, title="t", axis=charts.Axis(0, 1)))
    empty = charts.line_chart([], title="t", axis=charts.Axis(0, 1), empty_text=HOSTILE)
    assert "&lt;script&gt;" in str(empty)
    histogram = charts.risk_histogram(
        [{"low": 2, "high": 3}, {}],
        {"high": 0.5},
        title=HOSTILE,
        band_labels={"high": HOSTILE},
        value_fmt=str,
        cut_fmt=lambda band, start: HOSTILE,
    )
    _parse(histogram)
    assert "<script>" not in str(histogram)
    _parse(
        charts.calibration_chart(
            [(0.1, 0.12, 40), (0.5, 0.45, 10)],
            title=HOSTILE,
            x_title="p",
            y_title="o",
            perfect_label=HOSTILE,
        )
    )
    _parse(charts.probability_meter(0.7, "high"))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"nps": 3, "comment": "The delivery was two weeks late"}, "delivery fix"),
        ({"nps": 2, "comment": "Leveransen tog alldeles för lång tid"}, "delivery fix"),
        ({"reason": "unexpected_shipping_cost"}, "shipping offer"),
        ({"reason": "price_too_high"}, "discount"),
        ({"csat": 1, "comment": "Rude staff"}, "ask what went wrong"),
        ({"ces": 2}, "what was hard"),
    ],
)
def test_suggested_action_answers_what_the_customer_said(babel_context, answer, expected):
    assert expected in suggest_action([], answer, "en")


def test_suggested_action_falls_back_to_the_strongest_model_reason(babel_context):
    reasons = [{"feature": "recency_days", "value": 140.0, "reference": 30.0}]
    assert suggest_action(reasons, {"nps": 9}, "en") == "Send a personal win-back offer."
    assert suggest_action([], None, "en") is None


def test_unhappy_and_delivery_words():
    assert is_unhappy({"nps": 6}) and not is_unhappy({"nps": 7, "csat": 4, "ces": 5})
    assert not is_unhappy(None)
    assert mentions_delivery("Paketet kom aldrig") and not mentions_delivery("Chocolate was great")


def test_stage_criticality_combines_drop_off_risk_and_dissatisfaction():
    assert stage_criticality(None, None, None) is None
    assert stage_criticality(0.8, 0.6, 20.0) == pytest.approx((0.8 + 0.6 + 0.8) / 3)
    assert criticality_level(0.6) == "high"
    assert criticality_level(0.35) == "medium"
    assert criticality_level(0.1) == "low"
    assert criticality_level(None) == "none"


def test_calibration_bins_hold_mean_prediction_observed_rate_and_count():
    p = np.array([0.05, 0.08, 0.95, 0.91, 0.99])
    y = np.array([0, 1, 1, 1, 0])
    bins = calibration_bins(y, p)
    assert bins[0] == (pytest.approx(0.065), pytest.approx(0.5), 2)
    assert bins[-1] == (pytest.approx(0.95), pytest.approx(2 / 3), 3)


def test_csv_cells_that_look_like_formulas_are_defused():
    assert defuse('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    assert defuse("-2+3") == "'-2+3"
    assert defuse("\tcmd") == "'\tcmd"
    assert defuse("Fine") == "Fine"
    assert defuse(3.5) == 3.5
    assert defuse(-2) == -2
