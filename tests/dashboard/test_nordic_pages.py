"""A Danish (or Norwegian) agent reads Danish: no code from the label lists, no English text the
catalogue translates, money in the site's currency and one date style."""

from __future__ import annotations

from html.parser import HTMLParser

from babel.messages.pofile import read_po
from sqlalchemy import update

from model_service.dashboard import TRANSLATIONS
from shared.db.session import session_scope
from shared.db.tables import Site
from shared.labels import CATEGORIES, CHANNELS, DEVICES, SEGMENTS, STAGES, SURVEYS
from tests.dashboard.conftest import Dashboard, seed_scored_customers

PAGES = ("/dashboard/", "/dashboard/customers/c-risky", "/dashboard/feedback", "/dashboard/models")
# "pr" is also the Danish and Norwegian "per" (pr. kanal).
CODES = {*SURVEYS, *SEGMENTS, *STAGES, *CATEGORIES, *CHANNELS, *DEVICES} - {"none", "pr"}


class _Visible(HTMLParser):
    """The text a person reads: text nodes and the attributes shown or spoken."""

    SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in self.SHOWN_ATTRIBUTES and value:
                self.texts.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data.strip())


def _visible(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.texts


def _translated_english(language: str) -> set[str]:
    """English msgids the catalogue of ``language`` says differently (placeholders aside)."""
    path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as file:
        catalogue = read_po(file)
    return {
        m.id
        for m in catalogue
        if m.id and isinstance(m.id, str) and m.string and m.string != m.id and "%(" not in m.id
    }


def test_danish_and_norwegian_pages_have_no_code_and_no_english_the_catalogue_translates(
    dashboard: Dashboard,
) -> None:
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    for language in ("da", "nb"):
        english = _translated_english(language)
        for path in PAGES:
            page = client.get(path, headers={"Accept-Language": f"{language},en;q=0.5"})
            assert page.status_code == 200, path
            assert f'<html lang="{language}">' in page.text
            texts = _visible(page.text)
            words = {word.strip(".,:·()") for text in texts for word in text.split()}
            assert not (words & CODES), f"{path} shows codes {words & CODES}"
            left = sorted(set(texts) & english)
            assert not left, f"{path} shows English in {language}: {left}"
    # The switch offers the four languages, each in its own words; "no" from a browser is nb.
    page = client.get("/dashboard/", headers={"Accept-Language": "no"})
    assert '<html lang="nb">' in page.text
    for name in ("English", "Svenska", "Dansk", "Norsk bokmål"):
        assert f">{name}</option>" in page.text


def test_money_in_the_sites_currency_and_own_surveys_by_their_own_title(
    dashboard: Dashboard,
) -> None:
    from shared.auth import create_site
    from shared.currency import valid_currency

    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    swedish = client.get("/dashboard/", headers={"Accept-Language": "sv"}).text
    assert "900\xa0kr" in swedish, "SEK when no site says otherwise"
    create_site(dashboard.database_url, "Butik", ["https://butik.example"])
    with session_scope(dashboard.database_url) as session:
        session.execute(update(Site).values(currency=valid_currency("dkk")))
    danish = client.get("/dashboard/", headers={"Accept-Language": "da"}).text
    assert "900\xa0kr." in danish
    english = client.get("/dashboard/", headers={"Accept-Language": "en"}).text
    assert "DKK\xa0900" in english or "DKK900" in english
    assert valid_currency("XYZ") is None
    _a_shops_own_survey_is_called_by_its_own_title(dashboard)


def _a_shops_own_survey_is_called_by_its_own_title(dashboard: Dashboard) -> None:
    from datetime import timedelta

    from sqlalchemy import insert

    from shared.db.tables import Response, Survey
    from tests.dashboard.conftest import NOW

    with session_scope(dashboard.database_url) as session:
        session.execute(
            insert(Survey),
            [
                {
                    "key": "store_visit",
                    "kind": "custom",
                    "name": "Store visit",
                    "questions": [{"id": "csat", "type": "csat"}],
                    "texts": {"en": {"title": "Your visit"}, "da": {"title": "Dit besøg"}},
                }
            ],
        )
        survey_id = session.query(Survey.id).filter(Survey.key == "store_visit").scalar()
        session.execute(
            insert(Response),
            [
                {
                    "response_id": "r-store",
                    "survey_id": survey_id,
                    "survey_key": "store_visit",
                    "answers": {"csat": 4},
                    "csat": 4,
                    "comment": "Hyggeligt personale",
                    "body_hash": "z" * 64,
                    "submitted_at": NOW - timedelta(days=3),
                }
            ],
        )
    client = dashboard.signed_in()
    danish = client.get("/dashboard/feedback?period=all", headers={"Accept-Language": "da"})
    assert "Dit besøg" in danish.text and "store_visit" not in _visible(danish.text)
    english = client.get("/dashboard/feedback?period=all", headers={"Accept-Language": "en"})
    assert "Your visit" in english.text
