"""Dashboard users: creation with a hashed password, sign-in with a lock-out, and sessions that
end.

Only a salted hash of a password is stored (werkzeug's scrypt).

Sessions: each user has a ``session_version``, written into the session cookie at sign-in and
compared with the database on every request. Signing out and setting a new password raise it,
so every cookie issued before (a stolen one, or one replayed after sign-out) stops working.

The sign-in lock-out (the rule ``authenticate`` applies):

* Every attempt that is not a success counts as a failure under two keys: the client address,
  and the e-mail asked for, known or not. The counts live in ``sign_in_failures`` and change
  only by one atomic upsert, so parallel attempts cannot all read the same old count; a count
  is forgotten a day after its last failure.
* From ``max_failed`` failures under a key, the key is blocked after each further failure for
  a delay that doubles (``sign_in_limits.FIRST_DELAY_SECONDS``, then twice that, ...) up to
  ``lockout_minutes``. An attempt under a blocked key is refused before the password is
  hashed (no CPU spent) and is not counted, so a block always ends.
* Address blocked: refused. This is the limit on one client, whatever e-mails it tries.
* Account blocked: refused (and counted against the address), unless the attempt comes from
  an address with no failure on record, whose password is then checked (a right one signs
  in). So a stranger elsewhere can
  only delay the real user, never lock them out; a guesser with many addresses gets one
  guess per fresh address while the account is blocked, then the address counts as failed.
* Unknown and deactivated e-mails take exactly the same path, are counted the same and cost
  the same (the password is checked against a dummy hash), so no answer tells which
  e-mails have accounts.
* A success clears the account's count and takes back the one it added to the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from model_service.dashboard.sign_in_limits import (
    Limits,
    count_attempt,
    failure_key,
    forget,
    take_back,
)
from shared.db.session import session_scope
from shared.db.tables import User

USER_ROLES: tuple[str, ...] = ("admin", "support")
MIN_PASSWORD_LENGTH = 8
# werkzeug's default (scrypt). The method is stored in each hash, so a checked password never
# depends on this; tests lower it to keep hundreds of sign-ins quick.
PASSWORD_METHOD = "scrypt"
# Checked against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("kundresa-no-such-user")


@dataclass(frozen=True)
class SignedInUser:
    """What the session needs to know about a user (never the password hash)."""

    id: int
    email: str
    role: str
    locale: str | None
    session_version: int


@dataclass(frozen=True)
class SignInResult:
    """``outcome`` is ``ok``, ``invalid`` or ``locked``; ``user`` is set only when ``ok``,
    ``locked_until`` (when the next attempt is checked) only when ``locked``."""

    outcome: str
    user: SignedInUser | None = None
    locked_until: datetime | None = None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method=PASSWORD_METHOD)


def create_user(
    database_url: str, email: str, role: str, password: str, locale: str | None = None
) -> int:
    """Store a new dashboard user with a hashed password and return its id.

    Raises ValueError for an unknown role, a short password, a malformed or taken e-mail.
    """
    email = normalise_email(email)
    if role not in USER_ROLES:
        raise ValueError(f"role must be one of {', '.join(USER_ROLES)}")
    if "@" not in email or len(email) > 254:
        raise ValueError("email must be an e-mail address")
    password_hash = _hash(password)
    with session_scope(database_url) as session:
        taken = session.scalar(select(func.count()).select_from(User).where(User.email == email))
        if taken:
            raise ValueError(f"a user with e-mail {email} already exists")
        user = User(email=email, role=role, password_hash=password_hash, locale=locale)
        session.add(user)
        session.flush()
        return user.id


def set_password(database_url: str, email: str, password: str) -> None:
    """Give a user a new password and end every session they have (a leaked password or
    cookie is the usual reason to change it). Raises ValueError for an unknown user or a
    short password."""
    password_hash = _hash(password)
    email = normalise_email(email)
    with session_scope(database_url) as session:
        changed = session.execute(
            update(User)
            .where(User.email == email)
            .values(password_hash=password_hash, session_version=User.session_version + 1)
        ).rowcount
        if not changed:
            raise ValueError(f"no user with e-mail {email}")
        forget(session, failure_key("account", email))


def end_sessions(database_url: str, user_id: int) -> None:
    """Sign a user out everywhere: every cookie issued so far stops working."""
    with session_scope(database_url) as session:
        session.execute(
            update(User).where(User.id == user_id).values(session_version=User.session_version + 1)
        )


def load_user(database_url: str, user_id: int, session_version: int) -> SignedInUser | None:
    """The active user with this id whose sessions of ``session_version`` are still valid, or
    None (a deactivated user, or a cookie from before a sign-out, is signed out)."""
    with session_scope(database_url) as session:
        user = session.get(User, user_id)
        if user is None or not user.active or user.session_version != session_version:
            return None
        return _signed_in(user)


def set_user_locale(database_url: str, user_id: int, locale: str) -> None:
    """Remember the interface language a user chose."""
    with session_scope(database_url) as session:
        user = session.get(User, user_id)
        if user is not None:
            user.locale = locale


def authenticate(
    database_url: str,
    email: str,
    password: str,
    *,
    address: str,
    max_failed: int,
    lockout_minutes: int,
    now: datetime | None = None,
) -> SignInResult:
    """Check a sign-in attempt from client ``address`` under the lock-out rule of this module."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    limits = Limits(now, max_failed, timedelta(minutes=lockout_minutes))
    address_key = failure_key("address", address)
    with session_scope(database_url) as session:
        by_address = count_attempt(session, address_key, limits)
        if by_address.refused:
            return SignInResult("locked", locked_until=by_address.blocked_until)
        by_account = count_attempt(session, failure_key("account", email), limits)
        if by_account.refused and by_address.failures > 1:
            return SignInResult("locked", locked_until=by_account.blocked_until)
        # Committed before the slow hash: parallel attempts see these counts at once.
        session.commit()
        user = session.scalar(select(User).where(User.email == email))
        if user is None or not user.active:
            check_password_hash(_DUMMY_HASH, password)
            user = None
        elif not check_password_hash(user.password_hash, password):
            user = None
        if user is None:
            blocks = [c.blocked_until for c in (by_address, by_account) if c.blocked_until]
            if blocks:
                return SignInResult("locked", locked_until=max(blocks))
            return SignInResult("invalid")
        forget(session, failure_key("account", email))
        take_back(session, address_key, by_address)
        return SignInResult("ok", user=_signed_in(user))


def _signed_in(user: User) -> SignedInUser:
    return SignedInUser(
        id=user.id,
        email=user.email,
        role=user.role,
        locale=user.locale,
        session_version=user.session_version,
    )
