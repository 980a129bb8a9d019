"""Public bodies may come as ``text/plain`` (what ``navigator.sendBeacon`` sends cross-origin
without a preflight) and are then read as JSON; otherwise parsing is shared.web's strict one."""

from __future__ import annotations

from flask_smorest import Blueprint, abort
from webargs import core

from shared.web import StrictParser


class BeaconParser(StrictParser):
    def _raw_load_json(self, req):  # noqa: ANN001, ANN202
        if req.mimetype != "text/plain":
            return super()._raw_load_json(req)
        try:
            return core.parse_json(req.get_data(cache=True))
        except RecursionError:
            abort(400, message="The JSON body is nested too deeply.")


class PublicBlueprint(Blueprint):
    ARGUMENTS_PARSER = BeaconParser()
