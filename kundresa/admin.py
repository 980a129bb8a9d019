"""``kundresa db``, ``tokens``, ``sites`` and ``users``: the operator's commands."""

from __future__ import annotations

import click

from shared.settings import Settings


@click.group()
def db() -> None:
    """Create and upgrade the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema (DATABASE_URL, default a SQLite file under var/)."""
    from shared.db.migrate import upgrade
    from shared.surveys import ensure_builtin_surveys

    settings = Settings.from_env()
    click.echo(f"Upgrading the database schema to {revision} ...")
    upgrade(settings.database_url, revision)
    added = ensure_builtin_surveys(settings.database_url)
    click.echo(f"Schema is at {revision}; built-in surveys added: {added}.")


@click.group()
def tokens() -> None:
    """API tokens for the admin, support and ingest APIs (stored hashed, shown once)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["admin", "support", "ingest"]), required=True)
@click.option("--name", required=True, help="Who or what uses the token, e.g. 'crm-sync'.")
def tokens_create(role: str, name: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    from shared.auth import create_token

    token = create_token(Settings.from_env().database_url, name=name, role=role)
    click.echo(token)
    click.echo(
        f"Token for {name!r} with role {role}; store it now, it cannot be shown again.", err=True
    )


@tokens.command("revoke")
@click.argument("name_or_prefix")
def tokens_revoke(name_or_prefix: str) -> None:
    """Revoke tokens by name or by their first seven characters."""
    from shared.auth import revoke_token

    count = revoke_token(Settings.from_env().database_url, name_or_prefix)
    click.echo(f"Revoked {count} token(s).")


@click.group()
def sites() -> None:
    """Web shops that embed the survey widget."""


@sites.command("create")
@click.option("--name", required=True)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="An allowed origin such as https://shop.example (repeat for several).",
)
def sites_create(name: str, origins: tuple[str, ...]) -> None:
    """Register a site: print its publishable site key (for data-site-key), then its identity
    secret (for the shop's server only; it is not shown again)."""
    from shared.auth import create_site
    from shared.identity_signature import identity_secret

    database_url = Settings.from_env().database_url
    key = create_site(database_url, name, list(origins))
    click.echo(key)
    click.echo(identity_secret(database_url, key))
    click.echo(
        "The first line is the site key (public, for the widget). The second is the identity "
        "secret: keep it on the shop's server to sign customer ids; it cannot be shown again "
        "(kundresa sites rotate-secret makes a new one). Customer ids from browsers must be "
        "signed.",
        err=True,
    )


@sites.command("rotate-secret")
@click.argument("name")
@click.option(
    "--require/--no-require",
    default=None,
    help="Refuse (or accept) unsigned customer ids from browsers; default: leave as it is.",
)
def sites_rotate_secret(name: str, require: bool | None) -> None:
    """Give the site NAME a new identity secret and print it once; the old one stops working."""
    from shared.identity_signature import rotate_identity_secret

    secret = rotate_identity_secret(Settings.from_env().database_url, name, require)
    if secret is None:
        raise click.ClickException(f"No site is named {name!r}.")
    click.echo(secret)
    click.echo(
        f"New identity secret for {name!r}; store it on the shop's server now, it cannot be "
        "shown again. Signatures made with the old secret are refused from now on.",
        err=True,
    )


@sites.command("set-currency")
@click.argument("name")
@click.argument("currency")
def sites_set_currency(name: str, currency: str) -> None:
    """Show the money of the site NAME in CURRENCY (ISO 4217: SEK, DKK, NOK, EUR, ...)."""
    from shared.currency import set_site_currency, valid_currency

    code = valid_currency(currency)
    if code is None:
        raise click.BadParameter(f"{currency!r} is not an ISO 4217 currency code.")
    if not set_site_currency(Settings.from_env().database_url, name, code):
        raise click.ClickException(f"No site is named {name!r}.")
    click.echo(f"{name}: prices in {code}.")


@sites.command("set")
@click.argument("name")
@click.option("--cooldown-shown-days", type=int, help="Days after any survey was shown.")
@click.option("--cooldown-answered-days", type=int, help="Days after any survey was answered.")
@click.option("--max-surveys", type=int, help="At most this many surveys per person per period.")
@click.option("--period-days", type=int, help="The period of --max-surveys, in days.")
def sites_set(name: str, **options: int | None) -> None:
    """Change the survey fatigue limits of the site NAME (0 turns a limit off) and print them."""
    from shared.errors import KundresaError
    from shared.site_settings import update_fatigue
    from shared.web import flatten_errors

    names = {
        "cooldown_shown_days": "global_cooldown_shown_days",
        "cooldown_answered_days": "global_cooldown_answered_days",
        "max_surveys": "max_surveys_per_period",
        "period_days": "period_days",
    }
    changes = {names[k]: v for k, v in options.items() if v is not None}
    if not changes:
        raise click.UsageError("Give at least one limit to change.")
    try:
        record = update_fatigue(Settings.from_env().database_url, name, changes)
    except KundresaError as refusal:
        flat = flatten_errors(refusal.errors)
        raise click.ClickException(
            "; ".join(f"{field}: {' '.join(m)}" for field, m in flat.items())
        ) from refusal
    for option, column in names.items():
        click.echo(f"--{option.replace('_', '-')} {record[column]}")


@sites.command("set-external-url")
@click.argument("name")
@click.argument("template")
def sites_set_external_url(name: str, template: str) -> None:
    """Link customers of site NAME to the shop's own admin, e.g.
    https://shop.example/admin/customers/{id} (http(s), with {id} for the customer id)."""
    from sqlalchemy import select

    from shared.customer_links import check_external_url
    from shared.db.session import session_scope
    from shared.db.tables import Site
    from shared.errors import Invalid

    try:
        template = check_external_url(template)
    except Invalid as error:
        raise click.ClickException(str(error)) from None
    with session_scope(Settings.from_env().database_url) as session:
        site = session.scalar(select(Site).where(Site.name == name))
        if site is None:
            raise click.ClickException(f"No site is named {name!r}.")
        site.external_url = template
    click.echo(f"Customers of {name!r} now link to {template}.")


@click.group()
def users() -> None:
    """Dashboard users (support and admin)."""


@users.command("create")
@click.option("--email", required=True)
@click.option(
    "--role", type=click.Choice(["admin", "support"]), default="support", show_default=True
)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_create(email: str, role: str, password: str) -> None:
    """Create a dashboard user with a hashed password."""
    from model_service.dashboard.users import create_user

    try:
        create_user(Settings.from_env().database_url, email=email, role=role, password=password)
    except ValueError as exc:  # a taken e-mail or a short password: say so, no traceback
        raise click.ClickException(str(exc)) from None
    click.echo(f"User {email} ({role}) created.")


@users.command("set-password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_set_password(email: str, password: str) -> None:
    """Give a user a new password; every session they have ends."""
    from model_service.dashboard.users import set_password

    try:
        set_password(Settings.from_env().database_url, email, password)
    except ValueError as exc:  # an unknown user or a short password: say so, no traceback
        raise click.ClickException(str(exc)) from None
    click.echo(f"Password of {email} changed; every session of that user has ended.")
