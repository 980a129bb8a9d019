"""Purchase readiness of the customers and carts a page shows, read through the feature loader
(``shared.readiness`` does the placing on the scale)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.journey_loader import MAX_IN_LIST, load_journey_frames
from shared.readiness import readiness


def readiness_of_customers(
    database_url: str, customer_ids: Sequence[str], as_of: datetime
) -> dict[str, int]:
    """Each known customer's readiness step (0–110) from their events before ``as_of``
    (their linked visitors' included); customers without events are absent."""
    ids = [c for c in dict.fromkeys(customer_ids) if c][:MAX_IN_LIST]
    if not ids:
        return {}
    frames = load_journey_frames(database_url, as_of, customer_ids=ids)
    events = frames.events[frames.events["customer_id"].notna()]
    return {str(k): int(v) for k, v in readiness(events, events["customer_id"]).items()}
