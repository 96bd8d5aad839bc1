"""``trading-platform backtest``: JSON and summary output, recording for a bot, and a
one-line error for every bad file or option."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.cli.checks import expect_error
from trading_platform.cli.backtest import backtest
from trading_platform.config import BotConfig, BrokerConfig
from trading_platform.db.bots import get_bots
from trading_platform.db.trades import bot_trades


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bars.csv"
    header = "" if body.startswith("Date,") else "Date,Open,High,Low,Close,Volume\n"
    path.write_text(header + body)
    return path


def test_backtest_json(invoke, shared_data) -> None:
    result = invoke(
        "backtest",
        "--strategy",
        "sma_cross",
        "--data",
        str(shared_data / "orcl-1995-2014.txt"),
        "--params",
        '{"fast": 10, "slow": 30}',
        "--cash",
        "50000",
        "--commission",
        "0.0005",
        "--from",
        "2000-01-01",
        "--to",
        "2005-12-31",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["start"].startswith("2000-01-03") and data["end"].startswith("2005-12-30")
    assert data["initial_value"] == 50000
    assert data["metrics"]["trade_count"] == len(data["trades"]) > 0
    assert {
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "size",
        "fee",
        "pnl",
        "entry_logic",
        "exit_logic",
    } <= set(data["trades"][0])


def test_backtest_summary_on_demo_data_with_stake(invoke) -> None:
    result = invoke("backtest", "--strategy", "rsi_mean_reversion", "--stake", "0.01")
    assert result.exit_code == 0, result.output
    assert "final value" in result.output and "win rate" in result.output


def test_backtest_for_a_bot_records_trades(invoke, db_engine) -> None:
    invoke(
        "bots", "add", "gamma", "--strategy", "sma_cross", "--mode", "backtest", "--timeframe", "1d"
    )
    result = invoke("backtest", "--strategy", "sma_cross", "--bot", "gamma", "--json")
    assert result.exit_code == 0, result.output
    (bot,) = get_bots(db_engine)
    assert len(bot_trades(db_engine, bot.id)) == len(json.loads(result.output)["fills"])


@pytest.mark.parametrize(
    ("body", "extra", "fragments"),
    [
        (None, [], ["data file not found"]),
        ("Date,Open,High,Low\n2024-01-01,1,2,0.5\n", [], ["missing column(s): close"]),
        ("2024-01-02,1,2,0.5,1.5,1\n2024-01-01,1,2,0.5,1.5,1\n", [], ["not in ascending order"]),
        ("2024-01-01,1,2,0.5,1.5,1\n2024-01-01,1,2,0.5,1.5,1\n", [], ["duplicate timestamp"]),
        ("2024-01-01,1,2,0.5,,1\n", [], ["NaN or non-numeric value in column 'Close'"]),
        ("2024-01-01,1,2,0.5,1.5,1\n", ["--params", '{"fast": "x"}'], ["config.params.fast"]),
        (
            "2024-01-01,1,2,0.5,1.5,1\n",
            ["--params", '{"fast": 9999}'],
            ["config.params.fast", "less than or equal to 500"],
        ),
        ("2024-01-01,1,2,0.5,1.5,1\n", ["--params", "[1, 2"], ["params: malformed JSON"]),
        ("2024-01-01,1,2,0.5,1.5,1\n", ["--cash", "-1"], ["config.broker.cash"]),
    ],
    ids=[
        "missing-file",
        "missing-column",
        "unsorted",
        "duplicate",
        "nan",
        "param-type",
        "param-bounds",
        "bad-json",
        "bad-cash",
    ],
)
def test_backtest_rejects_bad_input(invoke, tmp_path, body, extra, fragments) -> None:
    path = tmp_path / "missing.csv" if body is None else _csv(tmp_path, body)
    result = invoke("backtest", "--strategy", "sma_cross", "--data", str(path), *extra)
    expect_error(result, *fragments)


def test_backtest_unknown_strategy(invoke) -> None:
    expect_error(invoke("backtest", "--strategy", "nope"), "unknown strategy 'nope'", "available: ")


def test_option_defaults_are_the_config_models_defaults() -> None:
    defaults = {param.name: param.default for param in backtest.params}
    broker = BrokerConfig.model_fields
    assert defaults["cash"] == broker["cash"].default
    assert defaults["commission"] == broker["commission"].default
    assert defaults["slippage"] == broker["slippage"].default
    assert defaults["periods_per_year"] == BotConfig.model_fields["periods_per_year"].default


def test_help_shows_the_defaults_as_before(invoke) -> None:
    text = " ".join(invoke("backtest", "--help").output.split())
    for shown in (
        "--cash FLOAT [default: 10000.0]",
        "[default: 0.001]",
        "--slippage FLOAT [default: 0.0]",
        "252 for stocks [default: 365]",
    ):
        assert shown in text


def test_the_operator_may_backtest_a_file_outside_the_data_dirs(
    invoke, tmp_path, monkeypatch
) -> None:
    """The CLI is not fenced in (see cli/backtest.py): the operator names their own file."""
    monkeypatch.setenv("TRADING_DATA_DIRS", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(100)]
    lines = [f"{day},1,2,0.5,{1 + n % 7 / 10},1" for n, day in enumerate(days)]
    _csv(tmp_path, "\n".join(lines) + "\n")
    result = invoke("backtest", "--strategy", "sma_cross", "--data", "bars.csv", "--json")
    assert result.exit_code == 0, result.output


def _trading_csv(tmp_path: Path, name: str) -> Path:
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(120)]
    rows = [
        f"{d},{100 + n % 17},{102 + n % 17},{99 + n % 17},{101 + n % 17},1000"
        for n, d in enumerate(days)
    ]
    path = tmp_path / name
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    return path


def test_a_file_backtest_is_named_after_the_file_unless_told(invoke, tmp_path) -> None:
    index = _trading_csv(tmp_path, "^GSPC.csv")
    result = invoke("backtest", "--strategy", "sma_cross", "--data", str(index), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["symbol"] == "^GSPC"
    summary = invoke("backtest", "--strategy", "sma_cross", "--data", str(index))
    assert "sma_cross on ^GSPC 1d" in summary.output and "BTC/USDT" not in summary.output
    told = invoke(
        "backtest", "--strategy", "sma_cross", "--data", str(index), "--symbol", "SPX", "--json"
    )
    assert json.loads(told.output)["symbol"] == "SPX"
    demo = invoke("backtest", "--strategy", "sma_cross", "--json")
    assert json.loads(demo.output)["symbol"] == "BTC/USDT"


def test_a_bots_backtest_on_a_file_keeps_the_bots_symbol(invoke, db_engine, tmp_path) -> None:
    invoke("bots", "add", "delta", "--strategy", "sma_cross", "--symbol", "ETH/USDT")
    data = _trading_csv(tmp_path, "prices.csv")
    result = invoke(
        "backtest", "--strategy", "sma_cross", "--data", str(data), "--bot", "delta", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["symbol"] == "ETH/USDT"


def test_a_symbol_label_with_a_control_character_is_refused(invoke, tmp_path) -> None:
    data = _trading_csv(tmp_path, "prices.csv")
    result = invoke(
        "backtest", "--strategy", "sma_cross", "--data", str(data), "--symbol", "SP\x1bX"
    )
    expect_error(result, "symbol: contains the control character U+001B")
