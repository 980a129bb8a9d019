"""The demo shop (``/demo/shop``): a product, a cart, a checkout and an order confirmation with
the survey widget embedded, so a person can see both triggers work. Registered only in demo
mode (issue 5).

The page finds or creates the "Demo shop" site and allows the request's own origin on it, so
the demo works on whatever host and port the service runs.

This module is also the demo shop's own server, doing what a real shop's back office does:
with ``?customer=ID`` (the demo's stand-in for a signed-in customer) it signs the customer id
with the site's identity secret and gives the page only the signature, and it records the
purchase itself when an order is confirmed, since a browser may not claim one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, abort, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from shared.auth import create_site
from shared.db.session import session_scope
from shared.db.tables import Site
from shared.identity_signature import new_identity_secret, sign_customer_id
from shared.schemas.events import EventSchema
from shared.web import current_settings
from survey_service import event_ingest

bp = Blueprint(
    "demo",
    __name__,
    url_prefix="/demo",
    template_folder="templates",
    static_folder="static/demo",
    static_url_path="/static",
)

DEMO_SITE_NAME = "Demo shop"
LOCALES = ("en", "sv", "da", "nb")
PAGES = ("shop", "cart", "checkout", "confirmation")

# sku, price (kr), category: the same three products in every language.
PRODUCTS: tuple[tuple[str, int, str], ...] = (
    ("linen-shirt", 499, "clothing"),
    ("wool-socks", 149, "clothing"),
    ("coffee-mug", 199, "home"),
)

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "shop": "Shop",
        "cart": "Cart",
        "checkout": "Checkout",
        "confirmation": "Order confirmed",
        "tagline": "A demo web shop with the Kundresa survey widget.",
        "add": "Add to cart",
        "added": "Added",
        "empty": "Your cart is empty.",
        "total": "Total",
        "to_checkout": "Go to checkout",
        "name": "Name",
        "email": "Email",
        "place_order": "Place order",
        "thanks": "Thank you! Your order {order} is confirmed.",
        "continue": "Continue shopping",
        "hint": "Try it: add something to the cart, then move the pointer out of the top of the "
        "window. On a phone, leave the cart page for a moment or stay idle.",
        "linen-shirt": "Linen shirt",
        "wool-socks": "Wool socks",
        "coffee-mug": "Coffee mug",
        "consent": "May we remember this browser so that we can ask about your visit? (Kundresa survey widget)",
        "allow": "Allow",
        "deny": "No thanks",
    },
    "sv": {
        "shop": "Butik",
        "cart": "Varukorg",
        "checkout": "Kassa",
        "confirmation": "Beställningen är klar",
        "tagline": "En demobutik med Kundresas enkätwidget.",
        "add": "Lägg i varukorgen",
        "added": "Tillagd",
        "empty": "Varukorgen är tom.",
        "total": "Summa",
        "to_checkout": "Till kassan",
        "name": "Namn",
        "email": "E-post",
        "place_order": "Slutför köpet",
        "thanks": "Tack! Din beställning {order} är bekräftad.",
        "continue": "Fortsätt handla",
        "hint": "Prova: lägg något i varukorgen och för sedan pekaren ut genom fönstrets "
        "överkant. På en mobil: lämna varukorgssidan en stund eller vänta.",
        "linen-shirt": "Linneskjorta",
        "wool-socks": "Ullstrumpor",
        "coffee-mug": "Kaffemugg",
        "consent": "Får vi komma ihåg den här webbläsaren så att vi kan fråga om ditt besök? (Kundresas enkätwidget)",
        "allow": "Tillåt",
        "deny": "Nej tack",
    },
    "da": {
        "shop": "Butik",
        "cart": "Kurv",
        "checkout": "Kasse",
        "confirmation": "Ordren er bekræftet",
        "tagline": "En demowebshop med Kundresas spørgeskema-widget.",
        "add": "Læg i kurven",
        "added": "Tilføjet",
        "empty": "Din kurv er tom.",
        "total": "I alt",
        "to_checkout": "Gå til kassen",
        "name": "Navn",
        "email": "E-mail",
        "place_order": "Afgiv ordre",
        "thanks": "Tak! Din ordre {order} er bekræftet.",
        "continue": "Fortsæt med at handle",
        "hint": "Prøv: læg noget i kurven, og før så markøren ud af vinduets overkant. "
        "På en mobil: forlad kurven et øjeblik, eller vent.",
        "linen-shirt": "Hørskjorte",
        "wool-socks": "Uldsokker",
        "coffee-mug": "Kaffekrus",
        "consent": "Må vi huske denne browser, så vi kan spørge til dit besøg? (Kundresas spørgeskema-widget)",
        "allow": "Tillad",
        "deny": "Nej tak",
    },
    "nb": {
        "shop": "Butikk",
        "cart": "Handlekurv",
        "checkout": "Kasse",
        "confirmation": "Bestillingen er bekreftet",
        "tagline": "En demonettbutikk med Kundresas spørreskjema-widget.",
        "add": "Legg i handlekurven",
        "added": "Lagt til",
        "empty": "Handlekurven er tom.",
        "total": "Totalt",
        "to_checkout": "Gå til kassen",
        "name": "Navn",
        "email": "E-post",
        "place_order": "Fullfør kjøpet",
        "thanks": "Takk! Bestillingen {order} er bekreftet.",
        "continue": "Fortsett å handle",
        "hint": "Prøv: legg noe i handlekurven, og før så pekeren ut gjennom toppen av "
        "vinduet. På mobil: forlat handlekurven en stund, eller vent.",
        "linen-shirt": "Linskjorte",
        "wool-socks": "Ullsokker",
        "coffee-mug": "Kaffekopp",
        "consent": "Kan vi huske denne nettleseren slik at vi kan spørre om besøket ditt? (Kundresas spørreskjema-widget)",
        "allow": "Tillat",
        "deny": "Nei takk",
    },
}


@dataclass(frozen=True)
class DemoSite:
    id: int
    key: str
    identity_secret: str = field(repr=False)


def demo_site(database_url: str, origin: str) -> DemoSite:
    """The "Demo shop" site, created when missing, with ``origin`` allowed on it and an
    identity secret (a demo site made before secrets existed gets one here)."""
    with session_scope(database_url) as session:
        site = session.scalars(
            select(Site).where(Site.name == DEMO_SITE_NAME).order_by(Site.id)
        ).first()
        if site is not None:
            if origin not in (site.allowed_origins or []):
                # A new list, not an in-place append: SQLAlchemy only sees a reassigned JSON value.
                site.allowed_origins = [*(site.allowed_origins or []), origin]
            if not site.identity_secret:
                site.identity_secret = new_identity_secret()
            return DemoSite(site.id, site.site_key, site.identity_secret)
    create_site(database_url, DEMO_SITE_NAME, [origin])
    return demo_site(database_url, origin)


def _record_purchase(database_url: str, site: DemoSite, customer_id: str | None) -> None:
    """What the shop's back office does when an order is confirmed: send the purchase. The demo
    has no order database, so the checkout form carries the cart, its value and the widget's
    visitor id; the order id makes a reload a duplicate, not a second purchase."""
    order = request.args.get("order", "")
    try:
        event = EventSchema().load(
            {
                "event_id": f"demo-purchase-{order}",
                "type": "purchase",
                "visitor_id": request.args.get("visitor") or None,
                "customer_id": customer_id,
                "occurred_at": datetime.now(UTC).isoformat(),
                "order_id": order,
                "cart_id": request.args.get("cart") or None,
                "value": request.args.get("amount") or None,
            }
        )
    except ValidationError:
        # No order, or no one to attach it to (a visitor who did not consent): nothing to send.
        return
    event_ingest.ingest_events(database_url, site.id, [event])


def _signed_in_customer() -> str | None:
    """``?customer=ID``: the demo's stand-in for the shop's sign-in."""
    customer = request.args.get("customer", "").strip()
    try:
        return EventSchema().fields["customer_id"].deserialize(customer) if customer else None
    except ValidationError:
        return None


def _locale() -> str:
    asked = request.args.get("lang", "")
    if asked in LOCALES:
        return asked
    return request.accept_languages.best_match(LOCALES) or "en"


def _idle_seconds() -> int:
    # The mobile idle trigger's delay; the demo lets a visitor shorten it to try it out.
    try:
        return max(1, min(int(request.args.get("idle", "30")), 600))
    except ValueError:
        return 30


@bp.get("/shop", defaults={"page": "shop"})
@bp.get("/shop/<page>")
def shop(page: str) -> str:
    if page not in PAGES:
        abort(404)
    settings = current_settings()
    site = demo_site(settings.database_url, request.host_url.rstrip("/"))
    customer = _signed_in_customer()
    if page == "confirmation":
        _record_purchase(settings.database_url, site, customer)
    locale = _locale()
    texts = TEXTS[locale]
    return render_template(
        "demo/shop.html",
        page=page,
        locale=locale,
        locales=LOCALES,
        texts=texts,
        products=[
            {"sku": sku, "name": texts[sku], "price": price, "category": category}
            for sku, price, category in PRODUCTS
        ],
        order_id=request.args.get("order", "")[:64],
        site_key=site.key,
        customer_id=customer,
        # The page gets the signature, never the secret.
        identity_signature=sign_customer_id(site.identity_secret, customer) if customer else None,
        idle_seconds=_idle_seconds(),
        # ?consent=required shows the widget waiting for the shop's consent banner.
        require_consent=request.args.get("consent") == "required",
        # The demo's own switches, kept on every link.
        keep={k: request.args[k] for k in ("consent", "idle", "customer") if k in request.args},
        widget_url=url_for("widget.widget_js"),
    )
