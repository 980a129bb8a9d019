"""Webhooks: endpoints that admins register, and the delivery of outbox events to them.

``secrets`` keeps each endpoint's signing secret encrypted; ``addresses`` refuses URLs that
point into the server's own network; ``signing`` makes (and checks) the signature headers;
``endpoints`` and ``deliveries`` are the use cases behind the admin API and the dashboard;
``sender`` makes one POST; ``delivery.deliver_due`` fans events out and sends what is due.
"""


def __getattr__(name: str):  # noqa: ANN202
    # ``shared.webhooks.deliver_due`` is what the worker looks up (kundresa/scheduled.py);
    # imported on first use, so importing a sibling module stays light.
    if name == "deliver_due":
        from shared.webhooks.delivery import deliver_due

        return deliver_due
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
