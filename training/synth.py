"""Synthetic customer journeys with known effects, for demos, tests and benchmarks.

The generative story (every number below is a constant in this module):

1. **Customers.** Each customer belongs to a segment (``bargain_hunter``, ``regular``,
   ``premium``, ``business``) with its own purchase cycle and order value, and has a favourite
   product category (``fashion``, ``electronics``, ``home``, ``beauty``, ``sports``) that
   stretches or shortens that cycle and scales the value. Premium customers favour
   electronics. A locale (sv, en, da, nb), a primary device, and for 30 % a second device.
   Half the customers are already known when the period starts; the other half arrive evenly
   over it. A quarter of the newcomers are prospects who never buy.
2. **Journeys to a purchase.** Gaps between purchases are exponential around the customer's
   cycle (with a per-customer rate drawn from a gamma, as in buy-till-you-die models). Before a
   purchase the customer meets the brand several times, on channels that differ by stage:
   display, paid social, organic social, PR and affiliates early (awareness); organic and paid
   search, retargeting, direct and referrals in the middle (interest, desire); e-mail and the
   newsletter after a purchase (loyalty). On the way to a purchase the early channels come in
   its first half; the middle channels, product views and abandoned carts in its second; paid
   search brings most customers to a product page (``PLANTED_STAGE_CHANNEL``). We
   store touchpoints and views, not all ~117 interactions of seed 000, to keep volumes sane.
3. **Carts.** Before each purchase a customer abandons 0–3 carts (more for bargain hunters
   and on mobile), so about 60–70 % of carts are abandoned (seed 003). Every cart is filled in
   a visit: a click on a search or retargeting channel lands on a product page, more product
   views follow (with ``price`` and ``page_value`` properties), sometimes a discount is shown,
   the item goes in (sometimes a second one), the visitor browses on, and a desktop visitor
   about to leave may trigger ``exit_intent``. Then silence — for both outcomes: converting
   carts are bought minutes to hours later (15 % a day or two later, some after a pause in
   checkout), often in a new visit; abandoning visitors come back too (45 %), half of them
   even start checkout, and leave. Only 20 % of abandoned carts are ever marked
   ``cart_abandoned`` (1–30 hours after the last activity), as in real shops where carts just
   go quiet; in 30 % of cases the cart-abandonment survey is answered with a reason (price for
   bargain hunters, delivery time where deliveries are slow, ...). The outcome shifts each
   signal only a little (``CART_EFFECTS``): more product views, a second item and a discount
   shown (above all to price-focused customers) go with buying; a phone, a cart dearer than
   the customer usually buys and an exit intent with abandoning. So idle time alone says
   little at the moments a shop can act, and a model lands near real shops, not near 1.
4. **Experience after a purchase.** Each order has a delivery time (category base plus
   noise) and an effort (checkout friction, a customer trait plus chance). Satisfaction
   follows: CSAT falls with slow delivery and high effort, CES is low when buying was hard,
   NPS follows CSAT. Half of the orders get a post-purchase survey answer; some customers
   answer a relationship NPS survey. Slow or hard orders raise the chance of a support
   contact, which is resolved 65 % of the time; unhappy customers ask for refunds more often.
   Happy customers sometimes write reviews or refer friends (advocacy).
5. **Brand switch.** After every order the customer may leave for good (seed 001: 74 % switch
   when buying is too hard, 51 % never return after one bad experience, remarkable service
   brings them back). The log-odds of leaving add up the *planted effects*
   (``CHURN_EFFECTS``): a low CSAT, a hard purchase (low CES), a detractor NPS, a refund and an
   unresolved support contact raise it; a resolved contact with a happy customer (good service)
   lowers it. A customer who left buys nothing more and only receives e-mails and, now and
   then, visits.
6. **The planted worst journey** (``PLANTED_WORST_CELL``): premium customers buying
   electronics get slow deliveries (nine days instead of two to four), so they are less
   satisfied, find buying harder, abandon carts over delivery time and leave more often — and
   they are the most valuable, so that cell has the most revenue at risk.
7. **Devices and identity.** Events on a device are anonymous (visitor id only) until the
   customer identifies on it (a purchase, a newsletter sign-up, a support contact); an
   ``identities`` row then links the visitor id to the customer. A visitor id (a cookie)
   lasts ``VISITOR_LIFETIME``; the next one is anonymous again until the customer identifies
   on it, so most carts are anonymous when they are filled. A click in an e-mail names the
   customer. Events on a second device before identification are the tracking point seed 004
   says gets lost.

Output is deterministic for a seed and an end date: each customer has its own random stream
seeded by (seed, customer number), so chunking and the number of customers do not change a
customer's story. Rows go in through SQLAlchemy Core in chunks, so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from sqlalchemy import JSON, insert, select
from tqdm import tqdm

from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response, Survey, UTCDateTime
from shared.surveys import ABANDONMENT_REASONS, ensure_builtin_surveys

SEGMENTS: dict[str, dict[str, float]] = {
    # share of customers, mean days between purchases, mean order value (EUR), price focus
    "bargain_hunter": {"share": 0.35, "cycle": 40.0, "value": 45.0, "price": 1.0},
    "regular": {"share": 0.35, "cycle": 30.0, "value": 80.0, "price": 0.4},
    "premium": {"share": 0.20, "cycle": 45.0, "value": 220.0, "price": 0.1},
    "business": {"share": 0.10, "cycle": 20.0, "value": 300.0, "price": 0.2},
}
CATEGORIES: dict[str, dict[str, float]] = {
    # share as favourite, cycle multiplier, value multiplier, base delivery days
    "fashion": {"share": 0.30, "cycle": 1.0, "value": 1.0, "delivery": 2.5},
    "electronics": {"share": 0.20, "cycle": 1.5, "value": 2.5, "delivery": 3.0},
    "home": {"share": 0.20, "cycle": 1.3, "value": 1.5, "delivery": 4.0},
    "beauty": {"share": 0.15, "cycle": 0.7, "value": 0.5, "delivery": 2.0},
    "sports": {"share": 0.15, "cycle": 1.0, "value": 1.0, "delivery": 3.0},
}
PREMIUM_ELECTRONICS_SHARE = 0.45
PLANTED_WORST_CELL: dict[str, str] = {"segment": "premium", "product_category": "electronics"}
PLANTED_DELIVERY_DAYS = 9.0

LOCALES = (("sv", 0.4), ("en", 0.2), ("da", 0.2), ("nb", 0.2))
DEVICES = (("mobile", 0.55), ("desktop", 0.35), ("tablet", 0.10))
SECOND_DEVICE_SHARE = 0.30
KNOWN_AT_START_SHARE = 0.5
PROSPECT_SHARE = 0.25

EARLY_CHANNELS = ("display", "paid_social", "organic_social", "pr", "affiliate", "organic_search")
MIDDLE_CHANNELS = ("organic_search", "paid_search", "retargeting", "direct", "referral")
AFTER_CHANNELS = ("email", "newsletter", "direct")
# The planted channel effect per stage: this share of the arrivals that bring a customer to a
# product page (interest) come by paid search, the rest evenly by the middle channels, so paid
# search is the channel that brings most customers into interest. It is drawn from a stream of
# its own and is independent of every outcome: the tasks get no easier.
PLANTED_STAGE_CHANNEL: dict[str, str] = {"stage": "interest", "channel": "paid_search"}
PLANTED_STAGE_CHANNEL_SHARE = 0.3

# Log-odds of leaving after an order: the effects the models must recover.
CHURN_EFFECTS: dict[str, float] = {
    "base": -2.6,
    "low_csat": 1.2,  # CSAT 1-2
    "hard_purchase": 1.2,  # CES 1-3: buying was hard
    "detractor": 1.0,  # NPS 0-6
    "refund": 1.0,
    "unresolved_support": 1.3,
    "good_service": -0.8,  # a resolved support contact and CSAT 4-5
    "very_happy": -0.3,  # CSAT 5
}
POST_PURCHASE_RESPONSE_RATE = 0.5
ABANDON_SURVEY_RATE = 0.3
# Share of abandoned carts the shop marks with a ``cart_abandoned`` event; the rest go quiet.
ABANDON_MARKED_SHARE = 0.2
# Planted cart effects: how a converting visit differs from an abandoning one. Each is modest,
# so a model at decision time lands near real shops (ROC-AUC about 0.65-0.75), not near 1.
CART_EFFECTS: dict[str, float] = {
    "mobile": 0.35,  # chance an abandoning visit is on the customer's phone, if they have one
    "abandoned_value": 1.25,  # abandoned carts are dearer than the customer usually buys
    "discount_base": 0.10,  # chance of a discount shown in any cart visit
    "discount_price_focus": 0.35,  # extra chance in a converting visit, times price focus
    "second_item_converting": 0.40,  # chance of a second item (abandoning visits: 0.25)
    "exit_intent_abandoning": 0.45,  # desktop exit intent (converting visits: 0.15)
    "abandoned_return": 0.45,  # an abandoning visitor comes back later without buying
    "slow_checkout": 0.35,  # a converting visitor pauses after starting checkout
}
# A device's visitor id (a cookie) lasts this long; a new one is anonymous until the customer
# identifies on it again, so most carts are anonymous when they are filled.
VISITOR_LIFETIME = timedelta(days=30)
# Channels whose clicks name the customer (a link in an e-mail they were sent).
IDENTIFYING_CHANNELS = ("email", "newsletter")
RELATIONSHIP_NPS_RATE = 0.1
COMMENTS = {
    "low": ("Leveransen tog alldeles för lång tid.", "Too hard to find the checkout.", "Slow."),
    "high": ("Snabb leverans, tack!", "Great service.", "Smooth as always."),
}

# Rows per transaction. Large: every commit rewrites the index pages it touched, and journal
# events land all over the time index.
INSERT_CHUNK = 100_000
# SQLite page cache for the bulk insert (KiB): the indexes of a large shop stay in memory.
SQLITE_CACHE_KIB = 262_144


@dataclass
class SynthSummary:
    """What ``generate`` wrote."""

    customers: int = 0
    identities: int = 0
    events: int = 0
    responses: int = 0
    purchases: int = 0
    carts: int = 0
    abandoned_carts: int = 0
    switched: int = 0
    start: datetime | None = None
    end: datetime | None = None
    seconds: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def abandonment_rate(self) -> float:
        """Share of carts that were abandoned."""
        return self.abandoned_carts / self.carts if self.carts else 0.0


@dataclass
class _Rows:
    customers: list[dict] = field(default_factory=list)
    identities: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)

    def size(self) -> int:
        return len(self.events) + len(self.responses)


def default_end() -> datetime:
    """Today at midnight UTC: data ends "now", and one day gives the same data for a seed."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def generate(
    database_url: str,
    customers: int,
    days: int,
    seed: int,
    end: datetime | None = None,
    progress: bool = True,
) -> SynthSummary:
    """Write ``customers`` synthetic customers with ``days`` of history ending at ``end``."""
    started = time.perf_counter()
    end = (end or default_end()).astimezone(UTC)
    start = end - timedelta(days=days)
    ensure_builtin_surveys(database_url)
    engine = get_engine(database_url)
    with engine.connect() as conn:
        surveys = dict(conn.execute(select(Survey.key, Survey.id)).all())
    summary = SynthSummary(start=start, end=end)
    rows = _Rows()
    bar = tqdm(total=customers, desc="synth", unit="customer", disable=not progress)
    for number in range(customers):
        story = _CustomerStory(seed, number, start, end, surveys)
        story.tell(rows, summary)
        bar.update(1)
        if rows.size() >= INSERT_CHUNK:
            _flush(engine, rows, summary)
    _flush(engine, rows, summary)
    bar.close()
    summary.customers = customers
    summary.seconds = time.perf_counter() - started
    return summary


def _flush(engine, rows: _Rows, summary: SynthSummary) -> None:
    # Customers and identities first: they are what the other rows refer to.
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        rows.events.sort(key=itemgetter("occurred_at"))  # neighbours in the time index
        for table, batch in (
            (Customer.__table__, rows.customers),
            (Identity.__table__, rows.identities),
            # Events without properties go in without the JSON column: encoding a JSON null
            # for every page view costs more than the insert itself.
            (JourneyEvent.__table__, [e for e in rows.events if "properties" not in e]),
            (JourneyEvent.__table__, [e for e in rows.events if "properties" in e]),
            (Response.__table__, rows.responses),
        ):
            if batch:
                _insert(conn, table, batch)
    summary.identities += len(rows.identities)
    summary.events += len(rows.events)
    summary.responses += len(rows.responses)
    for event in rows.events:
        summary.by_type[event["type"]] = summary.by_type.get(event["type"], 0) + 1
    rows.customers.clear()
    rows.identities.clear()
    rows.events.clear()
    rows.responses.clear()


def _insert(conn, table, batch: list[dict]) -> None:
    """Insert rows that all have the same keys.

    On SQLite, SQLAlchemy's per-value bind processing costs more than the insert itself, so
    the few columns that need it are converted here (aware UTC datetimes to the naive text
    ``UTCDateTime`` stores, dicts to JSON) and the rows go to the driver's executemany.
    Elsewhere, Core as usual.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), batch)
        return
    columns = list(batch[0])
    times = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    documents = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    get = itemgetter(*columns)
    values = []
    for row in batch:
        value = list(get(row))
        for i in times:
            value[i] = _sqlite_time(value[i])
        for i in documents:
            value[i] = None if value[i] is None else json.dumps(value[i])
        values.append(tuple(value))
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    conn.exec_driver_sql(sql, values)


def _sqlite_time(value: datetime) -> str:
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights)[0]


def _body_hash(answers: dict) -> str:
    return hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()


class _CustomerStory:
    """One customer's journey over the period; ``tell`` appends its rows."""

    def __init__(
        self,
        seed: int,
        number: int,
        start: datetime,
        end: datetime,
        surveys: dict[str, int],
    ) -> None:
        self.rng = random.Random(seed * 1_000_003 + number)
        # A stream of its own for the planted channel, so every other draw stays as it was.
        self.channel_rng = random.Random(f"{seed}-{number}-channel")
        self.start, self.end = start, end
        self.surveys = surveys
        self.id = f"s{seed}-c{number:07d}"
        rng = self.rng
        self.segment = _pick(rng, tuple((k, v["share"]) for k, v in SEGMENTS.items()))
        if self.segment == "premium" and rng.random() < PREMIUM_ELECTRONICS_SHARE:
            self.category = "electronics"
        else:
            self.category = _pick(rng, tuple((k, v["share"]) for k, v in CATEGORIES.items()))
        self.locale = _pick(rng, LOCALES)
        primary = _pick(rng, DEVICES)
        self.devices = [primary]
        if rng.random() < SECOND_DEVICE_SHARE:
            self.devices.append("desktop" if primary != "desktop" else "mobile")
        seg, cat = SEGMENTS[self.segment], CATEGORIES[self.category]
        # Gamma-mixed purchase rate: some customers buy much more often than their segment.
        self.cycle_days = seg["cycle"] * cat["cycle"] / rng.gammavariate(4.0, 0.25)
        self.order_value = seg["value"] * cat["value"]
        self.price_focus = seg["price"]
        self.friction = rng.betavariate(2.0, 5.0)  # how hard buying tends to be for them
        self.is_planted = (
            self.segment == PLANTED_WORST_CELL["segment"]
            and self.category == PLANTED_WORST_CELL["product_category"]
        )
        self.delivery_base = PLANTED_DELIVERY_DAYS if self.is_planted else cat["delivery"]
        span = (end - start).total_seconds()
        if rng.random() < KNOWN_AT_START_SHARE:
            self.first_seen = start + timedelta(seconds=rng.uniform(0, 30 * 86400))
            self.is_prospect = False
        else:
            self.first_seen = start + timedelta(seconds=rng.uniform(0, max(span - 7 * 86400, 1)))
            self.is_prospect = rng.random() < PROSPECT_SHARE
        self.events: list[dict] = []
        self.responses: list[dict] = []
        self.carts = 0
        self.n_events = 0

    # -- building blocks ------------------------------------------------------------------

    def _device(self) -> int:
        if len(self.devices) > 1 and self.rng.random() < 0.3:
            return 1
        return 0

    def _event(self, kind: str, at: datetime, **values: object) -> dict | None:
        if at >= self.end or at < self.start:
            return None
        self.n_events += 1
        event = {
            "event_id": f"{self.id}-e{self.n_events}",
            "type": kind,
            "occurred_at": at,
            "received_at": at,
            "device_no": values.pop("device_no", self._device()),
            **values,
        }
        self.events.append(event)
        return event

    def _touch(self, at: datetime, channels: tuple[str, ...], kind: str = "touchpoint") -> None:
        self._event(kind, at, channel=self.rng.choice(channels))

    def _interest_channel(self) -> str:
        """The channel of an arrival on a product page: the planted one at its share."""
        channel = self.rng.choice(MIDDLE_CHANNELS)
        if self.channel_rng.random() < PLANTED_STAGE_CHANNEL_SHARE:
            return PLANTED_STAGE_CHANNEL["channel"]
        return channel

    def _between(self, a: datetime, b: datetime) -> datetime:
        return a + timedelta(seconds=self.rng.uniform(0, max((b - a).total_seconds(), 1.0)))

    def _respond(self, key: str, at: datetime, answers: dict, stage: str, **ids: object) -> None:
        if at >= self.end:
            return
        self.responses.append(
            {
                "response_id": f"{self.id}-r{len(self.responses) + 1}",
                "survey_id": self.surveys[key],
                "survey_key": key,
                "stage": stage,
                "locale": self.locale,
                "answers": answers,
                "nps": answers.get("nps"),
                "csat": answers.get("csat"),
                "ces": answers.get("ces"),
                "reason": answers.get("reason"),
                "comment": answers.get("comment"),
                "body_hash": _body_hash(answers),
                "submitted_at": at,
                "received_at": at,
                "cart_id": ids.get("cart_id"),
                "order_id": ids.get("order_id"),
                "device_no": 0,
            }
        )

    # -- the story ------------------------------------------------------------------------

    def tell(self, rows: _Rows, summary: SynthSummary) -> None:
        """Live the customer's period: journeys, orders, experiences; then append the rows."""
        rng = self.rng
        t = self.first_seen
        for _ in range(rng.randint(1, 3)):
            self._touch(t + timedelta(hours=rng.uniform(0, 72)), EARLY_CHANNELS)
        alive = True
        first = True
        while t < self.end:
            gap = rng.expovariate(1.0 / self.cycle_days) + (2.0 if first else 0.5)
            purchase_at = t + timedelta(days=gap)
            if self.is_prospect:
                self._browse(t, min(purchase_at, self.end), first=True, buys=False, summary=summary)
                break
            if not alive:
                self._drift_away(t)
                break
            self._browse(t, purchase_at, first=first, buys=True, summary=summary)
            if purchase_at >= self.end:
                break
            alive = self._order(purchase_at, summary)
            if not alive and purchase_at + timedelta(days=1) < self.end:
                summary.switched += 1
            first = False
            t = purchase_at
        self._emit(rows)

    def _browse(
        self, t: datetime, until: datetime, first: bool, buys: bool, summary: SynthSummary
    ) -> None:
        """Touchpoints, views and abandoned carts between ``t`` and a purchase at ``until``:
        awareness channels in the first half of the way, then search, retargeting, product
        views and carts in the second."""
        rng = self.rng
        middle = t + (until - t) / 2
        for _ in range(rng.randint(1, 3) if first else rng.randint(0, 1)):
            self._touch(self._between(t, middle), EARLY_CHANNELS)
        for _ in range(rng.randint(1, 2)):
            at = self._between(middle, until)
            self._event("touchpoint", at, channel=self._interest_channel())
            self._event("product_view", at + timedelta(minutes=1), product_category=self.category)
        if not first:
            for _ in range(rng.randint(0, 2)):
                self._touch(self._between(t, until), AFTER_CHANNELS, kind="page_view")
        mobile = self.devices[0] == "mobile"
        weights = [0.3 - 0.15 * self.price_focus, 0.3, 0.25, 0.15 + 0.15 * self.price_focus]
        if mobile:
            weights = [weights[0] * 0.7, weights[1], weights[2] * 1.2, weights[3] * 1.3]
        abandoned = rng.choices((0, 1, 2, 3), weights)[0]
        for _ in range(abandoned):
            latest = until - timedelta(days=1) if buys else until
            self._abandoned_cart(self._between(middle, max(latest, middle)), summary)

    def _cart_device(self, abandons: bool) -> int:
        """Carts left on a phone are the common case: an abandoning visitor is more often on
        the customer's mobile device."""
        if abandons and "mobile" in self.devices and self.rng.random() < CART_EFFECTS["mobile"]:
            return self.devices.index("mobile")
        return self._device()

    def _shopping_session(
        self, added: datetime, cart_id: str, device: int, value: float, converts: bool
    ) -> datetime:
        """The visit in which a cart is filled: an arrival on a channel, page and product views
        (with ``page_value`` and ``price`` properties), maybe a discount shown, the cart events
        and, for a desktop visitor about to leave, an exit intent. Returns the time of the
        last cart activity. The outcome shifts each signal a little, never decisively."""
        rng = self.rng
        effects = CART_EFFECTS
        views = rng.randint(1, 5) if converts else rng.randint(1, 4)
        minutes = [rng.expovariate(1 / 1.5) + 0.2 for _ in range(views + 1)]
        t = added - timedelta(minutes=sum(minutes))
        price = value / rng.uniform(1.0, 1.6)
        # Search and retargeting clicks land on a product page.
        self._event(
            "product_view", t, channel=self._interest_channel(), device_no=device,
            product_category=self.category,
            properties={"price": round(price, 2), "page_value": round(rng.uniform(0, 5), 2)},
        )  # fmt: skip
        for gap in minutes[:-1]:
            t += timedelta(minutes=gap)
            self._event(
                "product_view", t, product_category=self.category, device_no=device,
                properties={"price": round(price * rng.uniform(0.5, 1.0), 2),
                            "page_value": round(rng.uniform(0, 10), 2)},
            )  # fmt: skip
        discount_rate = effects["discount_base"] + (
            effects["discount_price_focus"] * self.price_focus if converts else 0.0
        )
        if rng.random() < discount_rate:
            self._event(
                "discount_shown", t + timedelta(seconds=20), device_no=device,
                properties={"discount": 10},
            )  # fmt: skip
        self._event(
            "add_to_cart", added, cart_id=cart_id, value=value,
            product_category=self.category, device_no=device,
        )  # fmt: skip
        last = added
        if rng.random() < (effects["second_item_converting"] if converts else 0.25):
            last = added + timedelta(minutes=rng.uniform(1, 15))
            self._event(
                "product_view", last - timedelta(seconds=40), product_category=self.category,
                device_no=device, properties={"price": round(value * 0.3, 2)},
            )  # fmt: skip
            self._event(
                "add_to_cart", last, cart_id=cart_id, value=round(value * 0.3, 2),
                product_category=self.category, device_no=device,
            )  # fmt: skip
        # Browsing on after the cart, both kinds of visitor: silence follows for both.
        for _ in range(rng.randint(0, 3)):
            self._event(
                "page_view", last + timedelta(minutes=rng.uniform(0.5, 12)), device_no=device,
                properties={"page_value": round(rng.uniform(0, 5), 2)},
            )  # fmt: skip
        if self.devices[device] == "desktop" and rng.random() < (
            effects["exit_intent_abandoning"] if not converts else 0.15
        ):
            self._event(
                "exit_intent", last + timedelta(minutes=rng.uniform(0.5, 15)), cart_id=cart_id,
                device_no=device,
            )  # fmt: skip
        return last

    def _return_visit(self, at: datetime, device: int) -> datetime:
        """A later visit to an open cart: an arrival and a few pages; returns when it ends."""
        rng = self.rng
        self._event(
            "touchpoint", at, channel=rng.choice(("email", "direct", "retargeting")),
            device_no=device,
        )  # fmt: skip
        end = at + timedelta(minutes=rng.uniform(2, 10))
        for _ in range(rng.randint(0, 2)):
            self._event("page_view", self._between(at, end), device_no=device)
        return end

    def _abandoned_cart(self, at: datetime, summary: SynthSummary) -> None:
        rng = self.rng
        self.carts += 1
        cart_id = f"{self.id}-k{self.carts}"
        device = self._cart_device(abandons=True)
        value = round(self.order_value * CART_EFFECTS["abandoned_value"]
                      * rng.lognormvariate(0, 0.4), 2)  # fmt: skip
        if at >= self.end or at < self.start:
            return
        summary.carts += 1
        summary.abandoned_carts += 1
        last = self._shopping_session(at, cart_id, device, value, converts=False)
        if rng.random() < 0.3:
            last = last + timedelta(minutes=rng.uniform(1, 20))
            self._event("checkout_started", last, cart_id=cart_id, device_no=device)
        if rng.random() < CART_EFFECTS["abandoned_return"]:
            # Back in a later visit that ends without buying: coming back is no verdict either,
            # and half of these visitors even start checking out before leaving again.
            back = self._return_visit(last + timedelta(minutes=rng.uniform(30, 30 * 60)), device)
            if rng.random() < 0.5:
                self._event("checkout_started", back, cart_id=cart_id, device_no=device)
        reason = self._abandon_reason()
        marked = last + timedelta(hours=rng.uniform(1, 30))
        # Most shops never mark a cart abandoned: it just goes quiet.
        if rng.random() < ABANDON_MARKED_SHARE:
            self._event(
                "cart_abandoned",
                marked,
                cart_id=cart_id,
                device_no=device,
                properties={"reason": reason},
            )
        if rng.random() < ABANDON_SURVEY_RATE:
            self._respond(
                "cart_abandonment",
                last + timedelta(minutes=2),
                {"reason": reason},
                stage="desire",
                cart_id=cart_id,
            )
        if rng.random() < 0.5:  # retargeting follows half of the abandoned carts
            self._touch(marked + timedelta(hours=rng.uniform(1, 48)), ("retargeting", "email"))

    def _abandon_reason(self) -> str:
        rng = self.rng
        weights = {reason: 1.0 for reason in ABANDONMENT_REASONS}
        weights["price_too_high"] += 4 * self.price_focus
        weights["unexpected_shipping_cost"] += 3 * self.price_focus
        weights["found_cheaper_elsewhere"] += 2 * self.price_focus
        weights["complicated_checkout"] += 6 * self.friction
        weights["delivery_too_slow"] += 6 if self.is_planted else 0.5
        weights["just_browsing"] += 2
        names = list(weights)
        return rng.choices(names, [weights[n] for n in names])[0]

    def _order(self, at: datetime, summary: SynthSummary) -> bool:
        """A converting cart, the purchase and what follows; returns whether they stay."""
        rng = self.rng
        self.carts += 1
        cart_id = f"{self.id}-k{self.carts}"
        order_id = f"{self.id}-o{self.carts}"
        device = self._cart_device(abandons=False)
        value = round(self.order_value * rng.lognormvariate(0, 0.4), 2)
        if rng.random() < 0.15:
            filled = at - timedelta(hours=rng.uniform(20, 40))  # came back after a reminder
        else:
            filled = at - timedelta(minutes=rng.uniform(5, 180))
        last = self._shopping_session(filled, cart_id, device, value, converts=True)
        if rng.random() < CART_EFFECTS["slow_checkout"]:
            # Checkout started, then a pause (a card to fetch, a question to ask) before paying.
            checkout = self._between(last, at)
        else:
            checkout = at - timedelta(minutes=rng.uniform(2, 20))
        checkout = max(checkout, last + timedelta(seconds=30))
        if checkout - last > timedelta(minutes=30):
            # Back in a new visit (a reminder, a bookmark), the same kind of visit as an
            # abandoning visitor's return.
            start = checkout - timedelta(minutes=rng.uniform(2, 10))
            checkout = self._return_visit(max(start, last + timedelta(minutes=30)), device)
        self._event("checkout_started", checkout, cart_id=cart_id, device_no=device)
        delivery = self.delivery_base + rng.gammavariate(2.0, 0.75)
        bought = self._event(
            "purchase",
            at,
            cart_id=cart_id,
            order_id=order_id,
            value=value,
            product_category=self.category,
            device_no=device,
            properties={"delivery_days": round(delivery, 1)},
        )
        if bought is None:
            return True
        summary.carts += 1
        summary.purchases += 1
        hard = rng.random() < 0.1 + 0.5 * self.friction
        csat = 4.6 - 0.45 * max(0.0, delivery - 3.0) - 1.2 * hard + rng.gauss(0, 0.6)
        csat = int(min(5, max(1, round(csat))))
        ces = rng.randint(1, 3) if hard else rng.randint(4, 7)
        nps = int(min(10, max(0, round(2.2 * csat - 1.0 + rng.gauss(0, 1.2)))))
        delivered = at + timedelta(days=delivery)
        if rng.random() < POST_PURCHASE_RESPONSE_RATE:
            answers: dict = {"csat": csat, "ces": ces, "nps": nps}
            if rng.random() < 0.2:
                answers["comment"] = rng.choice(COMMENTS["low" if csat <= 2 else "high"])
            self._respond(
                "post_purchase",
                delivered + timedelta(hours=rng.uniform(2, 48)),
                answers,
                stage="purchase",
                order_id=order_id,
            )
        if rng.random() < RELATIONSHIP_NPS_RATE:
            self._respond(
                "relationship_nps",
                delivered + timedelta(days=rng.uniform(5, 20)),
                {"nps": nps},
                stage="loyalty",
            )
        contact = rng.random() < 0.06 + 0.3 * (delivery > 6) + 0.15 * hard
        resolved = rng.random() < 0.65
        if contact:
            self._event(
                "support_contact",
                at + timedelta(days=rng.uniform(1, delivery + 3)),
                channel="direct",
                properties={"resolved": resolved},
            )
        refund = rng.random() < 0.04 + 0.12 * (csat <= 2)
        if refund:
            self._event(
                "refund",
                delivered + timedelta(days=rng.uniform(1, 14)),
                order_id=order_id,
                value=-value,
            )
        if csat >= 4 and rng.random() < 0.15:
            self._event("review", delivered + timedelta(days=rng.uniform(1, 10)))
        if nps >= 9 and rng.random() < 0.05:
            self._event(
                "referral", delivered + timedelta(days=rng.uniform(5, 30)), channel="referral"
            )
        for _ in range(rng.randint(1, 2)):
            self._touch(at + timedelta(days=rng.uniform(1, 20)), AFTER_CHANNELS)
        if rng.random() < 0.2:
            self._event("newsletter_signup", at + timedelta(minutes=5), channel="newsletter")
        effects = CHURN_EFFECTS
        logit = effects["base"]
        logit += effects["low_csat"] * (csat <= 2)
        logit += effects["hard_purchase"] * (ces <= 3)
        logit += effects["detractor"] * (nps <= 6)
        logit += effects["refund"] * refund
        logit += effects["unresolved_support"] * (contact and not resolved)
        logit += effects["good_service"] * (contact and resolved and csat >= 4)
        logit += effects["very_happy"] * (csat == 5)
        return rng.random() >= 1.0 / (1.0 + math.exp(-logit))

    def _drift_away(self, t: datetime) -> None:
        """After switching brand: e-mails keep coming, visits become rare."""
        rng = self.rng
        at = t + timedelta(days=rng.uniform(10, 30))
        while at < self.end:
            self._touch(at, ("email", "newsletter"))
            if rng.random() < 0.25:
                self._touch(at + timedelta(hours=rng.uniform(1, 72)), ("direct",), "page_view")
            at += timedelta(days=rng.uniform(20, 45))

    # -- rows -----------------------------------------------------------------------------

    def _emit(self, rows: _Rows) -> None:
        """Add visitor ids (one per device and cookie lifetime), anonymity before
        identification on that visitor id, identities; append the rows."""
        events = sorted(self.events, key=lambda e: e["occurred_at"])

        def visitor_of(device: int, at: datetime) -> str:
            epoch = max(0, int((at - self.first_seen) / VISITOR_LIFETIME))
            return f"{self.id}-v{device}" + (f"-{epoch}" if epoch else "")

        identified: dict[str, datetime] = {}
        for event in events:
            visitor = visitor_of(event["device_no"], event["occurred_at"])
            event["visitor_id"] = visitor
            if visitor not in identified and event["type"] in {
                "purchase",
                "newsletter_signup",
                "support_contact",
                "refund",
            }:
                identified[visitor] = event["occurred_at"]
        rows.customers.append(
            {
                "id": self.id,
                "segment": self.segment,
                "locale": self.locale,
                "consent": True,
                "created_at": events[0]["occurred_at"] if events else self.first_seen,
            }
        )
        for visitor, at in identified.items():
            rows.identities.append({"visitor_id": visitor, "customer_id": self.id, "linked_at": at})
        for event in events:
            device = event.pop("device_no")
            visitor = event["visitor_id"]
            known = (visitor in identified and event["occurred_at"] >= identified[visitor]) or (
                event.get("channel") in IDENTIFYING_CHANNELS
            )
            event.setdefault("channel", None)
            event.setdefault("product_category", None)
            event.setdefault("value", None)
            event.setdefault("cart_id", None)
            event.setdefault("order_id", None)
            event["customer_id"] = self.id if known else None
            event["device"] = self.devices[device]
            rows.events.append(event)
        for response in self.responses:
            response.pop("device_no")
            visitor = visitor_of(0, response["submitted_at"])
            response["visitor_id"] = visitor
            known = visitor in identified and response["submitted_at"] >= identified[visitor]
            response["customer_id"] = self.id if known else None
            rows.responses.append(response)


def iter_summary_lines(summary: SynthSummary) -> Iterator[str]:
    """Human-readable lines for the CLI."""
    yield f"customers      {summary.customers:>10,}"
    yield f"identities     {summary.identities:>10,}"
    yield f"journey events {summary.events:>10,}"
    yield f"responses      {summary.responses:>10,}"
    yield f"purchases      {summary.purchases:>10,}"
    yield f"carts          {summary.carts:>10,}  ({summary.abandonment_rate:.0%} abandoned)"
    yield f"switched brand {summary.switched:>10,}"
    yield f"period         {summary.start:%Y-%m-%d} .. {summary.end:%Y-%m-%d}"
    yield f"took           {summary.seconds:>10.1f} s"
