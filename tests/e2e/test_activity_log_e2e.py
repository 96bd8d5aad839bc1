"""A bot's activity in its Dagster run's event log, through the real daemon, code server and
run worker: an entry per recorded fill and per status change, periodic summaries while it
runs, and far fewer entries than bars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.conftest import _platform
from tests.e2e.harness import Platform
from trading_platform.db.models import TradingTrade
from trading_platform.engine.activity import parse_activity

pytestmark = pytest.mark.e2e

START_TIMEOUT = 90
SUMMARY_SECONDS = 4
#: a bar every 0.25 s: a run of half a minute sees far more bars than it may log entries
CONFIG = {
    "params": {"fast": 3, "slow": 8},
    "data": {"pace_seconds": 0.25, "history_bars": 20, "seed": 3},
    "heartbeat_interval": 2,
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request, tmp_path_factory) -> Iterator[Platform]:
    from tests.e2e.conftest import POSTGRES_URL

    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip("TRADING_TEST_POSTGRES_URL is not set")
    yield from _platform(
        request, tmp_path_factory, TRADING_ACTIVITY_SUMMARY_SECONDS=str(SUMMARY_SECONDS)
    )


def _activity(platform: Platform, run_id: str) -> list[dict[str, str]]:
    """The activity entries of a run's event log, in order."""
    entries = (parse_activity(e.user_message or "") for e in platform.instance().all_logs(run_id))
    return [entry for entry in entries if entry]


def _run_trades(platform: Platform, bot_id: int, run_id: str) -> list[Any]:
    with platform.engine.connect() as connection:
        return list(
            connection.execute(
                select(TradingTrade.fill_id, TradingTrade.side)
                .where(TradingTrade.bot_id == bot_id, TradingTrade.run_id == run_id)
                .order_by(TradingTrade.id)
            )
        )


def test_a_bots_fills_status_changes_and_summaries_are_in_its_run_log(
    platform: Platform,
) -> None:
    bot_id = platform.insert_bot("e2e-activity", config=json.dumps(CONFIG))
    platform.wait_for(
        lambda: platform.bot(bot_id).status == "running", START_TIMEOUT, "bot running"
    )
    (run,) = platform.active_runs(bot_id)
    # while the run is going: fills and summaries arrive, not only when it ends
    platform.wait_for(
        lambda: (
            len(_run_trades(platform, bot_id, run.run_id)) >= 3
            and sum(e["activity"] == "summary" for e in _activity(platform, run.run_id)) >= 3
            and sum(e["activity"] == "fill" for e in _activity(platform, run.run_id)) >= 1
        ),
        120,
        "three trades, a fill entry and three summaries in the run's event log",
    )
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
    platform.wait_for(
        lambda: platform.instance().get_run_by_id(run.run_id).is_finished, 90, "run finished"
    )

    entries = _activity(platform, run.run_id)
    assert all(e["bot"] == str(bot_id) for e in entries)
    trades = _run_trades(platform, bot_id, run.run_id)
    fills = [e for e in entries if e["activity"] == "fill"]
    assert [(f["order"], f["side"]) for f in fills] == [(t.fill_id, t.side) for t in trades]
    statuses = [e["to"] for e in entries if e["activity"] == "status"]
    assert statuses == ["starting", "running", "stopping", "stopped"]
    summaries = [e for e in entries if e["activity"] == "summary"]
    assert summaries[-1]["final"] == "yes"
    assert sum(int(s["fills"]) for s in summaries) == len(trades)
    bars_seen = int(summaries[-1]["bars"])
    everything = platform.instance().all_logs(run.run_id)  # Dagster's own events too
    assert len(everything) < bars_seen, (len(everything), bars_seen)
