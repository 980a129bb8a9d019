"""What a survey use case raises when the caller can act on it: the shared domain errors
(``shared.errors``), which ``shared.web`` maps to HTTP in one place. Nothing here knows about
Flask; a view words a refusal for its caller with ``shared.web.refuses``."""

from __future__ import annotations

from shared import errors as domain_errors


class Invalid(domain_errors.Invalid):
    """Input that passed the schema but breaks a rule; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors=errors)


class Conflict(domain_errors.Conflict):
    """``detail`` names what is taken; the view words the refusal for its caller."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class NotFound(domain_errors.NotFound):
    """``detail`` names what is missing; the view words the refusal for its caller."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail
