"""Every question type the widget renders (NPS, CSAT, CES, single and multiple choice, free
text) answered in real headless Chromium, by mouse on a desktop and by finger on a 360 px
phone, and every answer found in the database. The survey is made through the admin API: no
built-in survey asks a multiple-choice question."""

from __future__ import annotations

import time
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
    DIALOG,
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


SCROLLED = """() => {
    const survey = document.querySelector('kundresa-survey').shadowRoot.querySelector('dialog');
    const end = survey.scrollHeight - survey.clientHeight;
    return {survey_at_end: end > 0 && Math.abs(survey.scrollTop - end) < 1, page: window.scrollY};
}"""


def swipe_up_inside(cdp, point: tuple[float, float]) -> None:
    """A finger dragging 150 px upwards from ``point`` and resting before it lifts, so the
    survey scrolls by the drag alone, without a fling that would go on after it."""
    x, y = point
    start = time.time()
    path = [y - 15 * step for step in range(1, 11)] + [y - 150] * 5
    cdp.send("Input.dispatchTouchEvent", touch("touchStart", (x, y), start))
    for step, at in enumerate(path, start=1):
        cdp.send("Input.dispatchTouchEvent", touch("touchMove", (x, at), start + 0.03 * step))
    cdp.send("Input.dispatchTouchEvent", touch("touchEnd", None, start + 0.6))


def touch(kind: str, point: tuple[float, float] | None, timestamp: float) -> dict:
    points = [] if point is None else [{"x": point[0], "y": point[1]}]
    return {"type": kind, "touchPoints": points, "timestamp": timestamp}


def swipe_to(page, cdp, target) -> dict[str, float]:
    """Swipe inside the survey until ``target`` is wholly on screen; its box then. No
    programmatic scrolling, only what a finger on a 360 × 740 screen can do."""
    height = PHONE["viewport"]["height"]
    dialog = page.locator(DIALOG).bounding_box()
    start = (dialog["x"] + dialog["width"] / 2, dialog["y"] + dialog["height"] * 0.75)
    for _ in range(30):
        box = target.bounding_box()
        if box["y"] >= dialog["y"] and box["y"] + box["height"] <= height:
            return box
        swipe_up_inside(cdp, start)
    raise AssertionError(f"swiping never brought {target} on screen")


def tap(page, box: dict[str, float]) -> None:
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_on_a_360_px_phone_every_question_and_the_send_button_are_reached_by_swiping(
    custom_surveys, open_page
) -> None:
    base, database_url = custom_surveys.base, custom_surveys.database_url
    page = open_page(**PHONE)
    cdp = page.context.new_cdp_session(page)
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    show_every_question_type(page, "order-phone")
    send = page.get_by_role("button", name="Send")
    # Six questions do not fit on the screen: the send button starts below its bottom edge.
    assert send.bounding_box()["y"] > PHONE["viewport"]["height"]
    shoot(page, "17-phone-360-every-question-type-top")

    answer_every_question(page, lambda target: tap(page, swipe_to(page, cdp, target)))
    assert_every_answer_is_checked(page)
    box = swipe_to(page, cdp, send)
    shoot(page, "18-phone-360-send-reached")
    # The swipes scrolled the survey to its end, and one more there does not carry on into
    # the shop behind it.
    swipe_up_inside(cdp, (180, box["y"] - 40))
    assert page.evaluate(SCROLLED) == {"survey_at_end": True, "page": 0}
    assert send.bounding_box() == box
    with page.expect_response(is_posted_response) as posted:
        tap(page, box)
    assert posted.value.status == 201
    page.locator("kundresa-survey [role=status]").wait_for()
    shoot(page, "19-phone-360-every-question-type-thanks")

    assert_stored_with_every_answer(database_url, visitor_id(page), "order-phone")
    assert page.errors == []
