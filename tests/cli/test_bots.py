"""``trading-platform bots``: the row lifecycle, desired columns only, and a one-line error
for every bad input."""

from __future__ import annotations

import json

import pytest

from tests.cli.checks import expect_error
from trading_platform.cli.bots import bots_add, bots_set
from trading_platform.contract import Mode
from trading_platform.db.bots import get_bot, get_bots
from trading_platform.db.drift import drift_of, record_drift
from trading_platform.db.status import status_events, update_bot_status


def test_bots_lifecycle_through_the_cli(invoke, database_url) -> None:
    result = invoke(
        "bots",
        "add",
        "alpha",
        "--strategy",
        "sma_cross",
        "--params",
        '{"fast": 5, "slow": 20}',
        "--user",
        "alice",
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(invoke("bots", "list", "--json").output)
    assert [(b["name"], b["enabled"], b["config"]["params"]["fast"]) for b in listed] == [
        ("alpha", True, 5)
    ]
    assert invoke("bots", "disable", "alpha").exit_code == 0
    assert (
        invoke(
            "bots", "set", "alpha", "--params", '{"fast": 7, "slow": 20}', "--timeframe", "5m"
        ).exit_code
        == 0
    )
    shown = invoke("bots", "show", "alpha")
    assert '"timeframe": "5m"' in shown.output and '"fast": 7' in shown.output
    assert '"enabled": false' in shown.output
    assert invoke("bots", "enable", "alpha").exit_code == 0
    assert "alpha" in invoke("bots", "list").output
    assert invoke("bots", "delete", "alpha", "--yes").exit_code == 0
    assert json.loads(invoke("bots", "list", "--json").output) == []


def test_cli_writes_desired_columns_only(invoke, db_engine) -> None:
    invoke("bots", "add", "beta", "--strategy", "sma_cross")
    (bot,) = get_bots(db_engine)
    update_bot_status(db_engine, bot.id, "running", "test")
    invoke("bots", "set", "beta", "--symbol", "ETH/USDT")
    row = get_bot(db_engine, bot.id)
    assert row.symbol == "ETH/USDT" and row.status == "running"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["bots", "add", "x", "--strategy", "nope"], ["strategy: unknown strategy 'nope'"]),
        (
            ["bots", "add", "x", "--strategy", "sma_cross", "--params", '{"fast": "3"}'],
            ["config.params.fast", "valid integer"],
        ),
        (
            ["bots", "add", "x", "--strategy", "sma_cross", "--params", "{bad json"],
            ["params: malformed JSON"],
        ),
        (
            ["bots", "add", "x", "--strategy", "sma_cross", "--timeframe", "9q"],
            ["timeframe: unknown timeframe '9q'"],
        ),
        (["bots", "show", "ghost"], ["bot: no bot with id or name 'ghost'"]),
        (["bots", "set", "ghost", "--symbol", "A/B"], ["no bot with id or name 'ghost'"]),
    ],
)
def test_bot_commands_reject_bad_input(invoke, args, fragments) -> None:
    expect_error(invoke(*args), *fragments)


def test_mode_choices_are_the_contract_modes() -> None:
    for command in (bots_add, bots_set):
        (mode,) = [param for param in command.params if param.name == "mode"]
        assert list(mode.type.choices) == [m.value for m in Mode]


def test_set_validates_the_merged_row_and_writes_nothing_when_it_fails(invoke, db_engine) -> None:
    invoke("bots", "add", "delta", "--strategy", "sma_cross")
    result = invoke("bots", "set", "delta", "--mode", "live")
    expect_error(result, "exchange: live trading needs a real exchange")
    (bot,) = get_bots(db_engine)
    assert bot.mode == "paper"


def test_ack_drift_clears_the_marker_and_leaves_an_audit_row(invoke, db_engine) -> None:
    invoke("bots", "add", "gamma", "--strategy", "sma_cross")
    (bot,) = get_bots(db_engine)
    update_bot_status(db_engine, bot.id, "running", "test")
    record_drift(db_engine, bot.id, "open order 1234 (buy 0.01 @ 29000.0) is not the bot's")
    result = invoke("bots", "ack-drift", "gamma")
    assert result.exit_code == 0, result.output
    assert "drift acknowledged" in result.output and "open order 1234" in result.output
    assert drift_of(db_engine, bot.id) is None
    event = status_events(db_engine, bot.id)[-1]
    assert event.from_status == event.to_status == "running"
    assert event.reason.startswith("drift acknowledged by the operator: ")
    assert "open order 1234" in event.reason
    again = invoke("bots", "ack-drift", str(bot.id))
    assert again.exit_code == 0 and "no drift to acknowledge" in again.output
