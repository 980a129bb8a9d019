"""What the browser tests do to and read from a page with the widget: wait for it, leave
through the top, look inside its shadow root, keep screenshots, read what reached the
database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Response

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "widget"
DIALOG = "kundresa-survey dialog"
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


def shoot(target, name: str) -> bytes:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return target.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def focused(page) -> str:
    """The class (or tag) and value of the focused element inside the widget's shadow root."""
    return page.evaluate(
        """() => { const el = document.querySelector('kundresa-survey').shadowRoot.activeElement;
                   return el ? (el.className || el.tagName.toLowerCase()) + ':' + (el.value || '') : ''; }"""
    )


def wait_for_widget(page) -> None:
    page.wait_for_function("() => window.Kundresa && window.Kundresa.loaded === true")


def exit_through_the_top(page) -> None:
    page.mouse.move(600, 300)
    page.mouse.move(600, 10)
    page.mouse.move(600, -20)


def record_survey_calls(page) -> list[str]:
    """The survey API paths (eligibility and survey fetches) the page asks for, in order; the
    "started" ping a first answer sends is a POST and not among them."""
    calls: list[str] = []
    page.on(
        "request",
        lambda request: (
            calls.append(request.url.split("?")[0].split("/v1", 1)[1])
            if "/v1/surveys/" in request.url and request.method == "GET"
            else None
        ),
    )
    return calls


def stored_responses(database_url: str, survey_key: str) -> list[Response]:
    with session_scope(database_url) as session:
        rows = session.scalars(select(Response).where(Response.survey_key == survey_key)).all()
        session.expunge_all()
        return list(rows)


def is_posted_response(response) -> bool:
    return (
        response.url.split("?")[0].endswith("/v1/responses") and response.request.method == "POST"
    )


def is_eligibility_answer(response) -> bool:
    return response.url.split("?")[0].endswith("/eligibility")


def visitor_id(page) -> str:
    return page.evaluate("() => localStorage.getItem('kundresa.vid')")
