"""``backtest --optimize`` and ``--walk-forward`` from the command line: the ranked table with
the skipped combinations and their reasons, JSON, and one-line errors naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from trading_platform.cli import cli

OPTIMIZE = '{"fast": [5, 10, 20], "slow": "20:40:10"}'


@pytest.fixture
def invoke(tmp_path: Path) -> Callable[..., Result]:
    """The command without a bot database: a search never opens one (``--bot`` is refused),
    so these tests run once, not once per database backend."""
    url = f"sqlite:///{tmp_path / 'unused.db'}"

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--database-url", url, *args])

    return run


def test_optimize_json_ranks_and_lists_skipped(invoke) -> None:
    result = invoke(
        "backtest", "--strategy", "sma_cross", "--optimize", OPTIMIZE, "--workers", "2", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["combinations"] == 9 and data["backtested"] == 8 and data["metric"] == "sharpe"
    assert data["skipped"] == [
        {
            "varied": {"fast": 20, "slow": 20},
            "params": {"fast": 20, "slow": 20},
            "reason": "params: fast (20) must be smaller than slow (20)",
        }
    ]
    assert [row["rank"] for row in data["results"]] == list(range(1, 9))
    sharpes = [row["metrics"]["sharpe"] for row in data["results"]]
    defined = [s for s in sharpes if s is not None]
    assert defined == sorted(defined, reverse=True)
    assert sharpes[: len(defined)] == defined  # undefined ones last


def test_the_best_line_is_reproduced_by_a_plain_backtest(invoke) -> None:
    found = json.loads(
        invoke("backtest", "--strategy", "sma_cross", "--optimize", OPTIMIZE, "--json").output
    )
    best = found["results"][0]
    single = invoke(
        "backtest", "--strategy", "sma_cross", "--params", json.dumps(best["params"]), "--json"
    )
    assert json.loads(single.output)["metrics"] == best["metrics"]


def test_optimize_table(invoke) -> None:
    result = invoke(
        "backtest",
        "--strategy",
        "sma_cross",
        "--optimize",
        OPTIMIZE,
        "--metric",
        "total_return",
        "--top",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert "8 of 9 combinations by total_return (larger is better)" in result.output
    assert "... 5 more" in result.output
    assert "fast=20 slow=20: params: fast (20) must be smaller than slow (20)" in result.output


def test_walk_forward_json(invoke) -> None:
    result = invoke(
        "backtest",
        "--strategy",
        "sma_cross",
        "--optimize",
        '{"fast": [5, 10], "slow": [20, 30]}',
        "--walk-forward",
        "3",
        "--train",
        "0.7",
        "--metric",
        "total_return",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["windows"]) == 3 and data["train"] == 0.7
    assert data["windows"][0]["test"]["end"] < data["windows"][1]["test"]["start"]
    assert {"in_sample", "out_of_sample", "params", "efficiency"} <= set(data["windows"][0])
    assert "efficiency" in data and len(data["equity"]) > 100


def test_walk_forward_table(invoke) -> None:
    result = invoke(
        "backtest",
        "--strategy",
        "sma_cross",
        "--optimize",
        '{"fast": [5, 10], "slow": [20, 30]}',
        "--walk-forward",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert "walk-forward of sma_cross on BTC/USDT: 2 windows, train 0.7" in result.output
    assert "out of sample (stitched): return" in result.output
    assert "walk-forward efficiency:" in result.output


def test_walk_forward_report_shows_the_stitched_curve_and_the_windows(invoke, tmp_path) -> None:
    report = tmp_path / "wf.html"
    result = invoke(
        "backtest",
        "--strategy",
        "sma_cross",
        "--optimize",
        '{"fast": [5, 10], "slow": [20, 30]}',
        "--walk-forward",
        "3",
        "--json",
        "--report",
        str(report),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.splitlines()[0])
    page = report.read_text()
    assert "Walk-forward of sma_cross on BTC/USDT 1d (out of sample)" in page
    assert "Walk-forward windows" in page
    assert page.count("<tr><td>") == len(data["windows"]) == 3
    # the charts cover the out-of-sample part only: its first and last times are in the page
    first, last = data["equity"][0][0], data["equity"][-1][0]
    assert first[:10] in page and last[:10] in page


def test_a_plain_search_has_no_report(invoke, tmp_path) -> None:
    result = invoke(
        "backtest",
        "--strategy",
        "sma_cross",
        "--optimize",
        '{"fast": [5, 10]}',
        "--report",
        str(tmp_path / "x.html"),
    )
    assert result.exit_code != 0
    assert "report: --report shows one backtest, or with --walk-forward" in result.output
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimize", '{"fats": [5]}'], "optimize.fats: unknown parameter"),
        (["--optimize", '{"fast": "1:5"}'], "optimize.fast: 1: Input should be greater than"),
        (["--optimize", "[5]"], "optimize: expected a JSON object"),
        (["--optimize", '{"fast": [5]}', "--metric", "sharp"], "metric: unknown metric 'sharp'"),
        (["--optimize", '{"fast": [40]}'], "optimize: no valid combination; the first fails"),
        (["--trials", "5"], "--trials: needs --optimize"),
        (["--walk-forward", "3"], "--walk-forward: needs --optimize"),
        (["--optimize", '{"fast": [5]}', "--bot", "x"], "bot: --bot records one backtest"),
        (
            ["--optimize", '{"fast": [5]}', "--walk-forward", "1000"],
            "walk_forward: 2,000 bars are too few for 1000 windows",
        ),
    ],
)
def test_errors_name_the_field(invoke, args, message) -> None:
    result = invoke("backtest", "--strategy", "sma_cross", *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
