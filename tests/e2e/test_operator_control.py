"""Operator control through the real daemon, code server and run workers, from the CLI:
a paused bot's entries are refused while a force exit closes its position (the command row
ends ``done`` with the bot's result), and a reload starts a new run with the same config
without counting a restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tests.e2e.conftest import ONE_BACKEND, _platform
from tests.e2e.harness import Platform
from trading_platform.cli import cli
from trading_platform.db import commands
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=ONE_BACKEND)
def platform(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Platform]:
    """One backend (see ``ONE_BACKEND``): the actions' storage is unit-tested on both."""
    yield from _platform(request, tmp_path_factory)


START_TIMEOUT = 90

#: ``flip_flop`` buys when flat and (with this hold) never sells by itself
HOLDER = {
    "strategy": "flip_flop",
    "config": {
        "params": {"hold": 100_000},
        "risk": {"stake": 0.5},
        "broker": {"cash": 10_000_000},  # 0.5 BTC at any price the replay market shows
        "data": {"pace_seconds": 0.5, "history_bars": 20, "seed": 3},
        "heartbeat_interval": 2,
    },
}


def _cli(platform: Platform, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--database-url", platform.database_url, *args])
    return result.exit_code, result.output


def test_pause_forceexit_and_reload_from_the_cli(platform: Platform) -> None:
    bot_id = platform.insert_bot("e2e-operator", **HOLDER)
    platform.wait_for(lambda: platform.bot(bot_id).status == "running", START_TIMEOUT, "running")
    platform.wait_for(lambda: bot_trades(platform.engine, bot_id), 60, "the entry")
    (run,) = platform.active_runs(bot_id)

    code, output = _cli(platform, "bots", "pause", "e2e-operator")
    assert code == 0, output
    # the bot reads the pause in the same poll that finds the command: it is paused before
    # it closes the position, so flip_flop's next entry is refused
    code, output = _cli(platform, "bots", "forceexit", "e2e-operator", "--wait", "60")
    assert code == 0, output
    assert "done: closed 0.5 BTC/USDT at market" in output, output
    (command,) = commands.bot_commands(platform.engine, bot_id)
    assert (command.status, command.run_id) == ("done", run.run_id)
    assert command.requested_by is not None and command.requested_by.startswith("cli:")
    trades = bot_trades(platform.engine, bot_id)
    assert [(t.side, t.exit_logic) for t in trades] == [("buy", None), ("sell", "forceexit")]

    refused = platform.wait_for(
        lambda: [e for e in status_events(platform.engine, bot_id) if "entry refused" in e.reason],
        30,
        "the paused bot refusing flip_flop's entry",
    )
    assert refused[0].run_id == run.run_id
    assert len(bot_trades(platform.engine, bot_id)) == 2, "a paused bot entered"

    code, output = _cli(platform, "bots", "reload", str(bot_id))
    assert code == 0, output

    def new_run():  # type: ignore[no-untyped-def]
        runs = [r for r in platform.active_runs(bot_id) if r.run_id != run.run_id]
        return runs[0] if runs and platform.bot(bot_id).status == "running" else None

    new = platform.wait_for(new_run, START_TIMEOUT, "the reloaded run")
    old = platform.wait_for(
        lambda: (r := platform.instance().get_run_by_id(run.run_id)).is_finished and r,
        30,
        "the old run ended",
    )
    assert old.status.value == "CANCELED"
    snapshot = dict(new.run_config["ops"]["run_bot"]["config"]["snapshot"])
    before = dict(run.run_config["ops"]["run_bot"]["config"]["snapshot"])
    assert snapshot.pop("config_hash") != before.pop("config_hash")
    assert snapshot == before, "a reload must run the same config"
    assert int(new.tags["trading/incarnation"]) == int(run.tags["trading/incarnation"]) + 1
    row = platform.bot(bot_id)
    assert row.restart_count == 0 and row.reload_requests == 1 and row.paused
    actors = [e.actor for e in status_events(platform.engine, bot_id) if e.actor]
    assert len(actors) == 4 and all(a.startswith("cli:") for a in actors)  # type: ignore[union-attr]
