"""``deliver_due``: fan new outbox events out to endpoints, then send what is due.

The worker (``kundresa worker``) calls it every few seconds; ``kundresa webhooks deliver``
runs it by hand. Endpoints are sent to in parallel, one thread each, so a receiver that
answers slowly holds up only its own deliveries; each request has a timeout. An endpoint's
deliveries go one after another, and after an attempt that got no answer at all the rest of
its batch is not tried (each counts as a failed attempt and waits its backoff), so a receiver
that is down costs one timeout per call, not one per delivery. A call claims at most
``deliveries.PER_ENDPOINT`` deliveries per endpoint and starts no attempt after ``budget``
seconds (what is left is given back, due at once), so a slow receiver delays the next call,
and with it the other endpoints' next events, by at most about ``budget + timeout``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from shared.settings import Settings
from shared.webhooks import deliveries, sender, signing
from shared.webhooks.addresses import AddressRefused, resolve
from shared.webhooks.secrets import SecretUnreadable, decrypt

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_BATCH = 100
MAX_PARALLEL_ENDPOINTS = 8
CALL_BUDGET_SECONDS = 30.0


def deliver_due(
    settings: Settings,
    *,
    now: datetime | None = None,
    max_batch: int = MAX_BATCH,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    budget: float = CALL_BUDGET_SECONDS,
) -> dict[str, int]:
    """Fan out and send; returns counts: events dispatched, deliveries made, attempts, and
    how the attempts ended (delivered, retrying, failed)."""
    now = now or datetime.now(UTC)
    dispatched, made = deliveries.fan_out(settings.database_url, now, max_batch)
    # Long enough for a whole batch of timeouts: the claim must outlive the attempts.
    lease = timedelta(seconds=budget + 2 * timeout + 60)
    claimed = deliveries.claim_due(settings.database_url, now, max_batch, lease)
    by_endpoint: dict[int, list[deliveries.Claimed]] = defaultdict(list)
    for item in claimed:
        by_endpoint[item.endpoint_id].append(item)
    outcomes: Counter[str] = Counter()
    if by_endpoint:
        workers = min(MAX_PARALLEL_ENDPOINTS, len(by_endpoint))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
            for result in pool.map(
                lambda items: _send_to_endpoint(settings, items, now, timeout, budget),
                by_endpoint.values(),
            ):
                outcomes.update(result)
    summary = {
        "events_dispatched": dispatched,
        "deliveries_made": made,
        "attempts": len(claimed),
        "delivered": outcomes["delivered"],
        "retrying": outcomes["pending"],
        "failed": outcomes["failed"],
        "released": outcomes["released"],
    }
    if dispatched or claimed:
        log.info("webhooks delivered", extra=summary)
    return summary


def _send_to_endpoint(
    settings: Settings,
    items: list[deliveries.Claimed],
    now: datetime,
    timeout: float,
    budget: float,
) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    unreachable: str | None = None
    started = time.monotonic()
    for position, item in enumerate(items):
        if position and time.monotonic() - started > budget:  # the first always goes
            deliveries.release(settings.database_url, items[position:], now)
            outcomes["released"] += len(items) - position
            break
        if unreachable is not None:
            answer = sender.Answer(None, None, f"not tried: {unreachable}")
        else:
            answer = _attempt(settings, item, timeout)
            if answer.status is None:
                unreachable = answer.error
        status = deliveries.record_result(
            settings.database_url,
            item,
            now,
            status_code=answer.status,
            ok=answer.ok,
            error=answer.error,
            excerpt=answer.excerpt,
        )
        outcomes[status] += 1
    return outcomes


def _attempt(settings: Settings, item: deliveries.Claimed, timeout: float) -> sender.Answer:
    # Resolved again at each attempt: the name may point elsewhere since it was registered.
    try:
        target = resolve(item.url, settings.webhooks_allow_private)
    except AddressRefused as refusal:
        return sender.Answer(None, None, f"refused: {refusal}")
    try:
        secret = decrypt(settings.secret_key, item.secret_encrypted)
    except SecretUnreadable:
        return sender.Answer(
            None, None, "the secret cannot be read (SECRET_KEY changed): rotate it"
        )
    # The real time, whatever ``now`` the schedule runs at: receivers check it for replays.
    timestamp = int(time.time())
    headers = signing.headers(secret, timestamp, item.body, item.event, item.id)
    return sender.post(target, item.body, headers, timeout)
