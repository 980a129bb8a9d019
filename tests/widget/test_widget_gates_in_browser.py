"""What keeps the widget quiet, in real headless Chromium: an empty cart, the service saying a
visitor is not eligible (sampled out, or offered a survey too recently), and what links a
visitor to a customer (``Kundresa.identify``)."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Identity, JourneyEvent
from tests.widget.custom_surveys import EVERY_QUESTION_TYPE, NEVER_SAMPLED, TITLE
from tests.widget.widget_page import (
    DIALOG,
    exit_through_the_top,
    is_eligibility_answer,
    is_posted_response,
    next_step,
    record_survey_calls,
    shoot,
    stored_responses,
    visitor_id,
    wait_for_widget,
)

pytestmark = pytest.mark.browser

EVERY_TYPE_SHOWN = [
    f"/surveys/{EVERY_QUESTION_TYPE}/eligibility",
    f"/surveys/{EVERY_QUESTION_TYPE}",
]


def show_every_question_type_once_free(page) -> None:
    """Ask for another survey until the widget takes the request (it drops calls while it is
    still busy with one), and wait for it to appear: proof that the widget finished with the
    survey before and that the visit still had its survey to give."""
    page.wait_for_function(
        f"""() => {{ if (!document.querySelector('kundresa-survey'))
                         window.Kundresa.show('{EVERY_QUESTION_TYPE}');
                     return !!document.querySelector('kundresa-survey'); }}"""
    )
    page.get_by_role("dialog", name=TITLE).wait_for(state="visible")


def ask_until_checked(page, key: str) -> dict:
    """Ask for a survey until the widget takes the request (it drops calls while it is still
    busy with one) and return the service's eligibility answer."""
    for _ in range(50):
        try:
            with page.expect_response(is_eligibility_answer, timeout=200) as checked:
                page.evaluate(f"() => window.Kundresa.show('{key}')")
            return checked.value.json()
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the widget never asked about {key}")


def test_leaving_with_an_empty_cart_shows_nothing_and_leaving_with_items_does(
    service, open_page
) -> None:
    base = service.base
    page = open_page()
    asked = record_survey_calls(page)
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    exit_through_the_top(page)
    # The shop empties a cart it had announced (the visitor removed the last item).
    page.click("[data-add='wool-socks']")
    page.evaluate("() => Kundresa.cart({cartId: 'cart-emptied', items: 0, page: 'product'})")
    exit_through_the_top(page)
    assert page.locator("kundresa-survey").count() == 0
    shoot(page, "20-empty-cart-exit-shows-nothing")

    # The same gesture with an item in the cart asks. Had either exit above reached the
    # widget's show(), this one would have been dropped as the visit's second.
    page.click("[data-add='coffee-mug']")
    exit_through_the_top(page)
    page.locator(DIALOG).wait_for(state="visible")
    assert asked == ["/surveys/cart_abandonment/eligibility", "/surveys/cart_abandonment"]
    assert page.errors == []


def test_a_visitor_the_service_samples_out_is_shown_nothing_and_keeps_the_visit_s_survey(
    custom_surveys, open_page
) -> None:
    base = custom_surveys.base
    page = open_page()
    asked = record_survey_calls(page)
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    with page.expect_response(is_eligibility_answer) as checked:
        page.evaluate(f"() => Kundresa.show('{NEVER_SAMPLED}')")
    assert checked.value.json() == {"eligible": False, "reason": "sampled_out"}

    show_every_question_type_once_free(page)
    # The sampled-out survey was never fetched, let alone shown.
    assert asked == [f"/surveys/{NEVER_SAMPLED}/eligibility", *EVERY_TYPE_SHOWN]
    assert page.locator("kundresa-survey").count() == 1
    assert page.errors == []


def test_a_visitor_offered_a_survey_earlier_is_not_offered_it_again_in_the_cooldown(
    custom_surveys, open_page
) -> None:
    base = custom_surveys.base
    first_visit = open_page()
    first_visit.goto(f"{base}/demo/shop/confirmation?lang=en&order=order-first")
    first_visit.locator(DIALOG).wait_for(state="visible")
    # Declined: the offer alone starts the 30-day cooldown of the post-purchase survey.
    first_visit.get_by_role("button", name="Close").click()
    first_visit.locator(DIALOG).wait_for(state="detached")
    first_visit.close()

    # A later visit (a new tab has a new session) of the same browser after another order.
    later_visit = open_page(context=first_visit.context)
    asked = record_survey_calls(later_visit)
    with later_visit.expect_response(is_eligibility_answer) as checked:
        later_visit.goto(f"{base}/demo/shop/confirmation?lang=en&order=order-second")
    assert checked.value.json() == {"eligible": False, "reason": "cooldown"}
    shoot(later_visit, "21-cooldown-later-visit-shows-nothing")

    # Any other survey is kept away too: the site's cooldown across surveys after an offer.
    refused = ask_until_checked(later_visit, EVERY_QUESTION_TYPE)
    assert refused == {"eligible": False, "reason": "global_cooldown"}
    assert asked == ["/surveys/post_purchase/eligibility", EVERY_TYPE_SHOWN[0]]
    assert later_visit.locator("kundresa-survey").count() == 0
    assert stored_responses(custom_surveys.database_url, "post_purchase") == []
    assert later_visit.errors == []


def test_identify_links_the_visitor_to_the_customer_and_their_later_answers_are_theirs(
    service, open_page
) -> None:
    base, database_url = service.base, service.database_url
    customer = "cust-ida-4711"
    page = open_page()
    # Signed in: the shop's server signs the customer id and the page calls Kundresa.identify
    # with the signature (the demo's stand-in for a sign-in is ?customer=).
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/v1/identify")) as linked:
        page.goto(f"{base}/demo/shop?lang=en&customer={customer}")
    wait_for_widget(page)
    assert linked.value.status == 200
    assert "x-identity-signature" in linked.value.request.headers
    # Without the signature the service refuses to move the visitor to another customer.
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/v1/identify")) as forged:
        page.evaluate("() => Kundresa.identify('someone-else')")
    assert forged.value.status == 403
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/v1/identify")) as again:
        page.evaluate(
            "(signature) => Kundresa.identify(document.body.dataset.customerId, {signature})",
            linked.value.request.headers["x-identity-signature"],
        )
    assert again.value.status == 200
    visitor = visitor_id(page)
    assert linked.value.json() == {
        "visitor_id": visitor,
        "customer_id": customer,
        "new_customer": True,
    }
    with session_scope(database_url) as session:
        assert (
            session.scalar(select(Identity.customer_id).where(Identity.visitor_id == visitor))
            == customer
        )
    # What the visitor does on this page from now on carries the customer id.
    page.click("[data-add='linen-shirt']")

    # A later page that does not identify again: the response carries only the visitor id ...
    service.forget_posts()
    page.goto(f"{base}/demo/shop/confirmation?lang=en&order=order-ida")
    # The click's event leaves with the page: by beacon, or by the keepalive fetch the widget
    # falls back to when Chromium refuses the beacon (it sometimes does).
    assert service.wait_for_post("/v1/events") == 202
    page.locator(DIALOG).wait_for(state="visible")
    # After a purchase the survey slides in and asks one question per step.
    page.locator("kundresa-survey fieldset", has_text="satisfied").get_by_text(
        "5", exact=True
    ).click()
    next_step(page)
    page.locator("kundresa-survey fieldset", has_text="easy").get_by_text("7", exact=True).click()
    # NPS and the comment are optional: Next past both.
    next_step(page, 2)
    with page.expect_response(is_posted_response) as posted:
        page.get_by_role("button", name="Send").click()
    assert posted.value.status == 201
    [row] = [
        r for r in stored_responses(database_url, "post_purchase") if r.order_id == "order-ida"
    ]
    assert (row.visitor_id, row.customer_id, row.csat, row.ces) == (visitor, None, 5, 7)

    # ... and is still the customer's: their privacy export (admin API) holds it.
    export = service.admin("GET", f"/v1/admin/customers/{customer}/export")
    assert export.status_code == 200, export.text
    held = export.json()
    assert [i["visitor_id"] for i in held["identities"]] == [visitor]
    assert [r["response_id"] for r in held["responses"]] == [row.response_id]
    with session_scope(database_url) as session:
        added = session.execute(
            select(JourneyEvent.customer_id).where(
                JourneyEvent.visitor_id == visitor, JourneyEvent.type == "add_to_cart"
            )
        ).all()
    assert added == [(customer,)]
    assert page.errors == []


def test_a_placed_order_is_recorded_by_the_shops_server_not_claimed_by_the_browser(
    service, open_page
) -> None:
    base, database_url = service.base, service.database_url
    page = open_page()
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    page.click("[data-add='wool-socks']")
    page.goto(f"{base}/demo/shop/checkout?lang=en")
    wait_for_widget(page)
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/demo/shop/confirmation**")
    order = page.locator("[data-order]").get_attribute("data-order")
    visitor = visitor_id(page)
    assert visitor
    with session_scope(database_url) as session:
        bought = session.execute(
            select(JourneyEvent.visitor_id, JourneyEvent.value, JourneyEvent.order_id).where(
                JourneyEvent.type == "purchase", JourneyEvent.order_id == order
            )
        ).all()
    assert bought == [(visitor, 149.0, order)]
    assert page.errors == []
