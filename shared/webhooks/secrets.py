"""Endpoint secrets: made here, shown once, stored encrypted with a key derived from SECRET_KEY.

The sender must sign with the secret itself, so a hash would not do. The key is derived with
HKDF under a label of its own, so it is not the key that signs session cookies. A new
SECRET_KEY makes stored secrets unreadable: such an endpoint's deliveries fail with a
message saying to rotate its secret.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"
HINT_LENGTH = len(SECRET_PREFIX) + 4


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another SECRET_KEY."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hint(secret: str) -> str:
    """The first characters of a secret, to tell secrets apart without revealing them."""
    return secret[:HINT_LENGTH] + "…"


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"kundresa webhook secrets"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, secret: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt(secret_key: str, stored: str) -> str:
    try:
        return _fernet(secret_key).decrypt(stored.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the secret was stored under another SECRET_KEY") from exc
