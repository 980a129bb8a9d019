"""In Chromium at 1440×900: the feedback page, the journey map and the critical journeys with
each score's interval and count, scores from few answers greyed. Screenshots under
test-artifacts/dashboard/ for a person to look at."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import LiveSite, screenshot
from tests.dashboard.test_browser import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_scores_show_their_intervals_and_few_answers_greyed(page, live_site: LiveSite):
    _sign_in(page, live_site, "/dashboard/feedback?period=all")
    assert page.locator("#reasons table.reason-table").count() == 3
    assert page.locator(".score-figure .interval").count() > 0
    screenshot(page, "20-feedback-intervals-reasons")

    page.goto(live_site.base_url + "/dashboard/journey-map?period=all")
    assert page.locator("table.data .score-figure").count() > 0
    screenshot(page, "21-journey-map-intervals")

    page.goto(live_site.base_url + "/dashboard/critical-journeys")
    figures = page.locator("table.critical-table .score-figure")
    assert figures.count() > 0
    few = page.locator("table.critical-table .score-figure.few-answers .score-value").first
    # Greyed: the muted colour, not the text colour.
    assert few.evaluate("e => getComputedStyle(e).fontWeight") == "400"
    screenshot(page, "22-critical-journeys-intervals")
