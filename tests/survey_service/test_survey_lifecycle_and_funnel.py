"""Over HTTP, on SQLite and PostgreSQL: a survey's lifecycle through the admin API (publish,
pause, archive: nothing is deleted), the "started" step of the survey funnel (once per offer),
and the sites' fatigue limits (admin API and ``kundresa sites set``)."""

from __future__ import annotations

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from kundresa.admin import sites as sites_command
from shared.db.session import session_scope
from shared.db.tables import Site, SurveyImpression


def _offers(database_url: str) -> list[tuple]:
    with session_scope(database_url) as session:
        return session.execute(
            select(
                SurveyImpression.visitor_id,
                SurveyImpression.stage,
                SurveyImpression.device,
                SurveyImpression.started_at,
            ).order_by(SurveyImpression.id)
        ).all()


def test_an_offer_keeps_stage_and_device_and_is_started_once(
    client: FlaskClient, browser: dict, database_url: str
) -> None:
    ask = "/v1/surveys/post_purchase/eligibility?visitor_id=v-1&event=purchase"
    offered = client.get(f"{ask}&stage=purchase&device=mobile", headers=browser)
    assert offered.json == {"eligible": True, "reason": "ok"}
    [(visitor, stage, device, started_at)] = _offers(database_url)
    assert (visitor, stage, device, started_at) == ("v-1", "purchase", "mobile", None)

    started = "/v1/surveys/post_purchase/started"
    assert client.post(started, json={"visitor_id": "v-1"}, headers=browser).status_code == 204
    first = _offers(database_url)[0].started_at
    assert first is not None
    # A retry, another visitor or another survey changes nothing.
    assert client.post(started, json={"visitor_id": "v-1"}, headers=browser).status_code == 204
    assert client.post(started, json={"visitor_id": "v-2"}, headers=browser).status_code == 204
    other = "/v1/surveys/cart_abandonment/started"
    assert client.post(other, json={"visitor_id": "v-1"}, headers=browser).status_code == 204
    assert [o.started_at for o in _offers(database_url)] == [first]

    bad = client.post(started, json={"visitor": "v-1"}, headers=browser)
    assert bad.status_code == 422 and "visitor_id" in bad.json["errors"]
    assert (
        client.post(
            "/v1/surveys/nope/started", json={"visitor_id": "v-1"}, headers=browser
        ).status_code
        == 404
    )
    wrong_device = client.get(f"{ask}&device=fridge", headers=browser)
    assert wrong_device.status_code == 422 and "device" in wrong_device.json["errors"]


def test_publish_pause_and_archive_through_the_admin_api(
    client: FlaskClient, admin: dict, support: dict, site: dict
) -> None:
    status = "/v1/admin/surveys/relationship_nps/status"
    assert client.post(status, json={"action": "archive"}, headers=support).status_code == 403
    archived = client.post(status, json={"action": "archive"}, headers=admin)
    assert archived.status_code == 200
    assert archived.json["status"] == "archived" and archived.json["active"] is False
    assert archived.json["archived_at"] is not None
    ask = "/v1/surveys/relationship_nps/eligibility?visitor_id=v-9"
    assert client.get(ask, headers=site).json["reason"] == "inactive"
    # Archived surveys are still listed by the API (and served to old links): nothing is lost.
    listed = client.get("/v1/admin/surveys", headers=admin).json["items"]
    assert {s["key"]: s["status"] for s in listed}["relationship_nps"] == "archived"
    assert client.post(status, json={"action": "publish"}, headers=admin).json["status"] == (
        "published"
    )
    paused = client.delete("/v1/admin/surveys/relationship_nps", headers=admin)
    assert paused.json["status"] == "paused"
    bad = client.post(status, json={"action": "delete"}, headers=admin)
    assert bad.status_code == 422 and "action" in bad.json["errors"]
    missing = client.post("/v1/admin/surveys/nope/status", json={"action": "pause"}, headers=admin)
    assert missing.status_code == 404


def test_site_fatigue_limits_through_the_admin_api(
    client: FlaskClient, admin: dict, support: dict, site: dict, database_url: str
) -> None:
    path = "/v1/admin/sites/Test shop"
    listed = client.get("/v1/admin/sites", headers=support)
    assert listed.status_code == 200
    [shop] = listed.json["items"]
    assert shop["global_cooldown_shown_days"] == 14 and "identity_secret" not in shop
    assert client.patch(path, json={"period_days": 30}, headers=support).status_code == 403
    changed = client.patch(
        path, json={"global_cooldown_shown_days": 0, "max_surveys_per_period": 5}, headers=admin
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["global_cooldown_shown_days"], changed.json["max_surveys_per_period"]) == (
        0,
        5,
    )
    for body, culprit in (
        ({"period_days": -1}, "period_days"),
        ({"max_surveys_per_period": "many"}, "max_surveys_per_period"),
        ({"colour": 1}, "colour"),
    ):
        refused = client.patch(path, json=body, headers=admin)
        assert refused.status_code == 422 and culprit in refused.json["errors"], body
    assert client.patch("/v1/admin/sites/Nope", json={}, headers=admin).status_code == 404
    # Fatigue follows at once: with the shown-cooldown off, a second survey is offered.
    ask = "/v1/surveys/{}/eligibility?visitor_id=v-5&event=purchase"
    assert client.get(ask.format("post_purchase"), headers=site).json["eligible"] is True
    answer = client.get(ask.format("relationship_nps") + "&event=page_view", headers=site).json
    assert answer["reason"] != "global_cooldown"


def test_kundresa_sites_set(database_url: str, site_key: str) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": database_url}
    done = runner.invoke(
        sites_command,
        ["set", "Test shop", "--cooldown-shown-days", "3", "--period-days", "10"],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert "--cooldown-shown-days 3" in done.output
    with session_scope(database_url) as session:
        site = session.scalars(select(Site).where(Site.name == "Test shop")).one()
        assert (site.global_cooldown_shown_days, site.period_days) == (3, 10)
    refused = runner.invoke(sites_command, ["set", "Test shop", "--max-surveys", "-2"], env=env)
    assert refused.exit_code != 0 and "max_surveys_per_period" in refused.output
    unknown = runner.invoke(sites_command, ["set", "Nope", "--period-days", "1"], env=env)
    assert unknown.exit_code != 0 and "No site" in unknown.output
    assert runner.invoke(sites_command, ["set", "Test shop"], env=env).exit_code == 2
