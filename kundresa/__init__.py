"""The composition root: the ``kundresa`` command and the demo that wire the services, training
and the shared domain together. Nothing below imports it; see docs/architecture.md."""
