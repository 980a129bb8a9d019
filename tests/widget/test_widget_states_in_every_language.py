"""The widget's states in real headless Chromium, at a desktop's 1440 × 900 and a phone's
390 × 844, in each of its four languages: the post-purchase slide-in (first step, a missing
answer, the last step, the thanks) and the cart-abandonment survey, each screenshot under
test-artifacts/widget/states/ for a person to look at; the page never scrolls sideways and
axe-core finds nothing serious or critical inside the survey."""

from __future__ import annotations

import pytest

from shared.surveys import LOCALES
from tests.axe import serious_violations
from tests.widget.widget_page import ARTIFACTS, exit_through_the_top, wait_for_widget

pytestmark = pytest.mark.browser

SIZES = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 1,
    },
}
SURVEY = {"include": [["kundresa-survey"]]}
FOLDER = ARTIFACTS / "states"
# How far the page reaches past the screen's width. Against the configured width, not
# innerWidth: a mobile browser widens its layout viewport to fit content that overflows.
SIDEWAYS = "(width) => document.documentElement.scrollWidth - Math.min(window.innerWidth, width)"
# The title of the thank-you state, per language (locale.js): never the question's title.
THANKS_TITLE = {"en": "Thank you!", "sv": "Tack!", "da": "Tak!", "nb": "Takk!"}


def _look(page, name: str, problems: list[str]) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(FOLDER / f"{name}.png"))
    if page.evaluate(SIDEWAYS, page.viewport_size["width"]) > 0:
        problems.append(f"{name}: the page scrolls sideways")
    for violation in serious_violations(page, SURVEY):
        problems.append(
            f"{name}: axe {violation['impact']} {violation['id']}: {violation['targets']}"
        )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("size", SIZES)
def test_every_state_of_the_widget_fits_and_passes_axe(service, open_page, size, locale) -> None:
    base = service.base
    problems: list[str] = []
    name = f"{size}-{locale}"

    page = open_page(**SIZES[size])
    page.goto(f"{base}/demo/shop/confirmation?lang={locale}&order=order-{name}")
    survey = page.locator("kundresa-survey dialog")
    survey.wait_for(state="visible")
    _look(page, f"{name}-1-post-purchase", problems)
    page.locator("kundresa-survey .next").click()
    page.locator("kundresa-survey .err:visible").wait_for()
    _look(page, f"{name}-2-missing-answer", problems)
    # The three scales, one per step (the fourth number each time), then the comment.
    for _ in range(3):
        page.locator("kundresa-survey fieldset:visible .pt").nth(3).click()
        page.locator("kundresa-survey .next").click()
    _look(page, f"{name}-3-last-step", problems)
    page.locator("kundresa-survey .send").click()
    page.locator("kundresa-survey [role=status]").wait_for()
    assert page.locator("kundresa-survey h2").inner_text() == THANKS_TITLE[locale]
    _look(page, f"{name}-4-thanks", problems)

    # Another visitor leaves a full cart: the abandonment survey.
    shopper = open_page(**SIZES[size])
    shopper.goto(f"{base}/demo/shop?lang={locale}")
    wait_for_widget(shopper)
    shopper.locator("[data-add]").first.click()
    if size == "phone":
        shopper.goto(f"{base}/demo/shop/cart?lang={locale}&idle=1")
    else:
        exit_through_the_top(shopper)
    shopper.locator("kundresa-survey dialog").wait_for(state="visible")
    _look(shopper, f"{name}-5-cart-abandonment", problems)
    assert problems == []
    assert page.errors == [] and shopper.errors == []
