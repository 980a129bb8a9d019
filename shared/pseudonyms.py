"""Keyed pseudonyms: an id replaced by an HMAC-SHA256 under the app's secret key.

Without the key a pseudonym cannot be turned back into the id, nor guessed by hashing
candidate e-mail addresses (a plain SHA-256 of an e-mail can); with the key, the same id always
gives the same pseudonym, so a record can still be found by the id it was made from.
"""

from __future__ import annotations

import hashlib
import hmac


def keyed_digest(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``secret_key``, as 64 hex digits."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()
