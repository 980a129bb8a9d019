"""What a survey use case raises when the caller can act on it; nothing here knows
about Flask (the route modules turn these into HTTP answers)."""

from __future__ import annotations


class Invalid(Exception):
    """Input that passed the schema but breaks a rule; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid")
        self.errors = errors


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass
