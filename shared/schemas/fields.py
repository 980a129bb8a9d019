"""Fields that refuse what a database cannot store, so bad input is a 422 and never a 500.

PostgreSQL refuses NUL characters in text and no database driver can encode a lone UTF-16
surrogate (which JSON allows as ``"\\ud800"``), so every string a user sends passes here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

# Timestamps outside this window are typos or attacks; inside it every conversion is safe.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# The largest value of an INTEGER column (ids among them) on PostgreSQL; one more is a 500 there.
MAX_INT = 2**31 - 1


def is_storable_text(value: str) -> bool:
    """True when ``value`` has no NUL and encodes as UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# What the OpenAPI document can say of both: no NUL, and a year the window holds (the offset
# can still move a moment across an edge; the server has the last word).
NO_NUL = "^[^\\u0000]*$"
YEAR_IN_WINDOW = "^(19[7-9][0-9]|20[0-9][0-9])-"


class CleanString(fields.String):
    """A string that every backend can store."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A Regexp validator documents its own pattern (which lets no NUL through either).
        if not any(isinstance(rule, validate.Regexp) for rule in self.validators):
            self.metadata = {"pattern": NO_NUL, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_storable_text(text):
            raise ValidationError("Contains characters that cannot be stored.")
        return text


def Identifier(**kwargs: Any) -> CleanString:  # noqa: N802 - reads like a field class
    """A client-made id: 1–64 printable characters."""
    return CleanString(validate=validate.Length(min=1, max=64), **kwargs)


class UtcDateTime(fields.AwareDateTime):
    """ISO 8601; a naive value is UTC. Kept within 1970–2100."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": YEAR_IN_WINDOW, **kwargs.get("metadata", {})}
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= moment < LATEST:
            raise ValidationError("Must be between 1970 and 2100.")
        return moment.astimezone(UTC)


class JsonObject(fields.Dict):
    """A small JSON object of free properties, at most ``max_bytes`` when serialised."""

    def __init__(self, max_bytes: int = 4096, **kwargs: Any) -> None:
        super().__init__(keys=CleanString(validate=validate.Length(min=1, max=64)), **kwargs)
        self.max_bytes = max_bytes

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        result = super()._deserialize(value, attr, data, **kwargs)
        try:
            encoded = json.dumps(result, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValidationError("Must be plain JSON without NaN or broken text.") from exc
        if b"\x00" in encoded or b"\\u0000" in encoded:
            raise ValidationError("Contains characters that cannot be stored.")
        if len(encoded) > self.max_bytes:
            raise ValidationError(f"Must be at most {self.max_bytes} bytes as JSON.")
        return result
