"""A killed daemon, started again, never leaves a bot with two active runs."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Platform

pytestmark = pytest.mark.e2e


def test_daemon_killed_and_restarted_keeps_one_run_per_bot(platform: Platform) -> None:
    bot_ids = [platform.insert_bot(f"e2e-restart-{i}") for i in range(2)]
    platform.wait_for(
        lambda: all(platform.bot(b).status == "running" for b in bot_ids), 120, "bots running"
    )
    before = {b: platform.active_runs(b)[0].run_id for b in bot_ids}
    platform.kill_daemon()
    # a config change while the daemon is down: the restarted sensor must reload, not double
    platform.sql("UPDATE trading_bots SET timeframe = '5m' WHERE id = :id", id=bot_ids[0])
    platform.start()
    platform.wait_for_sensor_ticks(3, timeout=120)

    def settled() -> bool:
        runs = {b: platform.active_runs(b) for b in bot_ids}
        return all(len(r) == 1 for r in runs.values()) and all(
            platform.bot(b).status == "running" for b in bot_ids
        )

    platform.wait_for(settled, 120, "each bot with exactly one active run")
    for _ in range(3):  # and it stays that way over further ticks
        platform.wait_for_sensor_ticks(1, timeout=60)
        assert all(len(platform.active_runs(b)) <= 1 for b in bot_ids)
    assert platform.active_runs(bot_ids[1])[0].run_id == before[bot_ids[1]]
    reloaded = platform.active_runs(bot_ids[0])[0]
    assert reloaded.run_id != before[bot_ids[0]]
    assert reloaded.run_config["ops"]["run_bot"]["config"]["snapshot"]["timeframe"] == "5m"
