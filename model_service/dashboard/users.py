"""Dashboard users: creation with a hashed password, and sign-in with a lock-out.

Only a salted hash of a password is stored (werkzeug's scrypt). After ``max_failed`` wrong
passwords in a row the account is locked for ``lockout_minutes``; while locked even the right
password is refused, so guessing cannot continue by waiting for the right answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

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


@dataclass(frozen=True)
class SignInResult:
    """``outcome`` is ``ok``, ``invalid`` or ``locked``; ``user`` is set only when ``ok``."""

    outcome: str
    user: SignedInUser | None = None
    locked_until: datetime | None = None


def normalise_email(email: str) -> str:
    return email.strip().lower()


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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    with session_scope(database_url) as session:
        taken = session.scalar(select(func.count()).select_from(User).where(User.email == email))
        if taken:
            raise ValueError(f"a user with e-mail {email} already exists")
        user = User(
            email=email,
            role=role,
            password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
            locale=locale,
        )
        session.add(user)
        session.flush()
        return user.id


def load_user(database_url: str, user_id: int) -> SignedInUser | None:
    """The active user with this id, or None (a deactivated user is signed out)."""
    with session_scope(database_url) as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
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
    max_failed: int,
    lockout_minutes: int,
    now: datetime | None = None,
) -> SignInResult:
    """Check a sign-in attempt, counting failures and locking the account after too many."""
    now = now or datetime.now(UTC)
    with session_scope(database_url) as session:
        user = session.scalar(select(User).where(User.email == normalise_email(email)))
        if user is None or not user.active:
            check_password_hash(_DUMMY_HASH, password)
            return SignInResult("invalid")
        if user.locked_until is not None and user.locked_until > now:
            return SignInResult("locked", locked_until=user.locked_until)
        if not check_password_hash(user.password_hash, password):
            user.failed_logins = (user.failed_logins or 0) + 1
            if user.failed_logins >= max_failed:
                user.failed_logins = 0
                user.locked_until = now + timedelta(minutes=lockout_minutes)
                return SignInResult("locked", locked_until=user.locked_until)
            return SignInResult("invalid")
        user.failed_logins = 0
        user.locked_until = None
        return SignInResult("ok", user=_signed_in(user))


def _signed_in(user: User) -> SignedInUser:
    return SignedInUser(id=user.id, email=user.email, role=user.role, locale=user.locale)
