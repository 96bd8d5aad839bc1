"""Registry, parameter validation, discovery of plugins, and that every block trades."""

from pathlib import Path

import backtrader as bt
import pytest
from pydantic import Field

from trading_platform.errors import ConfigError
from trading_platform.feeds.demo_data import generate_ohlcv
from trading_platform.strategy_handler import (
    LOGIC_BLOCKS,
    PlatformStrategy,
    StrategyParams,
    StrategyRegistry,
    load_registry,
)

GOOD_PLUGIN = '''
from pydantic import Field
from trading_platform.strategy_handler import PlatformStrategy, StrategyParams

class P(StrategyParams):
    period: int = Field(12, ge=2, le=50, description="look-back")

class Momentum(PlatformStrategy):
    """Buys momentum."""
    name = "momentum_test"
    Params = P
'''


def test_shipped_strategies_are_discovered() -> None:
    registry, report = load_registry()
    assert {"sma_cross", "rsi_mean_reversion", "bollinger_breakout", "custom"} <= set(
        registry.names()
    )
    assert report.errors == {}
    infos = {info.name: info for info in registry.list()}
    fast = next(p for p in infos["sma_cross"].params if p.name == "fast")
    assert (fast.type, fast.default, fast.bounds) == ("int", 10, ">= 2, <= 500")
    assert infos["sma_cross"].summary.startswith("Buys when the fast SMA crosses above")


def test_register_get_and_duplicate_names() -> None:
    class MineParams(StrategyParams):
        level: float = Field(1.5, gt=0)

    class Mine(PlatformStrategy):
        """Mine."""

        name = "mine"
        Params = MineParams

    registry = StrategyRegistry()
    registry.register(Mine)
    assert registry.get("mine") is Mine
    assert Mine.params._getpairs()["level"] == 1.5  # backtrader params from the model

    class Other(PlatformStrategy):
        name = "mine"

    with pytest.raises(ValueError, match="strategy name 'mine' is taken"):
        registry.register(Other)
    with pytest.raises(ConfigError, match="unknown strategy 'x'; available: mine"):
        registry.get("x")


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        ({"fast": "10"}, "params.fast", "Input should be a valid integer (found '10')"),
        ({"fast": 1}, "params.fast", "greater than or equal to 2 (found 1)"),
        ({"fast": 5.5}, "params.fast", "valid integer"),
        ({"speed": 3}, "params.speed", "unknown parameter"),
        ({"fast": 40, "slow": 30}, "params", "fast (40) must be smaller than slow (30)"),
    ],
)
def test_parameter_errors_name_the_field(params, field, problem) -> None:
    registry, _ = load_registry()
    with pytest.raises(ConfigError) as error:
        registry.validate("sma_cross", params)
    assert error.value.field == field
    assert problem in error.value.problem


def test_unknown_strategy_lists_the_available_ones_or_falls_back_to_custom() -> None:
    registry, _ = load_registry()
    with pytest.raises(ConfigError) as error:
        registry.validate("golden_goose", {"fast": 3})
    assert error.value.field == "strategy"
    assert "available: bollinger_breakout, custom, rsi_mean_reversion, sma_cross" in str(
        error.value
    )
    params = {"entry_logic": {"name": "breakout"}, "exit_logic": {"name": "trailing_stop"}}
    validated = registry.validate("golden_goose", params)
    assert validated.name == "custom"
    assert validated.params["entry_logic"] == {"name": "breakout", "params": {"period": 20}}


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        (
            {"entry_logic": {"name": "moon"}, "exit_logic": {"name": "rsi_above"}},
            "params.entry_logic",
            "unknown entry logic 'moon'; available: breakout, rsi_below, sma_cross_up",
        ),
        (
            {"entry_logic": {"name": "rsi_above"}, "exit_logic": {"name": "rsi_above"}},
            "params.entry_logic",
            "unknown entry logic 'rsi_above'",
        ),
        (
            {
                "entry_logic": {"name": "breakout", "params": {"period": 0}},
                "exit_logic": {"name": "rsi_above"},
            },
            "params.entry_logic.params.period",
            "greater than or equal to 2",
        ),
        (
            {
                "entry_logic": {"name": "breakout"},
                "exit_logic": {"name": "trailing_stop", "params": {"trial": 0.1}},
            },
            "params.exit_logic.params.trial",
            "unknown parameter",
        ),
        ({"entry_logic": {"name": "breakout"}}, "params.exit_logic", "is required"),
    ],
)
def test_custom_blocks_are_validated(params, field, problem) -> None:
    registry, _ = load_registry()
    with pytest.raises(ConfigError) as error:
        registry.validate("custom", params)
    assert error.value.field == field
    assert problem in error.value.problem


def test_broken_plugins_are_reported_and_others_load(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD_PLUGIN)
    (tmp_path / "syntax.py").write_text("def broken(:\n")
    (tmp_path / "imports.py").write_text("import no_such_module_xyz\n")
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')\n")
    registry = StrategyRegistry()
    report = registry.discover([tmp_path])
    assert registry.names() == ["momentum_test"]
    assert report.errors[str(tmp_path / "syntax.py")].startswith("SyntaxError")
    assert "(line 1)" in report.errors[str(tmp_path / "syntax.py")]
    assert report.errors[str(tmp_path / "imports.py")].startswith(
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )
    assert str(tmp_path / "_private.py") not in report.errors
    registry.discover([tmp_path])  # again: no "duplicate name" error
    assert registry.names() == ["momentum_test"]


def test_strategy_paths_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "good.py").write_text(GOOD_PLUGIN)
    monkeypatch.setenv("TRADING_STRATEGY_PATHS", str(tmp_path))
    registry, _ = load_registry()
    assert "momentum_test" in registry.names()
    assert registry.validate("momentum_test", {"period": 20}).params == {"period": 20}


def _run(strategy_cls, **params):
    frame = generate_ohlcv(1500, seed=21, start_price=100.0)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(strategy_cls, **params)
    cerebro.broker.setcash(100_000)
    cerebro.addsizer(bt.sizers.PercentSizer, percents=50)
    logics: list[str] = []

    class Orders(bt.Analyzer):
        def notify_order(self, order):
            if order.status == order.Completed:
                logics.append(order.info.logic)

    cerebro.addanalyzer(Orders)
    cerebro.run()
    return logics


@pytest.mark.parametrize("name", ["sma_cross", "rsi_mean_reversion", "bollinger_breakout"])
def test_each_shipped_strategy_trades(name: str) -> None:
    registry, _ = load_registry()
    validated = registry.validate(name, {})
    logics = _run(validated.cls, **validated.params)
    assert len(logics) >= 4, f"{name} traded {len(logics)} times"
    assert all(isinstance(logic, str) and logic for logic in logics)


@pytest.mark.parametrize("entry", ["sma_cross_up", "rsi_below", "breakout"])
@pytest.mark.parametrize(
    "exit_", ["sma_cross_down", "rsi_above", "take_profit_stop_loss", "trailing_stop"]
)
def test_each_logic_block_trades(entry: str, exit_: str) -> None:
    registry, _ = load_registry()
    validated = registry.validate(
        "custom", {"entry_logic": {"name": entry}, "exit_logic": {"name": exit_}}
    )
    logics = _run(validated.cls, **validated.params)
    assert entry in logics and exit_ in logics
    assert set(logics) == {entry, exit_}


def test_blocks_have_kinds_and_bounds() -> None:
    assert {name for name, b in LOGIC_BLOCKS.items() if b.kind == "entry"} == {
        "sma_cross_up",
        "rsi_below",
        "breakout",
    }
    assert {name for name, b in LOGIC_BLOCKS.items() if b.kind == "exit"} == {
        "sma_cross_down",
        "rsi_above",
        "take_profit_stop_loss",
        "trailing_stop",
    }
