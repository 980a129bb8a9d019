"""Attribution: the attribution models side by side, and the channels per journey stage; and
the journey map's stage boxes split by channel (a template global its partial calls)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from markupsafe import Markup

from model_service.attribution import attribution_report, load_period, stage_channels, stage_shares
from model_service.dashboard import bp, charts
from model_service.dashboard.filters import PERIODS, cached_choices
from model_service.dashboard.formatting import STAGE_LABELS, label, money
from model_service.dashboard.journey_map import data_until
from shared.attribution import (
    DEFAULT_LOOKBACK_DAYS,
    KINDS,
    KNOWN_CHANNELS,
    MARKOV,
    MIN_CONVERSIONS_FOR_INTERVAL,
    MODELS,
)
from shared.cache import TimedCache
from shared.channel_stages import NO_CHANNEL, ChannelAtStage, ChannelShare
from shared.db.session import session_scope
from shared.journey import STAGES
from shared.web import current_settings

ATTRIBUTION_PERIODS = ("30d", "90d")
MODEL_LABELS = {
    "last_click": _l("Last click"),
    "first_click": _l("First click"),
    "linear": _l("Linear"),
    "position_based": _l("Position-based (40/20/40)"),
    "time_decay": _l("Time decay"),
    "markov": _l("Markov (data-driven)"),
}
KIND_LABELS = {"purchase": _l("Purchases"), "recovered_cart": _l("Recovered carts")}
CHANNEL_LABELS = {
    "display": _l("Display"),
    "paid_social": _l("Paid social"),
    "organic_social": _l("Organic social"),
    "organic_search": _l("Organic search"),
    "paid_search": _l("Paid search"),
    "email": _l("E-mail"),
    "newsletter": _l("Newsletter"),
    "retargeting": _l("Retargeting"),
    "direct": _l("Direct"),
    "referral": _l("Referral"),
    "affiliate": _l("Affiliate"),
    "pr": _l("PR"),
    "other": _l("Other (unknown channel)"),
    NO_CHANNEL: _l("No channel"),
}
# The split boxes show each stage's biggest channels; the rest are one row.
SPLIT_ROWS = 5
# A report over a period a minute old is as good as a fresh one (see shared.cache).
ATTRIBUTION_CACHE = TimedCache(seconds=60)
# Background reads of a page (``start_channel_split``): one pool per process, made lazily.
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
# The split of a shop with no events: nothing to read.
_DONE_EMPTY: Future = Future()
_DONE_EMPTY.set_result([])


def channel_label(channel: str) -> str:
    return label(CHANNEL_LABELS, channel)


def channel_class(channel: str) -> str:
    """One colour per channel, the same on every chart."""
    order = (*KNOWN_CHANNELS, NO_CHANNEL)
    return f"ch-{order.index(channel) % 7}" if channel in order else "ch-none"


def _choice(name: str, allowed) -> str | None:
    value = request.args.get(name, "").strip()
    return value if value in allowed else None


def _period(until: datetime | None, days: int | None) -> tuple[datetime | None, datetime | None]:
    """The period ending just after the newest event (periods count back from the data, as on
    the journey map, so an imported history shows as it is)."""
    if until is None:
        return None, None
    end = until + timedelta(seconds=1)
    return (None if days is None else end - timedelta(days=days)), end


@bp.get("/attribution")
@login_required
def attribution():
    database_url = current_settings().database_url
    period = _choice("period", ATTRIBUTION_PERIODS) or "30d"
    kind = _choice("kind", KINDS) or "purchase"
    with session_scope(database_url) as session:
        segments, categories = cached_choices(database_url, session)
        since, until = _period(data_until(session), PERIODS[period])
    segment = _choice("segment", segments)
    category = _choice("category", categories)
    results, stages = {}, []
    if until is not None:
        results, stages = ATTRIBUTION_CACHE.get(
            ("page", database_url, since, until, kind, segment, category),
            lambda: _page_figures(database_url, since, until, kind, segment, category),
        )
    table, chart = _models_table(results)
    return render_template(
        "dashboard/attribution.html",
        results=results,
        table=table,
        chart=chart,
        models=MODELS,
        model_labels={m: str(MODEL_LABELS[m]) for m in MODELS},
        markov=results.get(MARKOV),
        min_conversions=MIN_CONVERSIONS_FOR_INTERVAL,
        stage_rows=_by_stage(stages),
        channel_label=channel_label,
        period=period,
        periods=ATTRIBUTION_PERIODS,
        kind=kind,
        kinds=KINDS,
        kind_label=lambda k: str(KIND_LABELS[k]),
        segment=segment,
        category=category,
        segments=segments,
        categories=categories,
        since=since,
        until=until,
    )


def _page_figures(database_url, since, until, kind, segment, category):
    """Both questions of the page from one read of the period."""
    frames = load_period(
        database_url,
        since=since,
        until=until,
        lookback_days=DEFAULT_LOOKBACK_DAYS,
        product_category=category,
    )
    results = attribution_report(database_url, since=since, until=until, kind=kind, frames=frames)
    stages = stage_channels(
        database_url,
        since=since,
        until=until,
        segment=segment,
        product_category=category,
        frames=frames,
    )
    return results, stages


def _models_table(results: dict) -> tuple[list[dict], Markup | None]:
    """One row per channel with each model's revenue (the Markov one with its interval), the
    channels the most-crediting models favour first; and the grouped bar chart."""
    if not results or not any(r.channels for r in results.values()):
        return [], None
    credits = {m: {c.channel: c for c in r.channels} for m, r in results.items()}
    channels = sorted(
        {ch for by_channel in credits.values() for ch in by_channel},
        key=lambda ch: (
            -sum(by_channel[ch].revenue for by_channel in credits.values() if ch in by_channel)
        ),
    )
    rows = []
    for channel in channels:
        cells = {m: credits[m].get(channel) for m in results}
        rows.append({"channel": channel, "label": channel_label(channel), "cells": cells})
    models = list(results)
    values = [
        [cells.revenue if (cells := credits[m].get(ch)) else 0.0 for m in models] for ch in channels
    ]
    markov = models.index(MARKOV) if MARKOV in models else None
    intervals = {}
    if markov is not None:
        for g, ch in enumerate(channels):
            credit = credits[MARKOV].get(ch)
            if credit is not None and credit.low is not None:
                intervals[(g, markov)] = (credit.low, credit.high)
    chart = charts.grouped_bars(
        [channel_label(ch) for ch in channels],
        [str(MODEL_LABELS[m]) for m in models],
        values,
        title=_("Converted revenue per channel, by attribution model"),
        value_fmt=money,
        intervals=intervals,
    )
    return rows, chart


def _by_stage(rows: list[ChannelAtStage] | list[ChannelShare]) -> list[tuple[str, list]]:
    return [(stage, [r for r in rows if r.stage == stage]) for stage in STAGES]


def start_channel_split(flt) -> Future | None:
    """When the journey map is asked for its split by channel, start reading the split's rows
    (the map's period and filters) in the background and return their future: the split reads
    its period while the map runs its own queries. Both are mostly the database's work, which
    lets go of the interpreter, so the page waits for the slower of the two, not their sum."""
    if request.args.get("channels") != "1":
        return None
    database_url = current_settings().database_url
    with session_scope(database_url) as session:
        since, until = _period(data_until(session), PERIODS.get(flt.period, PERIODS["90d"]))
    if until is None:
        return _DONE_EMPTY
    return _background().submit(
        ATTRIBUTION_CACHE.get,
        ("stages", database_url, since, until, flt.segment, flt.product_category),
        lambda: stage_shares(
            database_url,
            since=since,
            until=until,
            segment=flt.segment,
            product_category=flt.product_category,
        ),
    )


def _background() -> ThreadPoolExecutor:
    """The process's pool for a page's background reads, made on first use (after a server
    forks its workers: threads do not survive a fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="page-read")
        return _pool


@bp.app_template_global("journey_channel_split")
def journey_channel_split(flt, pending: Future | None) -> dict:
    """For the journey map's partial: whether the split is on, the link that turns it on or
    off, and when on the split picture of the rows ``start_channel_split`` began reading."""
    shown = pending is not None
    args = {k: v for k, v in request.args.items() if k != "channels"}
    toggle = url_for("dashboard.journey_map", **args, **({} if shown else {"channels": "1"}))
    found = {"shown": shown, "toggle": toggle, "picture": None}
    if pending is None:
        return found
    rows = pending.result()
    if not rows:
        return found
    boxes = []
    for stage, here in _by_stage(rows):
        top = here[:SPLIT_ROWS]
        split = [(channel_label(r.channel), r.share, channel_class(r.channel)) for r in top]
        rest = sum(r.share for r in here[SPLIT_ROWS:])
        if rest > 0:
            split.append((_("Other channels"), rest, "ch-none"))
        boxes.append((label(STAGE_LABELS, stage), split))
    found["picture"] = charts.stage_split(
        boxes, title=_("Which channels bring people into each stage")
    )
    found["rows"] = rows
    return found
