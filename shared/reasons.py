"""Plain words for the reasons behind a risk score, in English and Swedish, with what to do.

A reason is a feature whose value, compared with the model's typical customer (the reference
row), raised this customer's risk. ``direction`` says whether the value was above or below
the typical one ("higher"/"lower"), or a different category ("other"). The texts say what
the value means for the customer, never the feature's code name, and each comes with one
suggested action for a support agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.journey import CHANNELS
from shared.surveys import reason_label

LOCALES: tuple[str, ...] = ("en", "sv")
DEFAULT_LOCALE = "en"
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "other")


@dataclass(frozen=True)
class Reason:
    """Texts per direction (``{value}`` is the customer's value) and one suggested action."""

    higher: dict[str, str]
    lower: dict[str, str]
    action: dict[str, str]


def _r(higher: tuple[str, str], lower: tuple[str, str], action: tuple[str, str]) -> Reason:
    return Reason(
        higher=dict(zip(LOCALES, higher, strict=True)),
        lower=dict(zip(LOCALES, lower, strict=True)),
        action=dict(zip(LOCALES, action, strict=True)),
    )


_WIN_BACK = (
    "Send a personal win-back offer.",
    "Skicka ett personligt erbjudande för att vinna tillbaka kunden.",
)
_CALL = ("Call the customer and ask what went wrong.", "Ring kunden och fråga vad som gick fel.")
_FIX_SUPPORT = (
    "Close the open support case and confirm with the customer.",
    "Avsluta det öppna supportärendet och bekräfta med kunden.",
)
_CART_HELP = (
    "Send a cart reminder with clear shipping costs and delivery time.",
    "Skicka en påminnelse om varukorgen med tydliga fraktkostnader och leveranstid.",
)

REASONS: dict[str, Reason] = {
    # Brand switch: who the customer is and where they are.
    "segment": _r(
        (
            "Customers in segment {value} leave more often.",
            "Kunder i segmentet {value} lämnar oftare.",
        ),
        (
            "Customers in segment {value} leave more often.",
            "Kunder i segmentet {value} lämnar oftare.",
        ),
        ("Use the segment's retention playbook.", "Använd segmentets plan för att behålla kunder."),
    ),
    "main_category": _r(
        ("Buyers of {value} leave more often.", "Kunder som köper {value} lämnar oftare."),
        ("Buyers of {value} leave more often.", "Kunder som köper {value} lämnar oftare."),
        (
            "Recommend related products in {value}.",
            "Rekommendera relaterade produkter inom {value}.",
        ),
    ),
    "stage": _r(
        (
            "The customer is in the {value} stage, where many drop off.",
            "Kunden är i steget {value}, där många faller bort.",
        ),
        (
            "The customer is in the {value} stage, where many drop off.",
            "Kunden är i steget {value}, där många faller bort.",
        ),
        (
            "Help the customer to the next step of the journey.",
            "Hjälp kunden vidare till nästa steg i resan.",
        ),
    ),
    "days_in_stage": _r(
        (
            "Stuck in the same stage for {value} days.",
            "Har stått still i samma steg i {value} dagar.",
        ),
        (
            "Only just reached this stage ({value} days).",
            "Har nyss nått detta steg ({value} dagar).",
        ),
        ("Reach out with a nudge to move on.", "Hör av dig med en knuff framåt."),
    ),
    "recency_days": _r(
        ("No purchase for {value} days.", "Inget köp på {value} dagar."),
        ("Bought only {value} days ago.", "Köpte för bara {value} dagar sedan."),
        _WIN_BACK,
    ),
    "frequency": _r(
        (
            "Many purchases ({value}), but the pattern is changing.",
            "Många köp ({value}), men mönstret ändras.",
        ),
        ("Few purchases so far ({value}).", "Få köp hittills ({value})."),
        ("Offer a reason for the next purchase.", "Ge kunden en anledning till nästa köp."),
    ),
    "monetary_total": _r(
        (
            "Has spent a lot ({value}); much is at stake.",
            "Har handlat för mycket ({value}); mycket står på spel.",
        ),
        ("Has spent little so far ({value}).", "Har handlat för lite hittills ({value})."),
        (
            "Give this valuable customer personal attention.",
            "Ge denna värdefulla kund personlig uppmärksamhet.",
        ),
    ),
    "monetary_mean": _r(
        ("Large orders on average ({value}).", "Stora ordrar i genomsnitt ({value})."),
        ("Small orders on average ({value}).", "Små ordrar i genomsnitt ({value})."),
        ("Suggest bundles that fit the customer.", "Föreslå paket som passar kunden."),
    ),
    "monetary_365d": _r(
        ("Spent {value} in the last year.", "Har handlat för {value} det senaste året."),
        ("Spent only {value} in the last year.", "Har bara handlat för {value} det senaste året."),
        _WIN_BACK,
    ),
    "tenure_days": _r(
        ("A long-time customer ({value} days).", "En kund sedan länge ({value} dagar)."),
        ("A new customer ({value} days).", "En ny kund ({value} dagar)."),
        (
            "Welcome new customers with a personal follow-up.",
            "Välkomna nya kunder med en personlig uppföljning.",
        ),
    ),
    "interval_mean_days": _r(
        (
            "Buys seldom: {value} days between purchases.",
            "Köper sällan: {value} dagar mellan köpen.",
        ),
        (
            "Usually buys often: {value} days between purchases.",
            "Brukar köpa ofta: {value} dagar mellan köpen.",
        ),
        ("Remind the customer at their usual buying time.", "Påminn kunden när de brukar handla."),
    ),
    "interval_std_days": _r(
        ("Irregular buying rhythm.", "Oregelbundet köpmönster."),
        ("Very regular buying rhythm, now broken.", "Mycket regelbundet köpmönster, nu brutet."),
        ("Remind the customer at their usual buying time.", "Påminn kunden när de brukar handla."),
    ),
    "recency_ratio": _r(
        (
            "The next purchase is overdue ({value}× the usual gap).",
            "Nästa köp är försenat ({value} gånger det vanliga uppehållet).",
        ),
        ("Buying on their usual rhythm.", "Handlar i sin vanliga takt."),
        _WIN_BACK,
    ),
    "overdue_days": _r(
        (
            "{value} days past the usual time of the next purchase.",
            "{value} dagar efter den vanliga tiden för nästa köp.",
        ),
        ("Buying close to their usual rhythm.", "Handlar nära sin vanliga takt."),
        _WIN_BACK,
    ),
    "first_purchase_days": _r(
        ("First bought {value} days ago.", "Köpte första gången för {value} dagar sedan."),
        ("A recent first-time buyer ({value} days).", "Nyligen första köp ({value} dagar)."),
        (
            "Welcome new customers with a personal follow-up.",
            "Välkomna nya kunder med en personlig uppföljning.",
        ),
    ),
    "is_repeat_buyer": _r(
        ("Has bought more than once.", "Har köpt mer än en gång."),
        ("Has bought only once.", "Har bara köpt en gång."),
        (
            "Give a reason for a second purchase, e.g. a follow-up on the first.",
            "Ge ett skäl till ett andra köp, t.ex. en uppföljning av det första.",
        ),
    ),
    "days_since_last_event": _r(
        ("No visit or contact for {value} days.", "Inget besök eller kontakt på {value} dagar."),
        ("Was active {value} days ago.", "Var aktiv för {value} dagar sedan."),
        (
            "Send a personal message with something new.",
            "Skicka ett personligt meddelande med något nytt.",
        ),
    ),
    "events_30d": _r(
        (
            "Unusually active in the last 30 days ({value} events).",
            "Ovanligt aktiv de senaste 30 dagarna ({value} händelser).",
        ),
        (
            "Little activity in the last 30 days ({value} events).",
            "Lite aktivitet de senaste 30 dagarna ({value} händelser).",
        ),
        (
            "Send a personal message with something new.",
            "Skicka ett personligt meddelande med något nytt.",
        ),
    ),
    "touchpoints_30d": _r(
        (
            "Many marketing contacts in 30 days ({value}).",
            "Många marknadskontakter på 30 dagar ({value}).",
        ),
        (
            "Few marketing contacts in 30 days ({value}).",
            "Få marknadskontakter på 30 dagar ({value}).",
        ),
        (
            "Check how often we contact the customer; don't spam.",
            "Se över hur ofta vi kontaktar kunden; spamma inte.",
        ),
    ),
    "touchpoints_90d": _r(
        (
            "Many marketing contacts in 90 days ({value}).",
            "Många marknadskontakter på 90 dagar ({value}).",
        ),
        (
            "Few marketing contacts in 90 days ({value}).",
            "Få marknadskontakter på 90 dagar ({value}).",
        ),
        (
            "Check how often we contact the customer; don't spam.",
            "Se över hur ofta vi kontaktar kunden; spamma inte.",
        ),
    ),
    "carts_added_90d": _r(
        (
            "Filled many carts in 90 days ({value}).",
            "Har fyllt många varukorgar på 90 dagar ({value}).",
        ),
        (
            "Filled few carts in 90 days ({value}).",
            "Har fyllt få varukorgar på 90 dagar ({value}).",
        ),
        _CART_HELP,
    ),
    "carts_abandoned_total": _r(
        ("Has left {value} carts without buying.", "Har lämnat {value} varukorgar utan att köpa."),
        ("Rarely leaves carts ({value}).", "Lämnar sällan varukorgar ({value})."),
        _CART_HELP,
    ),
    "carts_abandoned_90d": _r(
        (
            "Left {value} carts in the last 90 days.",
            "Har lämnat {value} varukorgar de senaste 90 dagarna.",
        ),
        (
            "Left few carts in the last 90 days ({value}).",
            "Har lämnat få varukorgar de senaste 90 dagarna ({value}).",
        ),
        _CART_HELP,
    ),
    "abandon_reason_last": _r(
        ("Last left a cart because: {value}.", "Lämnade senast en varukorg på grund av: {value}."),
        ("Last left a cart because: {value}.", "Lämnade senast en varukorg på grund av: {value}."),
        ("Answer the reason the customer gave.", "Bemöt skälet som kunden angav."),
    ),
    "csat_last": _r(
        ("Latest satisfaction answer: {value} of 5.", "Senaste nöjdhetssvar: {value} av 5."),
        (
            "Dissatisfied in the latest survey ({value} of 5).",
            "Missnöjd i senaste enkäten ({value} av 5).",
        ),
        _CALL,
    ),
    "csat_mean": _r(
        ("Average satisfaction {value} of 5.", "Genomsnittlig nöjdhet {value} av 5."),
        ("Often dissatisfied (average {value} of 5).", "Ofta missnöjd (i snitt {value} av 5)."),
        _CALL,
    ),
    "ces_last": _r(
        (
            "Found buying hard last time (effort {value} of 7).",
            "Tyckte att det var krångligt att handla senast (ansträngning {value} av 7).",
        ),
        ("Latest effort answer: {value} of 7.", "Senaste svar om ansträngning: {value} av 7."),
        (
            "Ask what was hard and fix it for them.",
            "Fråga vad som var krångligt och lös det åt kunden.",
        ),
    ),
    "ces_mean": _r(
        (
            "Often finds buying hard (effort {value} of 7).",
            "Tycker ofta att det är krångligt att handla (ansträngning {value} av 7).",
        ),
        (
            "Average effort answer: {value} of 7.",
            "Genomsnittligt svar om ansträngning: {value} av 7.",
        ),
        (
            "Ask what was hard and fix it for them.",
            "Fråga vad som var krångligt och lös det åt kunden.",
        ),
    ),
    "nps_last": _r(
        (
            "Latest recommendation score {value} of 10.",
            "Senaste rekommendationsbetyg {value} av 10.",
        ),
        (
            "Would not recommend us (latest score {value} of 10).",
            "Skulle inte rekommendera oss (senaste betyg {value} av 10).",
        ),
        _CALL,
    ),
    "nps_mean": _r(
        (
            "Average recommendation score {value} of 10.",
            "Genomsnittligt rekommendationsbetyg {value} av 10.",
        ),
        (
            "Low recommendation scores (average {value} of 10).",
            "Låga rekommendationsbetyg (i snitt {value} av 10).",
        ),
        _CALL,
    ),
    "is_detractor": _r(
        (
            "A detractor: gave a low recommendation score.",
            "Kritiker: gav ett lågt rekommendationsbetyg.",
        ),
        ("Not a detractor.", "Inte kritiker."),
        _CALL,
    ),
    "responses_total": _r(
        ("Answered many surveys ({value}).", "Har svarat på många enkäter ({value})."),
        (
            "Never or seldom answers surveys ({value}).",
            "Svarar aldrig eller sällan på enkäter ({value}).",
        ),
        (
            "Ask for feedback in a short personal message.",
            "Be om synpunkter i ett kort personligt meddelande.",
        ),
    ),
    "support_contacts_total": _r(
        ("Has contacted support {value} times.", "Har kontaktat supporten {value} gånger."),
        ("Rarely contacts support ({value}).", "Kontaktar sällan supporten ({value})."),
        _FIX_SUPPORT,
    ),
    "support_contacts_90d": _r(
        (
            "Contacted support {value} times in 90 days.",
            "Har kontaktat supporten {value} gånger på 90 dagar.",
        ),
        (
            "Few support contacts in 90 days ({value}).",
            "Få supportkontakter på 90 dagar ({value}).",
        ),
        _FIX_SUPPORT,
    ),
    "support_unresolved_90d": _r(
        ("{value} support cases left unresolved.", "{value} supportärenden är olösta."),
        ("No unresolved support cases.", "Inga olösta supportärenden."),
        _FIX_SUPPORT,
    ),
    "refunds_total": _r(
        ("Has asked for {value} refunds.", "Har begärt {value} återbetalningar."),
        ("Few refunds ({value}).", "Få återbetalningar ({value})."),
        (
            "Check what went wrong with the returned orders.",
            "Ta reda på vad som gick fel med de returnerade ordrarna.",
        ),
    ),
    "refunds_365d": _r(
        ("{value} refunds in the last year.", "{value} återbetalningar det senaste året."),
        (
            "Few refunds in the last year ({value}).",
            "Få återbetalningar det senaste året ({value}).",
        ),
        (
            "Check what went wrong with the returned orders.",
            "Ta reda på vad som gick fel med de returnerade ordrarna.",
        ),
    ),
    "advocacy_actions": _r(
        (
            "Has reviewed or referred us {value} times.",
            "Har recenserat eller rekommenderat oss {value} gånger.",
        ),
        ("Has never reviewed or referred us.", "Har aldrig recenserat eller rekommenderat oss."),
        ("Thank the customer and invite a review.", "Tacka kunden och be om en recension."),
    ),
    "devices": _r(
        ("Shops on {value} devices.", "Handlar på {value} enheter."),
        ("Shops on one device only.", "Handlar bara på en enhet."),
        (
            "Make sure the cart follows the customer across devices.",
            "Se till att varukorgen följer kunden mellan enheter.",
        ),
    ),
    "is_multi_device": _r(
        ("Switches between devices.", "Byter mellan enheter."),
        ("Uses a single device.", "Använder en enda enhet."),
        (
            "Make sure the cart follows the customer across devices.",
            "Se till att varukorgen följer kunden mellan enheter.",
        ),
    ),
    # Cart abandonment.
    "product_category": _r(
        ("Carts with {value} are often left.", "Varukorgar med {value} lämnas ofta."),
        ("Carts with {value} are often left.", "Varukorgar med {value} lämnas ofta."),
        _CART_HELP,
    ),
    "device": _r(
        ("Carts on {value} are often left.", "Varukorgar på {value} lämnas ofta."),
        ("Carts on {value} are often left.", "Varukorgar på {value} lämnas ofta."),
        (
            "Check that checkout works well on this device.",
            "Kontrollera att kassan fungerar bra på den här enheten.",
        ),
    ),
    "channel": _r(
        (
            "Visitors from {value} often leave their carts.",
            "Besökare från {value} lämnar ofta sina varukorgar.",
        ),
        (
            "Visitors from {value} often leave their carts.",
            "Besökare från {value} lämnar ofta sina varukorgar.",
        ),
        _CART_HELP,
    ),
    "cart_value": _r(
        ("A large cart ({value}).", "En stor varukorg ({value})."),
        ("A small cart ({value}).", "En liten varukorg ({value})."),
        (
            "Show the free-shipping threshold and payment options.",
            "Visa gränsen för fri frakt och betalningsalternativen.",
        ),
    ),
    "cart_items": _r(
        ("Many items in the cart ({value}).", "Många varor i varukorgen ({value})."),
        ("Few items in the cart ({value}).", "Få varor i varukorgen ({value})."),
        _CART_HELP,
    ),
    "minutes_open": _r(
        (
            "The cart has been open for {value} minutes.",
            "Varukorgen har varit öppen i {value} minuter.",
        ),
        (
            "The cart was opened {value} minutes ago.",
            "Varukorgen öppnades för {value} minuter sedan.",
        ),
        _CART_HELP,
    ),
    "minutes_idle": _r(
        (
            "Nothing has happened in the cart for {value} minutes.",
            "Inget har hänt i varukorgen på {value} minuter.",
        ),
        (
            "The cart was touched {value} minutes ago.",
            "Varukorgen ändrades för {value} minuter sedan.",
        ),
        _CART_HELP,
    ),
    "checkout_started": _r(
        ("Started checkout but did not finish.", "Påbörjade kassan men slutförde inte."),
        ("Has not started checkout.", "Har inte gått till kassan."),
        ("Offer help with payment or delivery.", "Erbjud hjälp med betalning eller leverans."),
    ),
    "minutes_in_checkout": _r(
        ("Stuck in checkout for {value} minutes.", "Har fastnat i kassan i {value} minuter."),
        (
            "Only just reached checkout ({value} minutes).",
            "Har nyss kommit till kassan ({value} minuter).",
        ),
        ("Offer help with payment or delivery.", "Erbjud hjälp med betalning eller leverans."),
    ),
    "session_depth": _r(
        (
            "Browsed a lot before the cart ({value} events).",
            "Surfade mycket innan varukorgen ({value} händelser).",
        ),
        (
            "Browsed little before the cart ({value} events).",
            "Surfade lite innan varukorgen ({value} händelser).",
        ),
        (
            "Recommend the products the customer looked at.",
            "Rekommendera produkterna som kunden tittade på.",
        ),
    ),
    # Cart abandonment: the visitor's session up to the moment.
    "session_minutes": _r(
        ("A long visit ({value} minutes).", "Ett långt besök ({value} minuter)."),
        ("A short visit ({value} minutes).", "Ett kort besök ({value} minuter)."),
        (
            "Recommend the products the visitor looked at.",
            "Rekommendera produkterna som besökaren tittade på.",
        ),
    ),
    "session_pages": _r(
        ("Many pages in this visit ({value}).", "Många sidor i detta besök ({value})."),
        ("Few pages in this visit ({value}).", "Få sidor i detta besök ({value})."),
        (
            "Recommend the products the visitor looked at.",
            "Rekommendera produkterna som besökaren tittade på.",
        ),
    ),
    "session_product_views": _r(
        ("Looked at {value} products in this visit.", "Tittade på {value} produkter i besöket."),
        (
            "Looked at few products in this visit ({value}).",
            "Tittade på få produkter i besöket ({value}).",
        ),
        (
            "Recommend the products the visitor looked at.",
            "Rekommendera produkterna som besökaren tittade på.",
        ),
    ),
    "minutes_on_product_pages": _r(
        (
            "Spent {value} minutes on product pages.",
            "Ägnade {value} minuter åt produktsidor.",
        ),
        (
            "Spent little time on product pages ({value} minutes).",
            "Ägnade lite tid åt produktsidor ({value} minuter).",
        ),
        (
            "Recommend the products the visitor looked at.",
            "Rekommendera produkterna som besökaren tittade på.",
        ),
    ),
    "returning_visitor": _r(
        ("Has visited the shop before.", "Har besökt butiken tidigare."),
        ("First visit to the shop.", "Första besöket i butiken."),
        (
            "Build trust: show reviews, returns and delivery terms.",
            "Bygg förtroende: visa omdömen, returvillkor och leveransvillkor.",
        ),
    ),
    "discount_shown": _r(
        ("Was shown a discount in this visit.", "Fick se en rabatt i detta besök."),
        ("Was shown no discount in this visit.", "Fick inte se någon rabatt i detta besök."),
        (
            "Consider a small discount or free shipping.",
            "Överväg en liten rabatt eller fri frakt.",
        ),
    ),
    "session_page_value_sum": _r(
        (
            "Visited high-value pages in this visit ({value}).",
            "Besökte sidor med högt värde i besöket ({value}).",
        ),
        (
            "Visited low-value pages in this visit ({value}).",
            "Besökte sidor med lågt värde i besöket ({value}).",
        ),
        (
            "Recommend the products the visitor looked at.",
            "Rekommendera produkterna som besökaren tittade på.",
        ),
    ),
    "session_price_max": _r(
        (
            "Looked at expensive products (up to {value}).",
            "Tittade på dyra produkter (upp till {value}).",
        ),
        (
            "Looked at inexpensive products (up to {value}).",
            "Tittade på billiga produkter (upp till {value}).",
        ),
        _CART_HELP,
    ),
    "past_purchases": _r(
        ("Has bought {value} times before.", "Har köpt {value} gånger tidigare."),
        (
            "Has bought little or never before ({value}).",
            "Har köpt lite eller aldrig tidigare ({value}).",
        ),
        (
            "Build trust: show reviews, returns and delivery terms.",
            "Bygg förtroende: visa omdömen, returvillkor och leveransvillkor.",
        ),
    ),
    "past_abandonments": _r(
        ("Has left {value} carts before.", "Har lämnat {value} varukorgar tidigare."),
        ("Rarely leaves carts ({value}).", "Lämnar sällan varukorgar ({value})."),
        _CART_HELP,
    ),
    "days_since_last_purchase": _r(
        ("Last purchase {value} days ago.", "Senaste köpet för {value} dagar sedan."),
        ("Bought only {value} days ago.", "Köpte för bara {value} dagar sedan."),
        _CART_HELP,
    ),
}
for _channel in CHANNELS:
    _name = _channel.replace("_", " ")
    REASONS[f"tp_{_channel}_90d"] = _r(
        (
            f"Many contacts via {_name} in 90 days ({{value}}).",
            f"Många kontakter via {_name} på 90 dagar ({{value}}).",
        ),
        (
            f"Few contacts via {_name} in 90 days ({{value}}).",
            f"Få kontakter via {_name} på 90 dagar ({{value}}).",
        ),
        (
            "Check how often we contact the customer; don't spam.",
            "Se över hur ofta vi kontaktar kunden; spamma inte.",
        ),
    )

_FALLBACK = _r(
    ("{feature} is higher than usual ({value}).", "{feature} är högre än vanligt ({value})."),
    ("{feature} is lower than usual ({value}).", "{feature} är lägre än vanligt ({value})."),
    ("Look at the customer's timeline.", "Titta på kundens tidslinje."),
)


# What a reason says when the customer has no value at all (NaN: never answered, never bought).
_MISSING: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        ("csat_last", "csat_mean", "ces_last", "ces_mean", "nps_last", "nps_mean"),
        ("Has not answered our satisfaction surveys.", "Har inte svarat på våra nöjdhetsenkäter."),
    ),
    **dict.fromkeys(
        (
            "recency_days",
            "days_since_last_purchase",
            "monetary_mean",
            "monetary_365d",
            "first_purchase_days",
        ),
        ("Has not bought anything yet.", "Har inte köpt något ännu."),
    ),
    **dict.fromkeys(
        ("interval_mean_days", "interval_std_days", "recency_ratio", "overdue_days"),
        (
            "Has bought only once: no buying rhythm yet.",
            "Har bara köpt en gång: inget köpmönster ännu.",
        ),
    ),
    "minutes_in_checkout": ("Has not started checkout.", "Har inte gått till kassan."),
    "abandon_reason_last": (
        "Has not told us why a cart was left.",
        "Har inte berättat varför en varukorg lämnades.",
    ),
}
_MISSING_FALLBACK = ("Nothing known yet about {feature}.", "Inget känt ännu om {feature}.")


def is_missing(value: Any) -> bool:
    """None, NaN, and the feature builder's ``"none"`` for an absent category."""
    return value is None or value == "none" or (isinstance(value, float) and value != value)


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN: the value does not exist (e.g. never bought)
            return "–"
        return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"
    return str(value).replace("_", " ")


def direction(value: Any, reference: Any) -> str:
    """``higher``/``lower`` for numbers compared with the reference, ``other`` for categories."""
    if isinstance(value, int | float) and isinstance(reference, int | float):
        return "lower" if value < reference else "higher"
    return "other"


def explain(
    feature: str, value: Any, reference: Any, locale: str = DEFAULT_LOCALE
) -> dict[str, str]:
    """``{"text", "action"}`` for one reason in ``locale`` (English when not translated)."""
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    reason = REASONS.get(feature, _FALLBACK)
    name = feature.replace("_", " ")
    if is_missing(value):
        texts = _MISSING.get(feature, _MISSING_FALLBACK)
        text = texts[LOCALES.index(locale)].format(feature=name)
    else:
        side = reason.lower if direction(value, reference) == "lower" else reason.higher
        shown = reason_label(value, locale) if feature == "abandon_reason_last" else _shown(value)
        text = side[locale].format(value=shown, feature=name)
    return {"text": text, "action": reason.action[locale]}
