"""The one place a bot configuration is validated.

A bot row (desired columns of ``trading_bots``) becomes a :class:`BotConfig`, or a
:class:`BotConfigError` whose ``field`` is the dotted path an operator can find in the row
(``mode``, ``config.broker.cash``, ``config.params.fast``) and whose ``problem`` says what was
expected and what was found.  The sensor, the CLI and the backtest command all call
:func:`validate_bot_config`; the validated snapshot is what a run executes and what Dagster
keeps in run config as the audit record, so it never holds a secret (credentials are a
*name*; keys are read from the environment by the process that needs them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trading_platform.feeds.timeframes import TIMEFRAMES
from trading_platform.strategy_handler import StrategyConfigError, StrategyRegistry

OFFLINE_EXCHANGES = ("replay", "csv")
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$")
CREDENTIALS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class BotConfigError(ValueError):
    """An invalid bot configuration: ``field`` is where to look, ``problem`` what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


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


class BotConfig(BaseModel):
    """A validated bot: everything a run needs, and nothing secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_id: int | None = None
    user_id: int | None = None
    name: str
    strategy: str
    strategy_class: str = Field(description="registry name actually run (custom on fallback)")
    mode: Literal["backtest", "paper", "live"]
    exchange: str
    symbol: str
    timeframe: str
    params: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig = Field(default_factory=DataConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    credentials: str | None = None
    heartbeat_interval: int = Field(60, ge=1, le=3_600)
    max_restarts: int = Field(5, ge=0, le=1_000)
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
    "periods_per_year",
}
_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "broker": BrokerConfig,
    "risk": RiskConfig,
    "notifications": NotificationsConfig,
    "live": LiveConfig,
}


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
    """The ``config`` column as a dict; text (SQLite, CLI) is parsed here, with a clear error."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, (bytes, str)):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BotConfigError(
                "config", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    if not isinstance(raw, dict):
        raise BotConfigError("config", f"expected a JSON object, found {type(raw).__name__}")
    return raw


def _pydantic_problem(section: str, exc: ValidationError) -> BotConfigError:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    field = f"config.{section}.{location}" if location else f"config.{section}"
    found = error.get("input")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    elif error["type"] != "value_error":
        message = f"{message} (found {found!r})"
    else:
        message = message.removeprefix("Value error, ")
    return BotConfigError(field, message)


def _require_text(value: Any, field: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BotConfigError(field, "is required")
    if not isinstance(value, str):
        raise BotConfigError(field, f"expected text, found {value!r}")
    return value.strip()


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
) -> BotConfig:
    """Validate the desired columns of one bot; raise :class:`BotConfigError` on the first fault."""
    name = _require_text(name, "name")
    strategy = _require_text(strategy, "strategy")
    mode = _require_text(mode, "mode")
    if mode not in ("backtest", "paper", "live"):
        raise BotConfigError("mode", f"expected backtest, paper or live, found {mode!r}")
    exchange = _require_text(exchange, "exchange").lower()
    if exchange not in OFFLINE_EXCHANGES and exchange not in ccxt_exchange_ids():
        raise BotConfigError(
            "exchange", f"unknown exchange {exchange!r}; expected replay, csv or a ccxt id"
        )
    symbol = _require_text(symbol, "symbol")
    if not SYMBOL_PATTERN.match(symbol):
        raise BotConfigError("symbol", f"expected BASE/QUOTE such as BTC/USDT, found {symbol!r}")
    timeframe = _require_text(timeframe, "timeframe")
    if timeframe not in TIMEFRAMES:
        raise BotConfigError(
            "timeframe", f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        )

    raw = parse_config_json(config)
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    if unknown:
        raise BotConfigError(
            f"config.{unknown[0]}",
            f"unknown setting; expected one of {', '.join(sorted(_CONFIG_KEYS))}",
        )
    sections: dict[str, Any] = {}
    for key, model in _SECTIONS.items():
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            raise BotConfigError(f"config.{key}", f"expected an object, found {value!r}")
        try:
            sections[key] = model.model_validate(value)
        except ValidationError as exc:
            raise _pydantic_problem(key, exc) from None

    try:
        validated = registry.validate(strategy, raw.get("params"))
    except StrategyConfigError as exc:
        field = exc.field if exc.field == "strategy" else f"config.{exc.field}"
        raise BotConfigError(field, exc.problem) from None

    credentials = raw.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, str) or not CREDENTIALS_PATTERN.match(credentials)
    ):
        raise BotConfigError(
            "config.credentials",
            "expected the NAME of a credential set (letters, digits, _), never a key",
        )
    if mode == "live" and exchange in OFFLINE_EXCHANGES:
        raise BotConfigError("exchange", f"live trading needs a real exchange, found {exchange!r}")
    if mode == "live" and credentials is None:
        raise BotConfigError("config.credentials", "live trading needs a credential set name")
    data: DataConfig = sections["data"]
    if exchange == "csv" and not data.path:
        raise BotConfigError("config.data.path", "exchange 'csv' needs a data file path")
    if mode == "backtest" and exchange not in OFFLINE_EXCHANGES and not data.path:
        raise BotConfigError(
            "config.data.path",
            f"a backtest on {exchange!r} needs a data file (history download is not supported)",
        )

    scalars: dict[str, Any] = {}
    for key, bounds in (
        ("heartbeat_interval", (1, 3_600)),
        ("max_restarts", (0, 1_000)),
        ("periods_per_year", (1, 366)),
    ):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise BotConfigError(f"config.{key}", f"expected an integer, found {value!r}")
            if not bounds[0] <= value <= bounds[1]:
                raise BotConfigError(
                    f"config.{key}", f"expected {bounds[0]}..{bounds[1]}, found {value}"
                )
            scalars[key] = value

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
