"""The signature on every webhook POST, as receivers check it.

``Kundresa-Signature: v1=<hex>`` is HMAC-SHA256 with the endpoint's secret over
``f"{timestamp}.{body}"``, where the timestamp (Unix seconds) is sent as ``Kundresa-Timestamp``:
a receiver recomputes it over the raw body, compares in constant time, and refuses a
timestamp older than a few minutes (a replay).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP = "Kundresa-Timestamp"
SIGNATURE = "Kundresa-Signature"
EVENT = "Kundresa-Event"
DELIVERY = "Kundresa-Delivery"
VERSION = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def headers(secret: str, timestamp: int, body: bytes, event: str, delivery_id: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Kundresa-Webhooks/1",
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
        EVENT: event,
        DELIVERY: str(delivery_id),
    }


def verify(
    secret: str, timestamp: str, body: bytes, signature_header: str, now: int, tolerance: int = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent_at, body), signature_header)
