"""The trading-platform command: happy paths, and a one-line error for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trading_platform.cli import cli
from trading_platform.db.bots import get_bot, get_bots
from trading_platform.db.migrate import head_revision
from trading_platform.db.status import update_bot_status
from trading_platform.db.trades import bot_trades


@pytest.fixture
def invoke(database_url: str):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["--database-url", database_url, *args])

    return run


def expect_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.output


def test_db_upgrade_twice(invoke) -> None:
    first = invoke("db", "upgrade")
    second = invoke("db", "upgrade")
    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output == f"database at revision {head_revision()}\n"


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


def test_strategies_list_shows_parameters(invoke) -> None:
    result = invoke("strategies", "list", "--json")
    infos = {info["name"]: info for info in json.loads(result.output)}
    assert {p["name"]: p["default"] for p in infos["sma_cross"]["params"]} == {
        "fast": 10,
        "slow": 30,
    }
    text = invoke("strategies", "list").output
    assert "fast: int = 10 (>= 2, <= 500)" in text


def test_strategies_list_reports_a_broken_plugin(invoke, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import nowhere_to_be_found\n")
    result = invoke("strategies", "list", "--strategy-path", str(tmp_path))
    assert result.exit_code == 0
    assert "broken.py" in result.output and "nowhere_to_be_found" in result.output
    assert "sma_cross" in result.output


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


def test_demo_is_idempotent(invoke, db_engine) -> None:
    first = invoke("demo")
    second = invoke("demo")
    assert "Demo SMA Cross (paper)" in first.output
    assert second.output.strip() == "demo bots already present"
    bots = get_bots(db_engine)
    assert sorted(b.mode for b in bots) == ["backtest", "paper", "paper"]


def test_a_database_without_the_schema_is_a_clear_error(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["--database-url", url, "bots", "list"])
    assert result.exit_code == 1
    assert "has no platform tables" in result.output and "db upgrade" in result.output
    assert "Traceback" not in result.output
