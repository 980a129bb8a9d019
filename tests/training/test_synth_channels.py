"""The channel the generator makes strongest at a stage ranks first there (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.channel_stages import channel_shares, channels_by_stage, ranked_channels
from shared.journey_loader import load_journey_frames
from tests.conftest import make_sqlite_url
from training.synth import PLANTED_STAGE_CHANNEL, generate

END = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_planted_channel_brings_most_people_into_its_stage(tmp_path) -> None:
    url = make_sqlite_url(tmp_path)
    generate(url, customers=250, days=120, seed=8, end=END, progress=False)
    frames = load_journey_frames(url, END, since=END - timedelta(days=90))
    rows = channels_by_stage(frames.events, frames.responses)
    stage, channel = PLANTED_STAGE_CHANNEL["stage"], PLANTED_STAGE_CHANNEL["channel"]
    assert ranked_channels(rows, stage)[0] == channel
    here = {r.channel: r for r in rows if r.stage == stage}
    runner_up = max(r.entered for c, r in here.items() if c != channel)
    assert here[channel].entered > 1.5 * runner_up
    # The journey map's split shows the same people and shares, without the outcomes.
    shares = channel_shares(frames.events)
    assert [(r.stage, r.channel, r.entered, r.share) for r in shares] == [
        (r.stage, r.channel, r.entered, r.share) for r in rows
    ]
