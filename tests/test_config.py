"""Bot configuration validation (config.py): each fault names the field, what was expected,
what was found."""

import json

import pytest

from tests.support.builders import bot_config
from trading_platform.config import config_hash
from trading_platform.errors import ConfigError
from trading_platform.strategy_handler import load_registry

REGISTRY = load_registry()[0]


def _validate(**changes):
    """A good paper bot (tests.support.builders) with ``changes``, validated."""
    return bot_config(REGISTRY, name="b", **changes)


def test_valid_config_fills_defaults() -> None:
    config = _validate(config={"params": {"fast": 5, "slow": 20}})
    assert config.params == {"fast": 5, "slow": 20}
    assert config.broker.cash == 10_000 and config.heartbeat_interval == 60
    assert config.max_restarts == 5 and config.credentials is None
    assert config.restart_window == 3600
    assert "None" not in json.dumps(config.run_config())


def test_config_may_be_json_text() -> None:
    assert _validate(config='{"params": {"fast": 4}}').params["fast"] == 4


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"mode": "moon"}, "mode", "expected backtest, paper or live, found 'moon'"),
        ({"mode": None}, "mode", "is required"),
        ({"exchange": "nasdaq-x"}, "exchange", "unknown exchange 'nasdaq-x'"),
        ({"symbol": "btcusdt"}, "symbol", "expected BASE/QUOTE"),
        ({"timeframe": "7x"}, "timeframe", "unknown timeframe '7x'"),
        ({"strategy": "nope"}, "strategy", "unknown strategy 'nope'; available: "),
        ({"config": "{oops"}, "config", "malformed JSON"),
        ({"config": "[1]"}, "config", "expected a JSON object"),
        ({"config": {"parms": {}}}, "config.parms", "unknown setting"),
        ({"config": {"params": {"fast": "5"}}}, "config.params.fast", "valid integer"),
        ({"config": {"params": {"fast": 1}}}, "config.params.fast", "greater than or equal to 2"),
        ({"config": {"params": {"fast": 30, "slow": 20}}}, "config.params", "must be smaller"),
        ({"config": {"broker": {"cash": -5}}}, "config.broker.cash", "greater than 0"),
        ({"config": {"broker": {"fee": 1}}}, "config.broker.fee", "unknown setting"),
        (
            {"config": {"risk": {"stake": 1, "percent_of_equity": 50}}},
            "config.risk",
            "either stake or percent_of_equity",
        ),
        ({"config": {"heartbeat_interval": 0}}, "config.heartbeat_interval", "expected 1..3600"),
        (
            {"config": {"restart_window": 60}},
            "config.restart_window",
            "expected 600..2592000, found 60",
        ),
        ({"config": {"restart_window": "1h"}}, "config.restart_window", "expected an integer"),
        ({"config": {"credentials": "sk-123 456"}}, "config.credentials", "NAME of a credential"),
        (
            {"config": {"live": {"stale_grace_seconds": -1}}},
            "config.live.stale_grace_seconds",
            "greater than or equal to 0",
        ),
        (
            {"config": {"live": {"stale_grace_seconds": "5"}}},
            "config.live.stale_grace_seconds",
            "valid number",
        ),
        (
            {"config": {"live": {"reconcile_interval": 5}}},
            "config.live.reconcile_interval",
            "greater than or equal to 10",
        ),
        (
            {"config": {"live": {"reconcile_interval": 100_000}}},
            "config.live.reconcile_interval",
            "less than or equal to 86400",
        ),
        (
            {"config": {"live": {"reconcile_interval": 60.5}}},
            "config.live.reconcile_interval",
            "valid integer",
        ),
        (
            {"config": {"live": {"lookback_bars": 99}}},
            "config.live.lookback_bars",
            "greater than or equal to 100",
        ),
        (
            {"config": {"live": {"lookback_bars": 2_000_000}}},
            "config.live.lookback_bars",
            "less than or equal to 1000000",
        ),
        ({"mode": "live"}, "exchange", "live trading needs a real exchange"),
        ({"exchange": "csv"}, "config.data.path", "needs a data file path"),
        ({"mode": "backtest", "exchange": "binance"}, "config.data.path", "needs a data file"),
        (
            {"exchange": "csv", "config": {"data": {"path": "/etc/passwd"}}},
            "config.data.path",
            "is outside the data directories (TRADING_DATA_DIRS=",
        ),
        (
            {"exchange": "csv", "config": {"data": {"path": "../../../.env"}}},
            "config.data.path",
            "is outside the data directories",
        ),
    ],
)
def test_faults_name_the_field(changes, field, problem) -> None:
    with pytest.raises(ConfigError) as error:
        _validate(**changes)
    assert error.value.field == field
    assert problem in error.value.problem


def test_custom_block_errors_have_the_full_path() -> None:
    params = {
        "entry_logic": {"name": "rsi_below", "params": {"period": 1}},
        "exit_logic": {"name": "trailing_stop"},
    }
    with pytest.raises(ConfigError) as error:
        _validate(strategy="custom", config={"params": params})
    assert error.value.field == "config.params.entry_logic.params.period"


def test_hash_changes_with_any_desired_column_and_ignores_key_order() -> None:
    desired = {"enabled": True, "strategy": "a", "config": {"x": 1, "y": 2}}
    same = {"config": {"y": 2, "x": 1}, "strategy": "a", "enabled": True}
    assert config_hash(desired) == config_hash(same)
    assert config_hash(desired) != config_hash({**desired, "enabled": False})


def test_validated_words_are_plain_strings() -> None:
    """The snapshot's words go into Dagster tags and run config, which serialize plain
    strings only (an enum member there fails every sensor tick)."""
    config = _validate()
    assert type(config.mode) is str and config.mode == "paper"


def test_stale_grace_defaults_by_timeframe_unless_set() -> None:
    assert _validate().live.stale_grace_seconds is None  # the feed derives it from the timeframe
    assert _validate(config={"live": {"stale_grace_seconds": 15}}).live.stale_grace_seconds == 15


def test_lookback_defaults_to_ten_thousand_bars() -> None:
    assert _validate().live.lookback_bars == 10_000
    assert _validate(config={"live": {"lookback_bars": 500}}).live.lookback_bars == 500


def test_reconcile_interval_defaults_to_five_minutes() -> None:
    assert _validate().live.reconcile_interval == 300
    assert _validate(config={"live": {"reconcile_interval": 60}}).live.reconcile_interval == 60
