"""Dashboard benchmark: how long each page takes with 100,000 customers, beside the same page
with 1,000 customers (the reference). A page that reads whole tables grows with the data; a
page that pages and aggregates in the database grows little.

    .venv/bin/python bench/dashboard_pages.py [--customers 100000] [--events 10]
                                              [--repeat 5] [--workdir var/bench-dashboard]
                                              [--only "critical journeys" --only "journey map"]
                                              [--uncached]

The database is written once per size into the work folder by bulk inserts (customers,
journey events, survey answers with comments, two brand-switch scorings, open-cart scores),
then each page is requested ``--repeat`` times through the Flask test client by a signed-in
agent (no network: the figure is the server's work); ``--only`` keeps the pages whose name
contains one of the given texts; ``--uncached`` turns off the dashboard's minute-long caches, so
that every request does the whole work. Prints p50 and max per page and the
ratio to the reference. Target (issue 6): every page p50 under 1 s at 100,000 customers on
SQLite; the CSV export streams (its first bytes come before the whole list is read).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

END = datetime(2026, 10, 1, tzinfo=UTC)
SEGMENTS = ("bargain_hunter", "regular", "premium", "business")
CATEGORIES = ("fashion", "electronics", "home", "beauty", "sports")
STAGES = ("awareness", "interest", "desire", "purchase", "loyalty", "advocacy")
EVENT_TYPES = ("touchpoint", "product_view", "add_to_cart", "checkout_started", "purchase")
COMMENTS = (
    "Slow delivery.",
    "Great service!",
    "Too hard to find the checkout.",
    "Leveransen var sen.",
)
REASONS = [
    {"feature": "recency_days", "value": 120.0, "reference": 30.0, "contribution": 0.2},
    {"feature": "csat_last", "value": 2, "reference": 4, "contribution": 0.1},
]
AGENT, PASSWORD = "bench@shop.example", "bench password"


def build(database_url: str, customers: int, events_per_customer: int) -> None:
    """Write the synthetic rows in batches (ids are deterministic, the draws seeded)."""
    from sqlalchemy import insert, select

    from shared.db.migrate import upgrade
    from shared.db.session import session_scope
    from shared.db.tables import Customer, JourneyEvent, Response, RiskScore, Survey
    from shared.surveys import ensure_builtin_surveys

    upgrade(database_url)
    ensure_builtin_surveys(database_url)
    rng = random.Random(6)
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "post_purchase"))
    batch = 5000
    for start in range(0, customers, batch):
        ids = [f"b{n:07d}" for n in range(start, min(customers, start + batch))]
        customer_rows, events, answers, scores = [], [], [], []
        for cid in ids:
            segment, category = rng.choice(SEGMENTS), rng.choice(CATEGORIES)
            customer_rows.append({"id": cid, "segment": segment, "locale": "sv", "consent": True})
            for k in range(events_per_customer):
                kind = EVENT_TYPES[min(k * len(EVENT_TYPES) // events_per_customer, 4)]
                events.append(
                    {
                        "event_id": f"{cid}-{k}",
                        "customer_id": cid,
                        "type": kind,
                        "channel": "email",
                        "product_category": category,
                        "value": 300.0 if kind == "purchase" else None,
                        "occurred_at": END - timedelta(days=rng.randint(0, 360)),
                    }
                )
            if rng.random() < 0.4:
                csat = rng.randint(1, 5)
                answers.append(
                    {
                        "response_id": f"{cid}-r",
                        "survey_id": survey_id,
                        "survey_key": "post_purchase",
                        "customer_id": cid,
                        "stage": "purchase",
                        "answers": {"csat": csat},
                        "csat": csat,
                        "ces": rng.randint(1, 7),
                        "nps": rng.randint(0, 10),
                        "comment": rng.choice(COMMENTS),
                        "body_hash": "0" * 64,
                        "submitted_at": END - timedelta(days=rng.randint(0, 360)),
                    }
                )
            for days_ago in (14, 0):
                p = rng.random()
                scores.append(
                    {
                        "task": "brand_switch",
                        "customer_id": cid,
                        "stage": rng.choice(STAGES[3:]),
                        "segment": segment,
                        "product_category": category,
                        "value": rng.uniform(50, 3000),
                        "probability": p,
                        "band": "high" if p >= 0.6 else "medium" if p >= 0.3 else "low",
                        "reasons": REASONS if p >= 0.3 else [],
                        "model_name": "kundresa-brand-switch",
                        "model_version": "1",
                        "as_of": END - timedelta(days=days_ago),
                    }
                )
            if rng.random() < 0.1:
                p = rng.random()
                scores.append(
                    {
                        "task": "cart_abandonment",
                        "customer_id": cid,
                        "cart_id": f"{cid}-cart",
                        "stage": "desire",
                        "segment": segment,
                        "product_category": category,
                        "value": rng.uniform(20, 800),
                        "probability": p,
                        "band": "high" if p >= 0.6 else "medium" if p >= 0.3 else "low",
                        "reasons": [],
                        "model_name": "kundresa-cart-abandonment",
                        "model_version": "1",
                        "as_of": END,
                    }
                )
        with session_scope(database_url) as session:
            session.execute(insert(Customer), customer_rows)
            session.execute(insert(JourneyEvent), events)
            if answers:
                session.execute(insert(Response), answers)
            session.execute(insert(RiskScore), scores)


def database_for(workdir: Path, customers: int, events: int) -> str:
    folder = workdir / f"c{customers}-e{events}"
    url = f"sqlite:///{folder / 'kundresa.db'}"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kundresa.db").unlink(missing_ok=True)
        started = time.perf_counter()
        print(f"writing {customers:,} customers x {events} events ...", flush=True)
        build(url, customers, events)
        (folder / "done").write_text("ok")
        print(f"  written in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def turn_off_caches() -> None:
    """Every TimedCache of the dashboard keeps nothing: each request does the whole work."""
    from model_service.dashboard import attribution_page, filters, journeys, score_figures
    from shared.cache import TimedCache

    for module in (filters, journeys, score_figures, attribution_page):
        for value in vars(module).values():
            if isinstance(value, TimedCache):
                value.seconds = 0


def measure(
    database_url: str, workdir: Path, repeat: int, only: list[str] | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and CPU seconds per request of each page. The server runs in this process
    (SQLite included), so its CPU time hardly depends on what else the machine is doing."""
    from model_service.app import create_app
    from model_service.dashboard.users import create_user
    from shared.db.session import dispose_engines
    from tests.conftest import make_settings

    with contextlib.suppress(ValueError):  # made by an earlier run
        create_user(database_url, AGENT, "support", PASSWORD)
    mlflow_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    settings = make_settings(workdir / "run", database_url, mlflow_tracking_uri=mlflow_uri)
    app = create_app(settings, start_polling=False)
    client = app.test_client()
    page = client.get("/dashboard/sign-in").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post(
        "/dashboard/sign-in", data={"csrf_token": token, "email": AGENT, "password": PASSWORD}
    )
    deep = "/dashboard/"
    for _ in range(10):  # follow "next page" ten times: a deep cursor
        found = re.search(r'href="(/dashboard/\?cursor=[^"]+)"', client.get(deep).text)
        deep = found.group(1).replace("&amp;", "&") if found else deep
    paths = {
        "at-risk, first page": "/dashboard/",
        "at-risk, page 11": deep,
        "at-risk, stage + band filter": "/dashboard/?stage=loyalty&band=high&no_follow_up=1",
        "open carts": "/dashboard/carts",
        "customer page": "/dashboard/customers/b0000042",
        "journey map (90 days)": "/dashboard/journey-map",
        "journey map (segment, all time)": "/dashboard/journey-map?segment=premium&period=all",
        "critical journeys": "/dashboard/critical-journeys",
        "feedback": "/dashboard/feedback",
        "feedback, comment search": "/dashboard/feedback?q=delivery",
        "models": "/dashboard/models",
        "attribution (30 days)": "/dashboard/attribution",
        "attribution (90 days, recovered carts)": "/dashboard/attribution?period=90d&kind=recovered_cart",
        "journey map split by channel (90 days)": "/dashboard/journey-map?channels=1",
    }
    if only:
        paths = {name: path for name, path in paths.items() if any(o in name for o in only)}
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for name, path in paths.items():
        times[name], cpu[name] = [], []
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
            assert response.status_code == 200, (path, response.status_code)
    if only and not any(o in "CSV export" for o in only):
        dispose_engines()
        return times, cpu
    first, whole = "CSV export, first bytes", "CSV export, whole list"
    times[first], times[whole], cpu[first], cpu[whole] = [], [], [], []
    for _ in range(max(1, repeat // 2)):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get("/dashboard/export.csv", buffered=False)
        chunks = iter(response.response)
        next(chunks)
        times[first].append(time.perf_counter() - started)
        cpu[first].append(time.process_time() - started_cpu)
        rows = sum(
            chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
            for chunk in chunks
        )
        times[whole].append(time.perf_counter() - started)
        cpu[whole].append(time.process_time() - started_cpu)
        response.close()
    print(f"  (CSV export: {rows:,} more lines after the first chunk)")
    dispose_engines()
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=10, help="journey events per customer")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-dashboard")
    parser.add_argument(
        "--only", action="append", help="measure only the pages whose name contains this"
    )
    parser.add_argument("--uncached", action="store_true", help="turn the page caches off")
    args = parser.parse_args()
    if args.uncached:
        turn_off_caches()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results, cpu = {}, {}
    for size in (args.reference, args.customers):
        url = database_for(args.workdir, size, args.events)
        print(f"measuring with {size:,} customers ...", flush=True)
        results[size], cpu[size] = measure(url, args.workdir, args.repeat, args.only)
    small, big = results[args.reference], results[args.customers]
    print()
    print(
        f"{'page':34} {'p50 @' + format(args.reference, ','):>12} "
        f"{'p50 @' + format(args.customers, ','):>14} {'max':>8} {'ratio':>7} {'CPU p50':>10}"
    )
    for name in big:
        ref, fig = statistics.median(small[name]), statistics.median(big[name])
        print(
            f"{name:34} {ref * 1000:10.0f} ms {fig * 1000:12.0f} ms "
            f"{max(big[name]) * 1000:6.0f} ms {fig / ref:6.1f}x "
            f"{statistics.median(cpu[args.customers][name]) * 1000:7.0f} ms"
        )
    print(
        "\nTarget: every page p50 < 1000 ms at the larger size; CSV first bytes well before "
        "the whole list."
    )


if __name__ == "__main__":
    main()
