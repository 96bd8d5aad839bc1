"""One backtest described by plain values, validated the one way and run, optionally on the
winner of a parameter search.

``trading-platform backtest`` (its options) and the Dagster ``backtest`` job (its run config)
both describe a backtest as a :class:`BacktestSpec`; :func:`backtest_config` turns it into a
:class:`~trading_platform.config.BotConfig` through
:func:`~trading_platform.config.validate_bot_config`, the validation of a bot row, so every
entry point refuses the same faults with the same field names (``strategy``,
``config.params.fast``, ``config.data.path``, ``config.broker.cash``).  Nothing here imports
Dagster or the CLI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_platform.config import BotConfig, BrokerConfig, validate_bot_config
from trading_platform.config_limits import check_text
from trading_platform.contract import Mode
from trading_platform.engine.backtest import BacktestResult, run_backtest
from trading_platform.errors import ConfigError
from trading_platform.feeds.demo_data import DEMO_SYMBOL
from trading_platform.feeds.history import historical_frame
from trading_platform.research.optimize import SearchResult, first_valid_params, search
from trading_platform.research.pool import BacktestPool
from trading_platform.research.ranking import check_metric
from trading_platform.research.search_space import FIELD as FIELD_SEARCH
from trading_platform.research.search_space import SearchSpace, parse_search_space
from trading_platform.strategy_handler import StrategyRegistry

if TYPE_CHECKING:
    import pandas as pd

_BROKER = BrokerConfig.model_fields
#: the name a backtest's config carries (it is no bot row)
BACKTEST_NAME = "cli-backtest"


@dataclass(frozen=True)
class BacktestSpec:
    """What a backtest is asked to be; defaults are the config models' own."""

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    data_path: Path | str | None = None
    """a CSV or Parquet file (relative: to the first data directory); None: the demo series"""
    start: str | None = None
    end: str | None = None
    cash: float = _BROKER["cash"].default
    commission: float = _BROKER["commission"].default
    slippage: float = _BROKER["slippage"].default
    stake: float | None = None
    symbol: str | None = None
    """a label: the market's name in the output, never asked of an exchange"""
    timeframe: str = "1d"
    periods_per_year: int = BotConfig.model_fields["periods_per_year"].default

    def label(self) -> str:
        """The symbol shown: as given, else the file's name (``^GSPC.csv`` is ``^GSPC``), else
        the demo series' market."""
        if self.symbol:
            return self.symbol
        return Path(self.data_path).stem if self.data_path is not None else DEMO_SYMBOL


@dataclass(frozen=True)
class SearchRequest:
    """A parameter search whose winner is the backtest reported."""

    space: Mapping[str, Any]
    metric: str = "sharpe"
    trials: int | None = None
    seed: int | None = None
    workers: int | None = None


@dataclass(frozen=True)
class BacktestOutcome:
    config: BotConfig
    """the config the reported backtest ran with (with a search: the winner's params)"""
    result: BacktestResult
    search: SearchResult | None = None


def _check_date(value: str | None, field_name: str) -> None:
    """A readable error for a date the bars cannot be cut at (pandas' would name no field)."""
    if value is None:
        return
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(field_name, f"expected a date YYYY-MM-DD, found {value!r}") from None


def backtest_config(
    spec: BacktestSpec,
    registry: StrategyRegistry,
    *,
    data_dirs: Sequence[Path],
    bot_id: int | None = None,
) -> BotConfig:
    """``spec`` validated as a backtest bot's config; a :class:`ConfigError` names the field.

    ``data_dirs`` fence the data file in (the CLI adds the named file's directory; a Dagster
    run does not)."""
    _check_date(spec.start, "config.data.start")
    _check_date(spec.end, "config.data.end")
    data: dict[str, Any] = {"start": spec.start, "end": spec.end}
    if spec.data_path is not None:
        data["path"] = str(spec.data_path)
    config = validate_bot_config(
        name=BACKTEST_NAME,
        strategy=spec.strategy,
        mode=Mode.BACKTEST,
        exchange="csv" if spec.data_path is not None else "replay",
        # validated as a label below: the BASE/QUOTE rule is for markets an exchange serves
        symbol=DEMO_SYMBOL,
        timeframe=spec.timeframe,
        config={
            "params": dict(spec.params),
            "data": {key: value for key, value in data.items() if value is not None},
            "broker": {
                "cash": spec.cash,
                "commission": spec.commission,
                "slippage": spec.slippage,
            },
            "risk": {"stake": spec.stake} if spec.stake is not None else {},
            "periods_per_year": spec.periods_per_year,
        },
        registry=registry,
        bot_id=bot_id,
        data_dirs=data_dirs,
    )
    return config.model_copy(update={"symbol": check_text(spec.label().strip(), "symbol")})


def run_spec(
    spec: BacktestSpec,
    registry: StrategyRegistry,
    *,
    data_dirs: Sequence[Path],
    search_request: SearchRequest | None = None,
) -> BacktestOutcome:
    """Validate and run ``spec``; with ``search_request``, first search its space (``spec``'s
    params are the base) and run the best combination by the request's metric."""
    if search_request is None:
        config = backtest_config(spec, registry, data_dirs=data_dirs)
        frame = historical_frame(config, data_dirs)
        return BacktestOutcome(config, run_backtest(config, registry, frame=frame))
    check_metric(search_request.metric)
    if search_request.trials is not None and search_request.trials < 1:
        raise ConfigError("trials", f"expected at least 1, found {search_request.trials}")
    space = parse_search_space(dict(search_request.space), registry.get(spec.strategy).Params)
    base = dict(spec.params)
    # the base alone may be invalid ({"fast": 50} with the default slow): validate with the
    # first valid combination, as ``backtest --optimize`` does
    first = first_valid_params(registry, spec.strategy, space, base)
    config = backtest_config(replace(spec, params=first), registry, data_dirs=data_dirs)
    frame = historical_frame(config, data_dirs)
    found = _search(config, registry, frame, space, base, search_request)
    best = found.best
    if best is None:
        raise ConfigError(
            FIELD_SEARCH,
            f"no combination gave a defined {search_request.metric} "
            f"({len(found.ranked)} backtested, {len(found.skipped)} skipped)",
        )
    winner = backtest_config(replace(spec, params=best.params), registry, data_dirs=data_dirs)
    return BacktestOutcome(winner, run_backtest(winner, registry, frame=frame), found)


def _search(
    config: BotConfig,
    registry: StrategyRegistry,
    frame: pd.DataFrame,
    space: SearchSpace,
    base: dict[str, Any],
    request: SearchRequest,
) -> SearchResult:
    with BacktestPool(config, registry, frame, workers=request.workers) as pool:
        return search(
            pool,
            space,
            metric=request.metric,
            base_params=base,
            trials=request.trials,
            seed=request.seed,
        )
