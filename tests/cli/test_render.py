"""Tables at 80 columns: full names, readable times, the less important columns left out
(through the real command in a terminal 80 columns wide), and the compact times."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from trading_platform.cli.layout import age, short_time
from trading_platform.db.status import heartbeat

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Demo Bollinger (backtest)", "eth mean reversion, 4h, small"]


def _cli(database_url: str, columns: int, *args: str) -> str:
    """The real command in a terminal ``columns`` wide (rich reads ``COLUMNS``)."""
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(REPO_ROOT)}
    command = Path(sys.executable).with_name("trading-platform")
    result = subprocess.run(
        [str(command), "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bots_list_at_80_columns_shows_full_names_and_readable_heartbeats(
    invoke, database_url, db_engine
) -> None:
    for name in NAMES:
        invoke("bots", "add", name, "--strategy", "rsi_mean_reversion", "--mode", "backtest")
    heartbeat(db_engine, 1)
    text = _cli(database_url, 80, "bots", "list")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    assert "…" not in text, text
    for name in NAMES:
        assert any(name in line for line in lines), text
    assert "s ago" in text  # the heartbeat just written, as an age
    assert "status" in lines[0] and "backtest" in text
    wide = _cli(database_url, 160, "bots", "list")
    assert "rsi_mean_reversion" in wide and "replay BTC/USDT" in wide


def test_backtest_trades_at_80_columns_show_whole_dates(invoke, tmp_path) -> None:
    del invoke  # the fixture's isolated home is what the subprocess uses
    text = _cli(
        f"sqlite:///{tmp_path / 'unused.db'}",
        80,
        "backtest",
        "--strategy",
        "sma_cross",
        "--params",
        '{"fast": 5, "slow": 20}',
    )
    trades = text.split("last trades", 1)[1].splitlines()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "…" not in text, text
    dated = [line for line in trades if line[:4].isdigit()]
    assert dated and all(
        dt.date.fromisoformat(line.split()[0]) and dt.date.fromisoformat(line.split()[1])
        for line in dated
    ), text


NOW = dt.datetime(2026, 11, 30, 14, 5, 30, tzinfo=dt.UTC)


def test_an_age_is_one_short_word_and_an_old_time_a_short_date() -> None:
    assert age(None, NOW) == "-"
    assert age(NOW - dt.timedelta(seconds=12), NOW) == "12s ago"
    assert age(NOW - dt.timedelta(minutes=5, seconds=59), NOW) == "5m ago"
    assert age(NOW - dt.timedelta(hours=3, minutes=1), NOW) == "3h ago"
    assert age(NOW - dt.timedelta(days=2), NOW) == "2026-11-28 14:05"
    assert short_time(dt.datetime(2024, 3, 1)) == "2024-03-01"
    assert short_time(dt.datetime(2024, 3, 1, 9, 30), with_year=False) == "03-01 09:30"
