"""Marshmallow schemas: the one description of every request and response body.

They validate input (unknown fields refused) and generate the OpenAPI document, so the docs
cannot drift from the code. Grouped by what they describe: surveys, responses, events,
identify, metrics and privacy.
"""
