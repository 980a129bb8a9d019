"""Every question type the widget renders (NPS, CSAT, CES, single and multiple choice, free
text) answered in real headless Chromium, by mouse on a desktop and by finger on a 360 px
phone (one question per step, every target at least 44 px), and every answer found in the
database. The survey is made through the admin API: no
built-in survey asks a multiple-choice question."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.widget.custom_surveys import (
    CES_LABEL,
    COMMENT_LABEL,
    CSAT_LABEL,
    EVERY_QUESTION_TYPE,
    EXTRAS,
    EXTRAS_LABEL,
    NPS_LABEL,
    REASON_LABEL,
    REASONS,
    TITLE,
)
from tests.widget.widget_page import (
    PHONE,
    is_posted_response,
    shoot,
    stored_responses,
    visitor_id,
    wait_for_widget,
)

pytestmark = pytest.mark.browser

COMMENT = "Gift wrap was lovely; express was not express."
# What the answers below must be stored as: multiple choice keeps the options' order.
EXPECTED_ANSWERS = {
    "nps": 9,
    "csat": 4,
    "ces": 6,
    "reason": "delivery",
    "extras": ["gift_wrap", "carbon_offset"],
    "comment": COMMENT,
}


def show_every_question_type(page, order_id: str) -> None:
    page.evaluate(
        "([key, order]) => Kundresa.show(key, {orderId: order, stage: 'purchase'})",
        [EVERY_QUESTION_TYPE, order_id],
    )
    page.get_by_role("dialog", name=TITLE).wait_for(state="visible")


def question(page, label: str):
    """A question's fieldset, found the way a screen reader finds it: a group named by its
    legend."""
    return page.get_by_role("dialog").get_by_role("group", name=label)


def answer_every_question(page, press: Callable, *, skip_extras: bool = False) -> None:
    """Answer as a person does: press the visible number or option text, type the comment."""
    press(question(page, NPS_LABEL).get_by_text("9", exact=True))
    press(question(page, CSAT_LABEL).get_by_text("4", exact=True))
    press(question(page, CES_LABEL).get_by_text("6", exact=True))
    press(question(page, REASON_LABEL).get_by_text(REASONS["delivery"]))
    if not skip_extras:
        answer_extras(page, press)
    press(page.get_by_role("textbox", name=COMMENT_LABEL))
    page.keyboard.type(COMMENT)


def answer_extras(page, press: Callable) -> None:
    extras = question(page, EXTRAS_LABEL)
    # Three ticked, one unticked again: what is stored is what is ticked at the end.
    for option in ("gift_wrap", "express", "carbon_offset", "express"):
        press(extras.get_by_text(EXTRAS[option]))


def assert_every_answer_is_checked(page) -> None:
    def radio(label: str, name: str):
        return question(page, label).get_by_role("radio", name=name, exact=True)

    assert radio(NPS_LABEL, "9").is_checked()
    assert radio(CSAT_LABEL, "4").is_checked()
    assert radio(CES_LABEL, "6").is_checked()
    assert radio(REASON_LABEL, REASONS["delivery"]).is_checked()
    ticked = {
        value
        for value, label in EXTRAS.items()
        if question(page, EXTRAS_LABEL).get_by_role("checkbox", name=label).is_checked()
    }
    assert ticked == {"gift_wrap", "carbon_offset"}


def assert_stored_with_every_answer(database_url: str, visitor: str, order_id: str) -> None:
    [row] = [
        r for r in stored_responses(database_url, EVERY_QUESTION_TYPE) if r.order_id == order_id
    ]
    assert (row.visitor_id, row.stage, row.locale) == (visitor, "purchase", "en")
    assert row.answers == EXPECTED_ANSWERS
    # The scored columns that metrics read are filled from the same answers.
    assert (row.nps, row.csat, row.ces, row.reason, row.comment) == (
        9,
        4,
        6,
        "delivery",
        COMMENT,
    )


def test_every_question_type_answered_by_mouse_is_stored_with_every_answer(
    custom_surveys, open_page
) -> None:
    base, database_url = custom_surveys.base, custom_surveys.database_url
    page = open_page()
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    show_every_question_type(page, "order-every-type")
    shoot(page, "14-every-question-type-open")

    # A required multiple-choice question left empty is named and gets the focus.
    answer_every_question(page, lambda target: target.click(), skip_extras=True)
    page.get_by_role("button", name="Send").click()
    extras = question(page, EXTRAS_LABEL)
    assert extras.locator(".err").inner_text() == "Please answer this question."
    assert page.locator("kundresa-survey .err:visible").count() == 1
    assert page.evaluate(
        "() => document.querySelector('kundresa-survey').shadowRoot.activeElement.value"
    ) == ("gift_wrap")
    shoot(page, "15-every-question-type-multiple-choice-required")

    answer_extras(page, lambda target: target.click())
    # Answered, it stops saying it is missing at once, not only at the next Send.
    assert extras.locator(".err").is_hidden()
    assert extras.locator("[aria-invalid]").count() == 0
    assert_every_answer_is_checked(page)
    shoot(page, "16-every-question-type-answered")
    with page.expect_response(is_posted_response) as posted:
        page.get_by_role("button", name="Send").click()
    assert posted.value.status == 201
    page.locator("kundresa-survey [role=status]").wait_for()

    assert_stored_with_every_answer(database_url, visitor_id(page), "order-every-type")
    assert page.errors == []


def test_on_a_360_px_phone_one_question_at_a_time_fits_the_screen_with_44_px_targets(
    custom_surveys, open_page
) -> None:
    base, database_url = custom_surveys.base, custom_surveys.database_url
    page = open_page(**PHONE)
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    show_every_question_type(page, "order-phone")
    height = PHONE["viewport"]["height"]

    def step_fits(name: str) -> None:
        """The step's one question, its buttons and progress are on screen without swiping,
        and every target a finger meets is at least 44 px high and wide enough."""
        assert (
            page.locator(
                "kundresa-survey fieldset:visible, kundresa-survey textarea:visible"
            ).count()
            == 1
        )
        shoot(page, name)
        targets = page.evaluate(TARGETS)
        assert targets, "no visible targets"
        small = [t for t in targets if t["height"] < 44 or t["width"] < 44]
        assert small == [], f"targets under 44 px: {small}"
        assert max(t["bottom"] for t in targets) <= height, "a target is below the screen"
        assert page.evaluate(SIDEWAYS) is False, "the survey scrolls sideways"

    # NPS 0-10 wraps into two rows of 44 px buttons instead of eleven narrow ones.
    step_fits("17-phone-360-step-1-nps")
    assert page.locator("kundresa-survey .progress").inner_text().startswith("1/6")
    tops = {round(box["y"]) for box in page.evaluate(SCALE_BOXES)}
    assert len(tops) == 2
    steps = [
        lambda: question(page, NPS_LABEL).get_by_text("9", exact=True).tap(),
        lambda: question(page, CSAT_LABEL).get_by_text("4", exact=True).tap(),
        lambda: question(page, CES_LABEL).get_by_text("6", exact=True).tap(),
        lambda: question(page, REASON_LABEL).get_by_text(REASONS["delivery"]).tap(),
        lambda: answer_extras(page, lambda target: target.tap()),
    ]
    for number, answer in enumerate(steps, start=1):
        answer()
        page.locator("kundresa-survey .next").tap()
        step_fits(f"18-phone-360-step-{number + 1}")
    page.get_by_role("textbox", name=COMMENT_LABEL).tap()
    page.keyboard.type(COMMENT)
    # Back to the start and forward again keeps every answer.
    for _ in range(5):
        page.locator("kundresa-survey .back").tap()
    assert question(page, NPS_LABEL).get_by_role("radio", name="9", exact=True).is_checked()
    for _ in range(5):
        page.locator("kundresa-survey .next").tap()
    with page.expect_response(is_posted_response) as posted:
        page.get_by_role("button", name="Send").tap()
    assert posted.value.status == 201
    page.locator("kundresa-survey [role=status]").wait_for()
    shoot(page, "19-phone-360-every-question-type-thanks")

    assert_stored_with_every_answer(database_url, visitor_id(page), "order-phone")
    assert page.errors == []


# The boxes of what a finger can press in the survey: scale numbers, options, buttons.
TARGETS = """() => {
    const root = document.querySelector('kundresa-survey').shadowRoot;
    return Array.from(root.querySelectorAll('.pt span, .opt span, button'))
        .filter((el) => el.offsetParent !== null)
        .map((el) => { const r = el.getBoundingClientRect();
                       return {text: el.textContent, width: r.width, height: r.height, bottom: r.bottom}; });
}"""
SCALE_BOXES = """() => Array.from(document.querySelector('kundresa-survey').shadowRoot
    .querySelectorAll('.pt span')).filter((el) => el.offsetParent !== null)
    .map((el) => el.getBoundingClientRect().toJSON())"""
SIDEWAYS = """() => { const d = document.querySelector('kundresa-survey').shadowRoot.querySelector('dialog');
    return d.scrollWidth > d.clientWidth; }"""
