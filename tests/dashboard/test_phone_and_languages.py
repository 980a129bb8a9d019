"""Every dashboard page in real headless Chromium at a desktop's 1440 × 900 and a phone's
390 × 844, in every language the dashboard speaks (sign_in.LOCALES, chosen by the browser's
Accept-Language): a screenshot of each under test-artifacts/dashboard/matrix/ for a person to
look at, no sideways scrolling of the page on the phone, the phone's menu folded behind a
button, and nothing axe-core calls serious or critical (every language on the phone, the first
on the desktop). Languages added to LOCALES are covered as they land."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from model_service.dashboard.sign_in import LOCALES
from model_service.dashboard.users import create_user
from tests.axe import serious_violations
from tests.dashboard.conftest import ARTIFACTS, PASSWORD, LiveSite

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 1,
    },
}
# A user of its own, without a language in the profile, so the browser's language decides.
MATRIX_USER = "matrix@shop.example"
PAGES = (
    ("at-risk", "/dashboard/"),
    ("open-carts", "/dashboard/carts"),
    ("customer", None),  # the first customer on the at-risk list
    ("journey-map", "/dashboard/journey-map"),
    ("critical-journeys", "/dashboard/critical-journeys"),
    ("feedback", "/dashboard/feedback"),
    ("models", "/dashboard/models"),
)
FOLDER = ARTIFACTS / "matrix"
# How far the page reaches past the screen's width. Against the configured width, not
# innerWidth: a mobile browser widens its layout viewport to fit content that overflows.
SIDEWAYS = "(width) => document.documentElement.scrollWidth - Math.min(window.innerWidth, width)"


@pytest.fixture(scope="module")
def tabs(browser, live_site: LiveSite) -> Iterator[dict[str, tuple]]:
    """Per size: a signed-out tab (for the sign-in page) and a signed-in one, reused across
    languages and pages."""
    create_user(live_site.database_url, MATRIX_USER, "support", PASSWORD)
    made = {}
    contexts = []
    for size, options in SIZES.items():
        signed_out = browser.new_context(**options)
        signed_in = browser.new_context(**options)
        contexts += [signed_out, signed_in]
        tab = signed_in.new_page()
        tab.set_default_timeout(15_000)
        tab.goto(live_site.base_url + "/dashboard/sign-in")
        tab.fill("#email", MATRIX_USER)
        tab.fill("#password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url("**/dashboard/")
        out = signed_out.new_page()
        out.set_default_timeout(15_000)
        made[size] = (out, tab)
    desktop = made["desktop"][1]
    desktop.goto(live_site.base_url + "/dashboard/")
    customer = desktop.locator("a[href*='/dashboard/customers/']").first.get_attribute("href")
    made["customer"] = customer.split("?")[0]
    yield made
    for context in contexts:
        context.close()


def _look(tab, size: str, locale: str, name: str, problems: list[str]) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(FOLDER / f"{size}-{locale}-{name}.png"), full_page=True)
    lang = tab.evaluate("() => document.documentElement.lang")
    if lang != locale:
        problems.append(f"{name}: <html lang={lang}>, expected {locale}")
    if size == "phone":
        extra = tab.evaluate(SIDEWAYS, SIZES[size]["viewport"]["width"])
        if extra > 0:
            problems.append(f"{name}: the page scrolls {extra} px sideways at 390 px")
    # axe takes a second or two a page: every language on the phone, where the layout is
    # tightest, and the desktop in the first language (the same pages, the same colours).
    if size == "phone" or locale == LOCALES[0]:
        for violation in serious_violations(tab):
            problems.append(
                f"{name}: axe {violation['impact']} {violation['id']}: {violation['targets']}"
            )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_reads_in_the_language_and_passes_axe(
    tabs, live_site: LiveSite, size: str, locale: str
) -> None:
    signed_out, tab = tabs[size]
    problems: list[str] = []
    for page in (signed_out, tab):
        page.context.set_extra_http_headers({"Accept-Language": f"{locale},en;q=0.5"})

    signed_out.goto(live_site.base_url + "/dashboard/sign-in")
    _look(signed_out, size, locale, "sign-in", problems)
    for name, path in PAGES:
        tab.goto(live_site.base_url + (path or tabs["customer"]))
        _look(tab, size, locale, name, problems)

    toggle = tab.locator(".menu-toggle")
    if size == "phone":
        # The main menu folds behind one button; open, it lists every page and fits.
        assert toggle.is_visible()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert tab.locator(".mainnav").is_hidden()
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert tab.locator(".mainnav a").first.is_visible()
        box = toggle.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
        _look(tab, size, locale, "menu-open", problems)
        toggle.click()
    else:
        assert toggle.is_hidden()
        assert tab.locator(".mainnav a").first.is_visible()
    assert problems == []
