"""Every rule about a bot's configuration, in one module.

A bot row (desired columns of ``trading_bots``) becomes a :class:`BotConfig`, or a
:class:`~trading_platform.errors.ConfigError` whose ``field`` is the dotted path an operator
can find in the row (``mode``, ``config.broker.cash``, ``config.params.fast``) and whose
``problem`` says what was expected and what was found.  The sensor, the CLI and the backtest
command all come through :func:`validate_bot_config`; everyone else reads the validated
object.  The validated snapshot is what a run executes and what Dagster keeps in run config
as the audit record, so it never holds a secret (credentials are a *name*; keys are read from
the environment by the process that needs them).

Two readers judge rows that may not validate at all (:func:`heartbeat_interval_of`,
:func:`starting_cash_of`): health and P&L must report on every bot, a broken one included, so
they fall back to the defaults declared here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trading_platform.config_limits import (
    MAX_NAME_LENGTH,
    check_text,
    check_tree,
    load_config_text,
    quote,
)
from trading_platform.contract import OFFLINE_EXCHANGES, Mode
from trading_platform.errors import ConfigError, from_validation_error
from trading_platform.feeds.data_dirs import confine
from trading_platform.feeds.timeframes import TIMEFRAMES
from trading_platform.strategy_handler import StrategyRegistry

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$")
CREDENTIALS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
#: ``live.lookback_bars``' default: nautilus_trader's ``bar_capacity``, 7 days of 1m bars
DEFAULT_LOOKBACK_BARS = 10_000


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class BrokerConfig(_Section):
    """Simulated broker settings (paper and backtest); fractions, so 0.001 is 0.1 %."""

    cash: float = Field(10_000.0, gt=0, description="starting cash in the quote currency")
    commission: float = Field(0.001, ge=0, lt=0.1, description="fraction of the traded value")
    slippage: float = Field(0.0, ge=0, lt=0.1, description="fraction of the price, adverse")


class RiskConfig(_Section):
    """Position sizing: a fixed ``stake`` (units of the base asset) or a percent of equity."""

    stake: float | None = Field(None, gt=0)
    percent_of_equity: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _one_sizer(self) -> RiskConfig:
        if self.stake is not None and self.percent_of_equity is not None:
            raise ValueError("give either stake or percent_of_equity, not both")
        return self


class DataConfig(_Section):
    """Where bars come from: a file (``path``) or the generated demo series (``replay``)."""

    path: str | None = None
    start: str | None = Field(None, description="first day, ISO date (inclusive)")
    end: str | None = Field(None, description="last day, ISO date (inclusive)")
    bars: int = Field(2_000, ge=50, le=5_000_000, description="bars of generated data")
    seed: int = Field(7, ge=0)
    start_price: float = Field(30_000.0, gt=0)
    pace_seconds: float = Field(1.0, ge=0, le=86_400, description="replay: seconds per bar")
    history_bars: int = Field(100, ge=0, le=100_000, description="replay: bars preloaded")


class NotificationsConfig(_Section):
    position_opened: bool = True
    position_closed: bool = True
    error_notifications: bool = True


class LiveConfig(_Section):
    """Live trading on an exchange; the keys are in the environment (see ``credentials``)."""

    open_orders_on_restart: Literal["cancel", "adopt"] = Field(
        "cancel",
        description="orders a crashed incarnation left open: cancel them, or keep following them",
    )
    fill_gap_bars: int = Field(
        3,
        ge=1,
        le=1_000,
        description=(
            "bars an order the exchange ended may wait for its fills to add up to its filled "
            "amount before that is an incident (audit row, notification, no new positions)"
        ),
    )
    stale_grace_seconds: float | None = Field(
        None,
        ge=0,
        le=3_600,
        allow_inf_nan=False,
        description="bots on an exchange (paper or live): an order is refused when the bar it was "
        "decided on closed more than this many seconds ago; unset: 10 % of the timeframe, "
        "between 2 s and 60 s",
    )
    lookback_bars: int = Field(
        DEFAULT_LOOKBACK_BARS,
        ge=100,
        le=1_000_000,
        description=(
            "paper and live bots: how many bars of every line (prices, indicators) a strategy "
            "can look back over; older bars are dropped so a bot runs for weeks in bounded "
            "memory (an indicator with a longer period keeps its period)"
        ),
    )
    reconcile_interval: int = Field(
        300,
        ge=10,
        le=86_400,
        description=(
            "seconds between a running live bot's comparisons of its position and open orders "
            "with the exchange; a difference blocks new positions until the operator "
            "acknowledges it"
        ),
    )


class BotConfig(BaseModel):
    """A validated bot: everything a run needs, and nothing secret."""

    # enum fields hold their plain value: the config travels into Dagster run config and
    # tags, which serialize plain strings only
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)

    bot_id: int | None = None
    user_id: int | None = None
    name: str
    strategy: str
    strategy_class: str = Field(description="registry name actually run (custom on fallback)")
    mode: Mode
    exchange: str
    symbol: str
    timeframe: str
    params: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig = Field(default_factory=lambda: DataConfig())
    broker: BrokerConfig = Field(default_factory=lambda: BrokerConfig())
    risk: RiskConfig = Field(default_factory=lambda: RiskConfig())
    notifications: NotificationsConfig = Field(default_factory=lambda: NotificationsConfig())
    live: LiveConfig = Field(default_factory=lambda: LiveConfig())
    credentials: str | None = None
    heartbeat_interval: int = Field(
        60,
        ge=1,
        le=3_600,
        description="seconds between heartbeats; a run is presumed hung after "
        "3 x this, never sooner than the platform's floor (see reconcile.MIN_STALE_SECONDS)",
    )
    max_restarts: int = Field(
        5, ge=0, le=1_000, description="failures within restart_window before giving up"
    )
    restart_window: int = Field(
        3_600,
        ge=600,
        le=2_592_000,
        description="seconds a failure counts toward max_restarts and the backoff; at least "
        "10 minutes, so a crash loop's failures (backoff 10 s doubling to 300 s) all count",
    )
    periods_per_year: int = Field(365, ge=1, le=366)
    config_hash: str = ""

    def run_config(self) -> dict[str, Any]:
        """The JSON snapshot stored in Dagster run config (the audit record).

        Unset (None) values are left out: Dagster's config maps hold no nulls, and the
        defaults come back when the snapshot is validated again in the run."""
        return self.model_dump(mode="json", exclude_none=True)


_CONFIG_KEYS = {
    "params",
    "data",
    "broker",
    "risk",
    "notifications",
    "live",
    "credentials",
    "heartbeat_interval",
    "max_restarts",
    "restart_window",
    "periods_per_year",
}
_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "broker": BrokerConfig,
    "risk": RiskConfig,
    "notifications": NotificationsConfig,
    "live": LiveConfig,
}


#: top-level integer settings; their defaults and bounds are BotConfig's fields
_SCALARS = ("heartbeat_interval", "max_restarts", "restart_window", "periods_per_year")


def _bounds(key: str) -> tuple[int, int]:
    metadata = BotConfig.model_fields[key].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


def _scalar(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config.{key}", f"expected an integer, found {quote(value)}")
    low, high = _bounds(key)
    if not low <= value <= high:
        raise ConfigError(f"config.{key}", f"expected {low}..{high}, found {value}")
    return value


@functools.cache
def ccxt_exchange_ids() -> frozenset[str]:
    """ccxt's exchange ids; imported lazily because ccxt is heavy and run workers of offline
    bots never need it."""
    import ccxt

    return frozenset(ccxt.exchanges)


def config_hash(desired: dict[str, Any]) -> str:
    """SHA-256 of the desired columns as canonical JSON: any change by any client changes it."""
    canonical = json.dumps(desired, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_config_json(raw: Any) -> dict[str, Any]:
    """The ``config`` column as a dict; text (SQLite, CLI) is parsed here, with a clear error,
    within the limits of :mod:`trading_platform.config_limits`."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, (bytes, str)):
        raw = load_config_text(raw)
    else:
        check_tree(raw)
    if not isinstance(raw, dict):
        raise ConfigError("config", f"expected a JSON object, found {type(raw).__name__}")
    return raw


def _require_text(value: Any, field: str, limit: int | None = None) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(field, "is required")
    if not isinstance(value, str):
        raise ConfigError(field, f"expected text, found {quote(value)}")
    return check_text(value.strip(), field, *((limit,) if limit else ()))


def validate_bot_config(
    *,
    name: str,
    strategy: Any,
    mode: Any,
    exchange: Any,
    symbol: Any,
    timeframe: Any,
    config: Any,
    registry: StrategyRegistry,
    bot_id: int | None = None,
    user_id: int | None = None,
    desired_hash: str = "",
    data_dirs: Sequence[Path] | None = None,
) -> BotConfig:
    """Validate the desired columns of one bot; raise :class:`ConfigError` on the first fault.

    ``data.path`` must lie inside ``data_dirs`` (default: ``TRADING_DATA_DIRS``, see
    :mod:`~trading_platform.feeds.data_dirs`): a bot never reads an arbitrary host file.
    """
    name = _require_text(name, "name", MAX_NAME_LENGTH)
    strategy = _require_text(strategy, "strategy")
    mode = _require_text(mode, "mode")
    if mode not in set(Mode):
        raise ConfigError("mode", f"expected backtest, paper or live, found {quote(mode)}")
    exchange = _require_text(exchange, "exchange").lower()
    if exchange not in OFFLINE_EXCHANGES and exchange not in ccxt_exchange_ids():
        raise ConfigError(
            "exchange", f"unknown exchange {quote(exchange)}; expected replay, csv or a ccxt id"
        )
    symbol = _require_text(symbol, "symbol")
    if not SYMBOL_PATTERN.match(symbol):
        raise ConfigError("symbol", f"expected BASE/QUOTE such as BTC/USDT, found {quote(symbol)}")
    timeframe = _require_text(timeframe, "timeframe")
    if timeframe not in TIMEFRAMES:
        raise ConfigError(
            "timeframe",
            f"unknown timeframe {quote(timeframe)}; expected one of {', '.join(TIMEFRAMES)}",
        )

    raw = parse_config_json(config)
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    if unknown:
        raise ConfigError(
            f"config.{unknown[0]}",
            f"unknown setting; expected one of {', '.join(sorted(_CONFIG_KEYS))}",
        )
    sections: dict[str, Any] = {}
    for key, model in _SECTIONS.items():
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"config.{key}", f"expected an object, found {quote(value)}")
        try:
            sections[key] = model.model_validate(value)
        except ValidationError as exc:
            raise from_validation_error(exc, f"config.{key}") from None

    try:
        validated = registry.validate(strategy, raw.get("params"))
    except ConfigError as exc:
        field = exc.field if exc.field == "strategy" else f"config.{exc.field}"
        raise ConfigError(field, exc.problem) from None

    credentials = raw.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, str) or not CREDENTIALS_PATTERN.match(credentials)
    ):
        raise ConfigError(
            "config.credentials",
            "expected the NAME of a credential set (letters, digits, _), never a key",
        )
    if mode == "live" and exchange in OFFLINE_EXCHANGES:
        raise ConfigError("exchange", f"live trading needs a real exchange, found {exchange!r}")
    if mode == "live" and credentials is None:
        raise ConfigError("config.credentials", "live trading needs a credential set name")
    data: DataConfig = sections["data"]
    if exchange == "csv" and not data.path:
        raise ConfigError("config.data.path", "exchange 'csv' needs a data file path")
    if mode == "backtest" and exchange not in OFFLINE_EXCHANGES and not data.path:
        raise ConfigError(
            "config.data.path",
            f"a backtest on {exchange!r} needs a data file (history download is not supported)",
        )
    if data.path:
        confine(data.path, data_dirs)

    scalars: dict[str, Any] = {}
    for key in _SCALARS:
        if key in raw:
            scalars[key] = _scalar(key, raw[key])

    return BotConfig(
        bot_id=bot_id,
        user_id=user_id,
        name=name,
        strategy=strategy,
        strategy_class=validated.name,
        mode=mode,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        params=validated.params,
        credentials=credentials,
        config_hash=desired_hash,
        **sections,
        **scalars,
    )


def validate_desired(
    name: str,
    desired: Mapping[str, Any],
    registry: StrategyRegistry,
    *,
    bot_id: int | None = None,
    user_id: int | None = None,
) -> BotConfig:
    """Validate a bot's desired columns as a mapping (what ``BotRow.desired()`` returns, or
    what the CLI is about to write); the snapshot carries their hash."""
    return validate_bot_config(
        name=name,
        strategy=desired.get("strategy"),
        mode=desired.get("mode"),
        exchange=desired.get("exchange"),
        symbol=desired.get("symbol"),
        timeframe=desired.get("timeframe"),
        config=desired.get("config"),
        registry=registry,
        bot_id=bot_id,
        user_id=user_id,
        desired_hash=config_hash(dict(desired)),
    )


def _lenient(raw: Any) -> dict[str, Any]:
    try:
        return parse_config_json(raw)
    except ConfigError:
        return {}


def heartbeat_interval_of(raw_config: Any) -> int:
    """The heartbeat interval a bot's ``config`` column asks for, or the default when the
    column is missing, malformed or out of bounds (health judges every row)."""
    value = _lenient(raw_config).get("heartbeat_interval")
    try:
        return _scalar("heartbeat_interval", value)
    except ConfigError:
        return BotConfig.model_fields["heartbeat_interval"].default


def starting_cash_of(raw_config: Any) -> float:
    """The simulated broker's starting cash a bot's ``config`` column asks for, or the
    default when it is missing or invalid (P&L snapshots judge every row)."""
    broker = _lenient(raw_config).get("broker")
    try:
        return BrokerConfig.model_validate(broker if isinstance(broker, dict) else {}).cash
    except ValidationError:
        return BrokerConfig.model_fields["cash"].default
