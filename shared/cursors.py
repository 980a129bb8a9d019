"""Page cursors: the one codec of every paged list (keyset paging, a page after the last row).

A cursor is the last row's sort key, signed with the app's ``SECRET_KEY`` (itsdangerous) and a
salt per list, so a cursor of one list does not open another and a hand-made or edited cursor
is refused (``BadCursor``: a 422 naming ``cursor`` in the API) before it reaches a query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

from shared.errors import Invalid

T = TypeVar("T")


class BadCursor(Invalid):
    """A cursor that this list did not hand out (a 422 naming ``cursor``)."""

    field = "cursor"

    def __init__(self) -> None:
        super().__init__("This cursor was not made by this list; start again without it.")


@dataclass(frozen=True)
class CursorCodec:
    """Signs and reads the cursors of one list; ``salt`` names the list."""

    salt: str

    def encode(self, *values: Any) -> str:
        """An opaque cursor holding ``values`` (JSON-able: numbers and strings)."""
        return self._serializer().dumps(list(values))

    def decode(self, cursor: str, parse: Callable[[Sequence[Any]], T]) -> T:
        """``parse`` applied to the values of a cursor made by ``encode``; BadCursor for any
        cursor this codec did not sign, or whose values ``parse`` refuses (ValueError,
        TypeError)."""
        try:
            values = self._serializer().loads(cursor)
            if not isinstance(values, list):
                raise TypeError("a cursor holds a list")
            return parse(values)
        except (BadData, ValueError, TypeError):
            raise BadCursor() from None

    def _serializer(self) -> URLSafeSerializer:
        secret = current_app.secret_key
        if not secret:
            raise RuntimeError("Cursors are signed with the app's SECRET_KEY; set it first.")
        return URLSafeSerializer(secret, salt=self.salt)
