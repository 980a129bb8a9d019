"""``kundresa webhooks deliver [--loop]``: send the outbox's webhooks without the worker.

``kundresa worker`` calls the same ``deliver_due`` every few seconds; this runs it alone, once
or in a loop, to try an endpoint out or to deliver where no worker runs.
"""

from __future__ import annotations

import time

import click

from shared.settings import Settings


@click.group()
def webhooks() -> None:
    """Webhooks: deliver outbox events to the registered endpoints."""


@webhooks.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until Ctrl-C.")
@click.option(
    "--every",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.5),
    help="Seconds between rounds with --loop.",
)
def deliver(loop: bool, every: float) -> None:
    """Fan new outbox events out into deliveries and send every delivery that is due."""
    from shared.webhooks.delivery import deliver_due

    settings = Settings.from_env()
    while True:
        summary = deliver_due(settings)
        if not loop or summary["attempts"] or summary["events_dispatched"]:
            click.echo(
                "events {events_dispatched}, deliveries made {deliveries_made}, attempts "
                "{attempts}: delivered {delivered}, retrying {retrying}, failed {failed}".format(
                    **summary
                )
            )
        if not loop:
            return
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            return
