"""One builder for bots and their configs, shared by unit and end-to-end tests.

A bot is a paper bot on the generated ``replay`` market unless a test says otherwise: a test
passes the desired columns it cares about as overrides (``config`` replaces the whole config
object), so the values it depends on stay in the test.  The same columns become a row through
the db layer (:func:`add_bot`), a row written with plain SQL as an operator would
(:func:`insert_bot_sql`), or a validated :class:`~trading_platform.config.BotConfig`
(:func:`bot_config`, :func:`add_bot_config`).

A bot inserted with an owner and a config naming a credential set gets the grant an operator
would give (``trading-platform credentials grant``), unless the test says ``grant=False``: a
test about another rule needs a bot the sensor and the run accept.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from trading_platform.config import BotConfig, validate_desired
from trading_platform.db import bots, grants
from trading_platform.db.models import DESIRED_COLUMNS
from trading_platform.db.users import ensure_user
from trading_platform.strategy_handler import StrategyRegistry

#: the strategy plugins the tests trade with (``flip_flop``, ``always_raises``)
PLUGINS = Path(__file__).resolve().parent / "plugins"

#: the desired columns of the default bot
PAPER_BOT: dict[str, Any] = {
    "enabled": True,
    "strategy": "sma_cross",
    "mode": "paper",
    "exchange": "replay",
    "symbol": "BTC/USDT",
    "timeframe": "1m",
    "config": {"params": {"fast": 5, "slow": 20}},
}

#: a replay bot that trades within seconds, as the end-to-end tests run it: short averages,
#: a bar every half second, a heartbeat every 2 s
FAST_PAPER_CONFIG: dict[str, Any] = {
    "params": {"fast": 3, "slow": 8},
    "data": {"pace_seconds": 0.5, "history_bars": 20, "seed": 3},
    "heartbeat_interval": 2,
}

#: the ``flip_flop`` plugin on one-second candles of an exchange (the emulator): a round trip
#: of 0.01 BTC every few bars; with :data:`FLIP_FLOP_CONFIG` and a heartbeat interval
FLIP_FLOP_BOT: dict[str, Any] = {"strategy": "flip_flop", "exchange": "binance", "timeframe": "1s"}
FLIP_FLOP_CONFIG: dict[str, Any] = {
    "params": {"hold": 2},
    "risk": {"stake": 0.01},
    "data": {"history_bars": 5},
}


def desired(**overrides: Any) -> dict[str, Any]:
    """The desired columns of the default bot, ``overrides`` replacing whole columns."""
    unknown = sorted(set(overrides) - set(DESIRED_COLUMNS))
    if unknown:
        raise TypeError(f"not desired columns: {', '.join(unknown)}")
    return copy.deepcopy({**PAPER_BOT, **overrides})


def _owner(engine: Engine, user: str | None, user_id: int | None) -> int | None:
    if user is None:
        return user_id
    if user_id is not None:
        raise TypeError("give the owner as user (a name) or user_id, not both")
    return ensure_user(engine, user)


def grant_named_credentials(engine: Engine, owner: int | None, config: Any) -> None:
    """Grant ``owner`` the credential set ``config`` (a dict or JSON text) names, if any."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return
    name = config.get("credentials") if isinstance(config, dict) else None
    if owner is not None and isinstance(name, str):
        grants.grant(engine, owner, name, granted_by="tests")


def add_bot(
    engine: Engine,
    name: str,
    *,
    user: str | None = None,
    user_id: int | None = None,
    grant: bool = True,
    **overrides: Any,
) -> int:
    """Insert a bot through the db layer; ``user`` names an owner (created if missing), or
    ``user_id`` is one.  Returns the bot's id."""
    owner = _owner(engine, user, user_id)
    values = desired(**overrides)
    if grant:
        grant_named_credentials(engine, owner, values["config"])
    return bots.add_bot(engine, name=name, user_id=owner, **values)


def insert_bot_sql(
    engine: Engine, name: str, *, user_id: int | None = None, grant: bool = True, **overrides: Any
) -> int:
    """Insert a bot with a plain SQL ``INSERT``, as an operator would: ``config`` goes in as
    JSON text (a dict is dumped; text, malformed or not, is written as given).  Returns the
    bot's id."""
    values = desired(**overrides)
    if grant:
        grant_named_credentials(engine, user_id, values["config"])
    if not isinstance(values["config"], str | None):
        values["config"] = json.dumps(values["config"])
    if user_id is not None:
        values["user_id"] = user_id
    names = ", ".join(["name", *values])
    placeholders = ", ".join([":name", *(f":{key}" for key in values)])
    with engine.begin() as connection:
        connection.execute(
            text(f"INSERT INTO trading_bots ({names}) VALUES ({placeholders})"),
            {"name": name, **values},
        )
        return connection.execute(
            text("SELECT id FROM trading_bots WHERE name = :name"), {"name": name}
        ).scalar_one()


def bot_config(
    registry: StrategyRegistry,
    *,
    bot_id: int | None = None,
    name: str = "bot",
    user_id: int | None = None,
    config_hash: str | None = None,
    **overrides: Any,
) -> BotConfig:
    """The default bot with ``overrides``, validated as the sensor validates a row (raises
    :class:`~trading_platform.errors.ConfigError` like it); ``config_hash`` replaces the
    hash of the columns (a test that names its config versions)."""
    config = validate_desired(name, desired(**overrides), registry, bot_id=bot_id, user_id=user_id)
    if config_hash is not None:
        config = config.model_copy(update={"config_hash": config_hash})
    return config


def add_bot_config(
    engine: Engine,
    registry: StrategyRegistry,
    name: str,
    *,
    user: str | None = None,
    user_id: int | None = None,
    grant: bool = True,
    **overrides: Any,
) -> BotConfig:
    """Insert a bot (as :func:`add_bot`) and return its validated config, carrying its id:
    what a run of the bot executes."""
    owner = _owner(engine, user, user_id)
    bot_id = add_bot(engine, name, user_id=owner, grant=grant, **overrides)
    return bot_config(registry, bot_id=bot_id, name=name, user_id=owner, **overrides)


def add_emulator_bot(
    engine: Engine,
    registry: StrategyRegistry,
    name: str,
    *,
    user_id: int,
    mode: str = "live",
    **config: Any,
) -> BotConfig:
    """A ``flip_flop`` bot (:data:`FLIP_FLOP_BOT`) of ``user_id`` on the exchange emulator,
    beating every second, ``config`` replacing keys of :data:`FLIP_FLOP_CONFIG`; a live one
    trades with the ``EMU`` credential set (granted to its owner): what the runner-level
    tests of the live path run."""
    return add_bot_config(
        engine,
        registry,
        name,
        user_id=user_id,
        **FLIP_FLOP_BOT,
        mode=mode,
        config={
            **FLIP_FLOP_CONFIG,
            "heartbeat_interval": 1,
            **({"credentials": "EMU"} if mode == "live" else {}),
            **config,
        },
    )
