"""The metrics API gives every score with its interval, its count and a few-answers flag."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.survey_service.test_admin import _answer_three


def test_metrics_carry_intervals_counts_and_few_answers(
    client: FlaskClient, site: dict, support: dict
) -> None:
    _answer_three(client, site)
    answer = client.get("/v1/admin/metrics?period=all", headers=support)
    assert answer.status_code == 200
    assert answer.json["min_answers"] == 30
    groups = {(g["survey_key"], g["stage"]): g for g in answer.json["groups"]}
    loyalty = groups[("post_purchase", "loyalty")]
    # The figures that were there stay as they were.
    assert (loyalty["nps"], loyalty["csat"], loyalty["ces"], loyalty["responses"]) == (
        -100.0,
        0.0,
        2.0,
        1,
    )
    assert (loyalty["nps_n"], loyalty["nps_low"], loyalty["nps_high"]) == (1, -100.0, -100.0)
    assert loyalty["nps_few_answers"] is True
    assert loyalty["csat_n"] == 1 and loyalty["csat_low"] == 0.0
    assert 79 < loyalty["csat_high"] < 80  # Wilson: one unhappy answer is not "0 % for sure"
    assert (loyalty["ces_low"], loyalty["ces_high"], loyalty["ces_few_answers"]) == (1.0, 7.0, True)
    cart = groups[("cart_abandonment", "desire")]
    assert (cart["nps"], cart["nps_low"], cart["nps_n"], cart["nps_few_answers"]) == (
        None,
        None,
        0,
        True,
    )


def test_the_minimum_count_is_a_setting(app_factory, site: dict, support: dict) -> None:
    client = app_factory(min_answers=1).test_client()
    _answer_three(client, site)
    groups = client.get("/v1/admin/metrics?period=all", headers=support).json["groups"]
    loyalty = next(g for g in groups if g["stage"] == "loyalty")
    assert loyalty["nps_few_answers"] is False
