"""What a use case of either service refuses to do, without knowing about HTTP.

``shared.web`` turns each class into its status code in one place, with the one error body:
``message`` is for people, ``errors`` names the culprit fields. A use case that cannot word
its refusal for the caller (it knows the key that is taken, not what the caller was doing)
leaves ``message`` out, and the view words it with ``shared.web.refuses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class KundresaError(Exception):
    """A refused request: ``Invalid("Status must be one of …", field="status")``."""

    # The culprit when the raiser names none, e.g. the cursor of a list.
    field: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        errors: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message or type(self).__name__)
        self.message = message
        field = field or self.field
        if errors is None and field is not None and message is not None:
            errors = {field: [message]}
        # Nested like marshmallow's (``{"texts": {"en": [...]}}``) or flat; sent dotted.
        self.errors: dict[str, Any] = dict(errors or {})


class Invalid(KundresaError):
    """Input that passed its schema but breaks a rule of the domain."""


class NotFound(KundresaError):
    """What the request names does not exist (or is not the caller's to know about)."""


class Conflict(KundresaError):
    """The request contradicts what is stored already (a key in use, a case already taken)."""
