"""Webhooks: endpoints that admins register, and the delivery of outbox events to them.

``secrets`` keeps each endpoint's signing secret encrypted; ``addresses`` refuses URLs that
point into the server's own network; ``signing`` makes (and checks) the signature headers;
``endpoints`` and ``deliveries`` are the use cases behind the admin API and the dashboard;
``sender`` makes one POST; ``delivery.deliver_due`` fans events out and sends what is due.
"""
