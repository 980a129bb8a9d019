"""The open survey as assistive technology meets it, in real headless Chromium: Chromium's own
accessibility tree (over CDP) names the dialog and every control, Tab and Shift+Tab never
leave the dialog, Escape and the close button close it and give the focus back."""

from __future__ import annotations

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
from tests.widget.widget_page import DIALOG, shoot, wait_for_widget

pytestmark = pytest.mark.browser

CONTROL_ROLES = {"button", "radio", "checkbox", "textbox", "combobox", "slider", "link"}
SCALE_GROUPS = ((NPS_LABEL, range(0, 11)), (CSAT_LABEL, range(1, 6)), (CES_LABEL, range(1, 8)))
OPENER = "Tell us what you think"

# Where Tab goes from the survey's heading, round and round: one stop per radio group (its
# first radio while none is chosen), one per checkbox, the comment, Send, then Close.
TAB_CYCLE = [
    f"{NPS_LABEL} / 0",
    f"{CSAT_LABEL} / 1",
    f"{CES_LABEL} / 1",
    f"{REASON_LABEL} / {REASONS['price']}",
    *(f"{EXTRAS_LABEL} / {label}" for label in EXTRAS.values()),
    COMMENT_LABEL,
    "Send",
    "Close",
]

FOCUS_NAME = """() => {
    const host = document.querySelector('kundresa-survey');
    const el = host && host.shadowRoot.activeElement;
    if (!el) return 'outside the survey: ' + document.activeElement.tagName;
    const name = el.getAttribute('aria-label') || (el.labels && el.labels.length
        ? el.labels[0].textContent : el.textContent);
    const group = el.closest('fieldset');
    return (group ? group.querySelector('legend').textContent + ' / ' : '') + name.trim();
}"""


def accessibility_tree(page) -> list[dict]:
    """The survey dialog's subtree as Chromium exposes it to screen readers, in document
    order, without the nodes it hides from them: ``{role, name, description, invalid}``."""
    cdp = page.context.new_cdp_session(page)
    nodes = {node["nodeId"]: node for node in cdp.send("Accessibility.getFullAXTree")["nodes"]}
    cdp.detach()
    dialogs = [
        node
        for node in nodes.values()
        if not node.get("ignored") and node.get("role", {}).get("value") == "dialog"
    ]
    assert len(dialogs) == 1, "expected exactly one dialog in the accessibility tree"
    found: list[dict] = []

    def walk(node: dict) -> None:
        if not node.get("ignored"):
            properties = {p["name"]: p["value"].get("value") for p in node.get("properties", [])}
            found.append(
                {
                    "role": node.get("role", {}).get("value"),
                    "name": node.get("name", {}).get("value", ""),
                    "description": node.get("description", {}).get("value", ""),
                    "invalid": properties.get("invalid", "false") != "false",
                    "modal": properties.get("modal", False),
                }
            )
        for child in node.get("childIds", []):
            walk(nodes[child])

    walk(dialogs[0])
    return found


def open_every_question_type(page, base: str) -> None:
    """A shop page whose own button opens the survey, clicked: the button is the opener."""
    page.goto(f"{base}/demo/shop?lang=en")
    wait_for_widget(page)
    page.evaluate(
        """([key, text]) => { const b = document.createElement('button');
               b.type = 'button'; b.id = 'opener'; b.textContent = text;
               b.addEventListener('click', () => window.Kundresa.show(key));
               document.querySelector('main').prepend(b); }""",
        [EVERY_QUESTION_TYPE, OPENER],
    )
    page.get_by_role("button", name=OPENER).click()
    page.get_by_role("dialog", name=TITLE).wait_for(state="visible")


def test_the_dialog_and_every_control_in_it_have_accessible_names(
    custom_surveys, open_page
) -> None:
    page = open_page()
    open_every_question_type(page, custom_surveys.base)
    tree = accessibility_tree(page)

    assert (tree[0]["role"], tree[0]["name"], tree[0]["modal"]) == ("dialog", TITLE, True)
    assert tree[0]["description"] == "Six quick questions."
    controls = [(node["role"], node["name"]) for node in tree if node["role"] in CONTROL_ROLES]
    assert controls == [
        ("button", "Close"),
        *(("radio", str(n)) for _, scale in SCALE_GROUPS for n in scale),
        *(("radio", label) for label in REASONS.values()),
        *(("checkbox", label) for label in EXTRAS.values()),
        # The honeypot field is not among them: hidden from screen readers, too.
        ("textbox", COMMENT_LABEL),
        ("button", "Send"),
    ]
    groups = [node for node in tree if node["role"] == "group"]
    assert [group["name"] for group in groups] == [
        NPS_LABEL,
        CSAT_LABEL,
        CES_LABEL,
        REASON_LABEL,
        EXTRAS_LABEL,
    ]
    # A scale's ends are read with its question, so "0" and "10" are not bare numbers.
    assert groups[0]["description"] == "Not at all Very much"

    # The same names found the way Playwright's users (and screen readers) look for them.
    dialog = page.get_by_role("dialog", name=TITLE)
    nps = dialog.get_by_role("group", name=NPS_LABEL)
    assert nps.get_by_role("radio", name="10", exact=True).count() == 1
    assert dialog.get_by_role("checkbox", name=EXTRAS["express"]).count() == 1
    assert dialog.get_by_role("textbox", name=COMMENT_LABEL).count() == 1

    # Sent unanswered: each required question says why, and its controls are marked invalid.
    dialog.get_by_role("button", name="Send").click()
    tree = accessibility_tree(page)
    groups = {node["name"]: node for node in tree if node["role"] == "group"}
    assert groups[NPS_LABEL]["description"] == "Not at all Very much Choose a number."
    assert groups[EXTRAS_LABEL]["description"] == "Please answer this question."
    invalid = {(node["role"], node["name"]) for node in tree if node["role"] in CONTROL_ROLES} - {
        (node["role"], node["name"]) for node in tree if not node["invalid"]
    }
    assert ("checkbox", EXTRAS["gift_wrap"]) in invalid
    assert ("textbox", COMMENT_LABEL) not in invalid
    shoot(page, "22-every-question-type-unanswered-errors")
    assert page.errors == []


def test_focus_is_trapped_while_the_survey_is_open_and_returns_to_its_opener(
    custom_surveys, open_page
) -> None:
    page = open_page()
    open_every_question_type(page, custom_surveys.base)
    # The heading has the first focus, so a screen reader starts by reading the survey's title.
    assert page.evaluate(FOCUS_NAME) == TITLE

    forwards = []
    for _ in range(2 * len(TAB_CYCLE)):
        page.keyboard.press("Tab")
        forwards.append(page.evaluate(FOCUS_NAME))
        if forwards[-1] == "Close" and len(forwards) == len(TAB_CYCLE):
            shoot(page, "23-focus-wrapped-to-close")
    assert forwards == TAB_CYCLE * 2

    backwards = []
    for _ in range(len(TAB_CYCLE)):
        page.keyboard.press("Shift+Tab")
        backwards.append(page.evaluate(FOCUS_NAME))
    # From Close, Shift+Tab wraps to Send and walks the same stops back to Close.
    assert backwards == [*reversed(TAB_CYCLE[:-1]), "Close"]

    page.keyboard.press("Escape")
    page.locator("kundresa-survey").wait_for(state="detached")
    assert page.evaluate("() => document.activeElement.id") == "opener"
    shoot(page, "24-focus-back-on-opener")
    assert page.errors == []


def test_the_close_button_by_keyboard_closes_the_survey_and_gives_focus_back(
    custom_surveys, open_page
) -> None:
    page = open_page()
    open_every_question_type(page, custom_surveys.base)
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(FOCUS_NAME) == "Close"
    page.keyboard.press("Enter")
    page.locator("kundresa-survey").wait_for(state="detached")
    assert page.evaluate("() => document.activeElement.id") == "opener"
    assert page.errors == []


def test_escape_closes_a_survey_that_opened_by_itself_before_any_input(service, open_page) -> None:
    page = open_page()
    page.goto(f"{service.base}/demo/shop/confirmation?lang=nb&order=order-escape")
    page.locator(DIALOG).wait_for(state="visible")
    page.keyboard.press("Escape")
    page.locator("kundresa-survey").wait_for(state="detached")
    # Nothing had the focus before the survey; the page is usable again, from its top.
    assert page.evaluate("() => document.activeElement === document.body")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Nordvik"
    assert page.errors == []
