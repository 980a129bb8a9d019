"""One settings object for every service and command, read from environment variables.

Every setting has a safe local default, so nothing needs to be set to run on one machine:
the database is a SQLite file and MLflow a local store, both under ``var/``.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field, fields
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Secrets that have been published (docker/.env.example, tutorials): a cookie signed with one
# can be forged by anyone who has read them. A key containing a "change me" is one too, however
# long (the example's own is 33 bytes).
PLACEHOLDER_SECRET_KEYS: tuple[str, ...] = (
    "change-me-to-a-long-random-string",
    "secret",
    "secret-key",
    "your-secret-key",
    "dev",
    "development",
    "test",
)
PLACEHOLDER_MARKERS: tuple[str, ...] = ("change-me", "changeme", "change_me")
MIN_SECRET_KEY_BYTES = 32


class InsecureSecretKey(ValueError):
    """SECRET_KEY is a published placeholder or too short to resist guessing."""


def _secret_key(var_dir: Path) -> str:
    """A secret from the environment, else one made once and kept in ``var/`` (never logged).

    Several processes may start together: the file is created exclusively and readable by its
    owner only from the first byte, and a process that lost the race reads the winner's key.
    """
    from_env = os.environ.get("SECRET_KEY", "").strip()
    if from_env:
        return from_env
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(key)
            return key
    return _read_secret_key(path)


def _read_secret_key(path: Path) -> str:
    # The winner of the race may not have written its key yet: an empty file is not a key.
    for _attempt in range(100):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise InsecureSecretKey(f"{path} is empty: remove it, or set SECRET_KEY")


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    redis_url: str | None
    secret_key: str = field(repr=False)
    demo_mode: bool = False
    # Public survey API limits.
    rate_limit_public: str = "120/minute"
    max_body_bytes: int = 1_000_000
    max_events_per_call: int = 500
    max_text_length: int = 2000
    # Behind this many reverse proxies, each adding X-Forwarded-For/-Proto/-Host, the client
    # address is the one the outermost proxy saw (rate limits per shopper, not per balancer).
    # 0 trusts no such header: set it to exactly the number of proxies, or clients can forge it.
    trusted_proxies: int = 0
    # Seconds a client is told to wait (Retry-After) while the database is unreachable.
    outage_retry_after_seconds: int = 5
    # Model service.
    model_poll_seconds: float = 10.0
    critical_flag_threshold: float = 0.0
    # Below this many answers an NPS, CSAT or CES is shown greyed as "few answers".
    min_answers: int = 30
    # Dashboard sign-in. From max_failed_logins failures (per client address and per e-mail)
    # each further failure blocks for a doubling delay of at most lockout_minutes: the rule is
    # in model_service/dashboard/users.py.
    session_cookie_secure: bool = False
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    # Webhooks may be sent to private, loopback and link-local addresses (on in the demo and
    # tests, whose receivers run on this machine); off, such URLs are refused (SSRF).
    webhooks_allow_private: bool = False

    def check_secret_key(self) -> None:
        """Refuse to serve outside demo mode with a SECRET_KEY others may know or guess: it
        signs the dashboard's session cookies, so whoever knows it can sign in as anyone."""
        if self.demo_mode:
            return
        key = self.secret_key.strip()
        lowered = key.lower()
        if lowered in PLACEHOLDER_SECRET_KEYS or any(m in lowered for m in PLACEHOLDER_MARKERS):
            raise InsecureSecretKey(
                "SECRET_KEY is a published placeholder; set a random one: "
                'python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            raise InsecureSecretKey(
                f"SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes; set a random one: "
                'python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read settings from the environment; keyword overrides win (used by tests)."""
        var_dir = Path(_env("KUNDRESA_VAR_DIR", str(Path.cwd() / "var"))).resolve()
        values: dict[str, object] = {
            "var_dir": var_dir,
            "database_url": _env("DATABASE_URL", f"sqlite:///{var_dir / 'kundresa.db'}"),
            "mlflow_tracking_uri": _env(
                "MLFLOW_TRACKING_URI", f"sqlite:///{var_dir / 'mlflow.db'}"
            ),
            "mlflow_artifact_root": _env(
                "MLFLOW_ARTIFACT_ROOT", (var_dir / "mlartifacts").as_uri()
            ),
            "redis_url": os.environ.get("REDIS_URL", "").strip() or None,
            "demo_mode": _env_bool("KUNDRESA_DEMO", False),
            "rate_limit_public": _env("KUNDRESA_RATE_LIMIT_PUBLIC", cls.rate_limit_public),
            "max_body_bytes": _env_int("KUNDRESA_MAX_BODY_BYTES", cls.max_body_bytes),
            "trusted_proxies": _env_int("KUNDRESA_TRUSTED_PROXIES", cls.trusted_proxies),
            "outage_retry_after_seconds": _env_int(
                "KUNDRESA_OUTAGE_RETRY_AFTER_SECONDS", cls.outage_retry_after_seconds
            ),
            "model_poll_seconds": _env_float("KUNDRESA_MODEL_POLL_SECONDS", cls.model_poll_seconds),
            "critical_flag_threshold": _env_float(
                "KUNDRESA_CRITICAL_FLAG_THRESHOLD", cls.critical_flag_threshold
            ),
            "min_answers": _env_int("KUNDRESA_MIN_ANSWERS", cls.min_answers),
            "session_cookie_secure": _env_bool("KUNDRESA_SECURE_COOKIES", False),
        }
        values.update(overrides)
        # The demo's receivers run on this machine: allowed there unless said otherwise.
        values.setdefault(
            "webhooks_allow_private",
            _env_bool("KUNDRESA_WEBHOOKS_ALLOW_PRIVATE", bool(values["demo_mode"])),
        )
        if "secret_key" not in values:
            values["secret_key"] = _secret_key(Path(values["var_dir"]))
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]
