"""``backtest``: a backtest (or the winner of a parameter search) launched from the Launchpad,
materialised as the asset ``backtest_result``.

Research runs then share the run history, the asset catalogue and the UI with the bots they
lead to.  The work is :func:`~trading_platform.research.backtest_spec.run_spec`, the path of
``trading-platform backtest``: the run config becomes a
:class:`~trading_platform.research.backtest_spec.BacktestSpec` and is validated as a backtest
bot's config is, so a fault fails the run naming the config field (``params.fast``,
``data_path``, ``cash``).  The data file is fenced in by ``TRADING_DATA_DIRS``, as a bot's is:
the run config is written in a browser, the file read by the platform.

The job carries none of the bot tags (``trading/managed``) and is not ``bot_run``, so the bot
sensors, the failure notifications and the health figures never count a backtest as a bot.
"""

from typing import TYPE_CHECKING, Any

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    Config,
    Failure,
    MaterializeResult,
    asset,
    define_asset_job,
    in_process_executor,
)
from pydantic import Field

from trading_platform.config import BotConfig, BrokerConfig
from trading_platform.db.engine import trading_home
from trading_platform.errors import ConfigError
from trading_platform.feeds.data_dirs import data_dirs
from trading_platform.orchestration.assets import GROUP
from trading_platform.orchestration.resources import PlatformSettings
from trading_platform.research.search_space import FIELD as FIELD_SEARCH

# The backtest's modules (pandas, pyarrow, backtrader's feeds) are imported by the asset's
# body: definitions.py imports this module in every bot run worker, which never needs them.
if TYPE_CHECKING:
    from trading_platform.research.backtest_spec import BacktestSpec, SearchRequest

# the bots' group (assets.GROUP): one group keeps the UI's asset page one graph (with a
# second group the global lineage view drew neither group's assets by name)
#: where reports are written: ``$TRADING_HOME/reports/<run id>.html``
REPORTS_DIR = "reports"

_BROKER = BrokerConfig.model_fields


class BacktestConfig(Config):
    """One backtest, as the Launchpad edits it (defaults: those of ``trading-platform
    backtest``)."""

    strategy: str = Field(description="registered strategy name (trading-platform strategies)")
    params: dict[str, Any] = Field(
        default={}, description='strategy params, e.g. {"fast": 10, "slow": 30}'
    )
    search_space: dict[str, Any] | None = Field(
        default=None,
        description='params to search, e.g. {"fast": [5, 10, 20], "slow": "20:100:10"} (lists, '
        "or start:stop:step ranges with stop included); the best by `metric` is reported",
    )
    metric: str = Field(
        default="sharpe", description="the search ranks by this figure (drawdowns: smaller wins)"
    )
    trials: int | None = Field(
        default=None, description="sample this many combinations with Optuna instead of all"
    )
    seed: int | None = Field(default=None, description="the sampler's seed (with trials)")
    workers: int | None = Field(
        default=None, description="processes of the search (default: every core)"
    )
    data_path: str | None = Field(
        default=None,
        description="CSV or Parquet file inside TRADING_DATA_DIRS (relative: to the first "
        "one); unset: the generated demo series",
    )
    symbol: str | None = Field(
        default=None, description="the market's label (default: the file's name, or BTC/USDT)"
    )
    timeframe: str = Field(default="1d", description="bar size of the data, e.g. 1h, 1d")
    start: str | None = Field(default=None, description="first day, YYYY-MM-DD")
    end: str | None = Field(default=None, description="last day, YYYY-MM-DD (inclusive)")
    cash: float = Field(default=_BROKER["cash"].default, description="starting cash")
    commission: float = Field(
        default=_BROKER["commission"].default,
        description="fraction of traded value, 0.001 = 0.1 %",
    )
    slippage: float = Field(
        default=_BROKER["slippage"].default, description="fraction of price per fill"
    )
    stake: float | None = Field(
        default=None, description="fixed size per order (default: 95 % of equity)"
    )
    periods_per_year: int = Field(
        default=BotConfig.model_fields["periods_per_year"].default,
        description="365 for crypto, 252 for stocks",
    )

    def spec(self) -> "BacktestSpec":
        from trading_platform.research.backtest_spec import BacktestSpec

        return BacktestSpec(
            strategy=self.strategy,
            params=self.params,
            data_path=self.data_path,
            start=self.start,
            end=self.end,
            cash=self.cash,
            commission=self.commission,
            slippage=self.slippage,
            stake=self.stake,
            symbol=self.symbol,
            timeframe=self.timeframe,
            periods_per_year=self.periods_per_year,
        )

    def search_request(self) -> "SearchRequest | None":
        from trading_platform.research.backtest_spec import SearchRequest

        if self.search_space is None:
            for name in ("trials", "seed"):
                if getattr(self, name) is not None:
                    raise ConfigError(name, "needs search_space (the params to search)")
            return None
        return SearchRequest(
            space=self.search_space,
            metric=self.metric,
            trials=self.trials,
            seed=self.seed,
            workers=self.workers,
        )


#: the validation's field names (a bot row's) as this config names them
_FIELDS = (
    ("config.params", "params"),
    ("config.data.path", "data_path"),
    ("config.data.start", "start"),
    ("config.data.end", "end"),
    ("config.broker.cash", "cash"),
    ("config.broker.commission", "commission"),
    ("config.broker.slippage", "slippage"),
    ("config.risk.stake", "stake"),
    ("config.periods_per_year", "periods_per_year"),
    (FIELD_SEARCH, "search_space"),
)


def config_field(field: str) -> str:
    """``config.params.fast`` is ``params.fast`` here, ``config.data.path`` is ``data_path``."""
    for prefix, name in _FIELDS:
        if field == prefix or field.startswith(f"{prefix}."):
            return name + field[len(prefix) :]
    return field


@asset(
    group_name=GROUP,
    description="The latest backtest run by the `backtest` job: every figure as metadata "
    "(plotted across runs), the config it ran with, and the path of its HTML report.",
)
def backtest_result(
    context: AssetExecutionContext, config: BacktestConfig, platform_settings: PlatformSettings
) -> MaterializeResult:
    from trading_platform.feeds.files import DataError
    from trading_platform.orchestration.backtest_metadata import backtest_metadata
    from trading_platform.reports.backtest_html import write_report  # and plotly
    from trading_platform.research.backtest_spec import run_spec

    try:
        outcome = run_spec(
            config.spec(),
            platform_settings.registry(),
            data_dirs=data_dirs(),
            search_request=config.search_request(),
        )
    except ConfigError as error:
        raise Failure(description=f"{config_field(error.field)}: {error.problem}") from None
    except DataError as error:
        raise Failure(description=f"data_path: {error}") from None
    report = write_report(
        trading_home() / REPORTS_DIR / f"{context.run.run_id}.html", outcome.result
    )
    result = outcome.result
    context.log.info(
        f"{result.strategy} on {result.symbol} {result.timeframe}: {result.bars} bars, "
        f"report at {report}"
    )
    return MaterializeResult(metadata=backtest_metadata(outcome, report))


backtest = define_asset_job(
    "backtest",
    selection=AssetSelection.assets(backtest_result),
    executor_def=in_process_executor,
    description="Backtest a strategy (or search its params and backtest the best) and "
    "materialise backtest_result; launch it from the Launchpad with the config.",
)
