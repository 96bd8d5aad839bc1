"""Walk-forward: how windows are cut, the winner of each training part tested on the bars that
follow, the stitched out-of-sample curve, and the efficiency worked out by hand."""

from __future__ import annotations

import pytest

from tests.support.builders import bot_config
from trading_platform.engine.backtest import run_backtest
from trading_platform.errors import ConfigError
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.research.optimize import search
from trading_platform.research.pool import BacktestPool
from trading_platform.research.search_space import parse_search_space
from trading_platform.research.serialize import walk_forward_json
from trading_platform.research.walk_forward import cut_windows, efficiency, walk_forward
from trading_platform.strategy_handler import load_registry


def test_the_issue_example_on_1000_bars() -> None:
    windows = cut_windows(1000, 6, 0.7)
    assert len(windows) == 6
    assert {w.train_bars for w in windows} == {280} and {w.test_bars for w in windows} == {120}
    assert windows[0].train_start == 0 and windows[0].test_start == 280
    assert windows[-1].test_stop == 1000
    for window in windows:
        # a window's test part follows its training part: no bar in both
        assert window.train_start < window.test_start < window.test_stop
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.test_start == before.test_stop  # test parts tile without gap or overlap
        assert after.train_start == before.train_start + 120  # rolling, not anchored


def test_bars_that_do_not_divide_are_left_out_at_the_start() -> None:
    windows = cut_windows(1003, 6, 0.7)
    # training part round(0.7 * 1003 / 2.5) = 281, test parts (1003 - 281) // 6 = 120
    assert windows[0].train_bars == 281 and windows[0].test_bars == 120
    assert windows[0].train_start == 2 and windows[-1].test_stop == 1003
    (only,) = cut_windows(10, 1, 0.5)
    assert (only.train_start, only.test_start, only.test_stop) == (0, 5, 10)


@pytest.mark.parametrize(
    ("bars", "windows", "train", "field", "fragment"),
    [
        (12, 6, 0.7, "walk_forward", "12 bars are too few for 6 windows"),
        (1000, 0, 0.7, "walk_forward", "at least 1 window"),
        (1000, 6, 1.0, "train", "between 0 and 1"),
        (1000, 6, 0.0, "train", "between 0 and 1"),
    ],
)
def test_bad_windows(bars, windows, train, field, fragment) -> None:
    with pytest.raises(ConfigError) as caught:
        cut_windows(bars, windows, train)
    assert caught.value.field == field and fragment in caught.value.problem


def test_efficiency_by_hand() -> None:
    # +10 % over 100 training bars is 0.1 % a bar; +3 % over 50 test bars is 0.06 % a bar
    assert efficiency([(0.10, 100, 0.03, 50)]) == pytest.approx(0.6)
    # over windows: (0.03 - 0.01) / 100 test bars over (0.10 + 0.10) / 200 training bars
    assert efficiency([(0.10, 100, 0.03, 50), (0.10, 100, -0.01, 50)]) == pytest.approx(0.2)
    assert efficiency([(-0.05, 100, 0.02, 50)]) == pytest.approx(-0.8)
    assert efficiency([(0.0, 100, 0.02, 50)]) is None
    assert efficiency([]) is None


@pytest.fixture(scope="module")
def run():
    registry = load_registry()[0]
    frame = generate_ohlcv(900, seed=5, start_price=100.0, timeframe_seconds=86_400)
    config = bot_config(registry, name="w", mode="backtest", timeframe="1d", config={"params": {}})
    space = parse_search_space(
        {"fast": [3, 5, 8], "slow": [12, 20]}, registry.get("sma_cross").Params
    )
    with BacktestPool(config, registry, frame, workers=2) as pool:
        result = walk_forward(pool, space, windows=3, train=0.6, metric="total_return")
        searches = [
            search(pool, space, metric="total_return", start=w.train_start, stop=w.test_start)
            for w in cut_windows(len(frame), 3, 0.6)
        ]
    return registry, frame, config, result, searches


def test_each_window_tests_its_training_winner_on_the_next_bars(run) -> None:
    registry, frame, config, result, searches = run
    assert len(result.windows) == 3
    for window, found in zip(result.windows, searches, strict=True):
        assert window.params == found.best.params
        assert window.in_sample == found.best.metrics
        bounds = window.window
        single = run_backtest(
            config.model_copy(update={"params": window.params}),
            registry,
            frame=frame.iloc[bounds.test_start : bounds.test_stop],
        )
        assert window.out_of_sample == single.metrics
        assert window.equity.index[0] == frame.index[bounds.test_start]
        assert window.equity.index[-1] == frame.index[bounds.test_stop - 1]
        assert window.efficiency == pytest.approx(
            (single.metrics["total_return"] / bounds.test_bars)
            / (found.best.metrics["total_return"] / bounds.train_bars)
        )


def test_the_stitched_curve_continues_from_window_to_window(run) -> None:
    _registry, frame, _config, result, _searches = run
    equity = result.equity
    assert equity.index.is_monotonic_increasing and equity.index.is_unique
    assert len(equity) == sum(w.window.test_bars for w in result.windows)
    assert equity.iloc[0] == result.initial_value
    value = result.initial_value
    for window in result.windows:
        start = frame.index[window.window.test_start]
        # each part starts where the previous one ended (its first value is the cash)
        assert equity[start] == pytest.approx(value, rel=1e-12)
        value *= 1 + window.out_of_sample["total_return"]
    assert equity.iloc[-1] == pytest.approx(value, rel=1e-12)
    assert result.out_of_sample["total_return"] == pytest.approx(
        value / result.initial_value - 1, rel=1e-12
    )
    parts = [w.returns() for w in result.windows]
    assert result.efficiency == pytest.approx(
        (sum(p[2] for p in parts) / sum(p[3] for p in parts))
        / (sum(p[0] for p in parts) / sum(p[1] for p in parts))
    )


def test_walk_forward_as_plain_data(run) -> None:
    result = run[3]
    data = walk_forward_json(result)
    assert [w["window"] for w in data["windows"]] == [1, 2, 3]
    first = data["windows"][0]
    assert first["train"]["bars"] == result.windows[0].window.train_bars
    assert (
        first["test"]["start"] == result.bar_times[result.windows[0].window.test_start].isoformat()
    )
    assert first["params"] == result.windows[0].params
    assert len(data["equity"]) == len(result.equity)
    assert data["equity"][-1][1] == float(result.equity.iloc[-1])
    assert data["efficiency"] == result.efficiency
