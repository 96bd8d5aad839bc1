"""``trading-platform bots``: the operator's way to write a bot row without SQL.

It writes the desired columns only (the platform owns status, heartbeats and restarts), and
validates a row before writing it, so a typo is caught here rather than by the sensor.  The
one exception is ``ack-drift``: the operator's acknowledgement of a live bot's drift from the
exchange, which clears ``trading_bots.drift`` (the bot set it and waits for that).

The operator's actions (``enable``, ``disable``, ``pause``, ``resume``, ``reload``,
``forceexit``) go through :mod:`trading_platform.control`, as Telegram's do: the local shell
acts as an admin (``--as USER`` limits it to that user's bots), and each is audited in
``bot_status_events`` with ``actor`` ``cli:<login>``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from trading_platform.cli.common import PlatformError, find_row, json_option, open_engine
from trading_platform.cli.render import (
    print_action_results,
    print_bots,
    print_commands,
    row_json,
)
from trading_platform.config import parse_config_json, validate_desired
from trading_platform.contract import Mode
from trading_platform.control import actions
from trading_platform.control.actions import ActionResult
from trading_platform.control.operators import Operator, cli_operator
from trading_platform.db.bots import add_bot, delete_bot, get_bots, set_bot
from trading_platform.db.commands import CommandStatus, bot_commands
from trading_platform.db.drift import clear_drift
from trading_platform.db.positions import open_positions
from trading_platform.db.status import status_events
from trading_platform.db.users import ensure_user
from trading_platform.strategy_handler import load_registry

#: the modes of the database contract, in its order (backtest, paper, live)
MODES = click.Choice([mode.value for mode in Mode])


@click.group()
def bots() -> None:
    """Add, list, change and remove bots (rows of `trading_bots`).

    These commands write the desired columns only (enabled, strategy, mode, exchange, symbol,
    timeframe, config); the platform writes status, heartbeats and restarts, and its sensor
    starts, stops or reloads each bot to match.
    """


def _validate(name: str, desired: dict[str, Any], strategy_paths: tuple[Path, ...]) -> None:
    """Refuse a row the sensor would refuse, before it is written."""
    registry, _ = load_registry(strategy_paths)
    validate_desired(name, desired, registry)


@bots.command("add")
@click.argument("name")
@click.option("--strategy", required=True)
@click.option("--mode", type=MODES, default=Mode.PAPER.value)
@click.option("--exchange", default="replay", show_default=True)
@click.option("--symbol", default="BTC/USDT", show_default=True)
@click.option("--timeframe", default="1h", show_default=True)
@click.option("--config", "config_json", help="config JSON (params, data, broker, risk, ...)")
@click.option("--params", "params_json", help="strategy params JSON (merged into config)")
@click.option("--user", "username", help="owner username (created if missing)")
@click.option("--enable/--disabled", default=True, show_default=True)
@click.option("--strategy-path", multiple=True, type=click.Path(path_type=Path))
@click.pass_context
def bots_add(
    ctx: click.Context,
    name: str,
    strategy: str,
    mode: str,
    exchange: str,
    symbol: str,
    timeframe: str,
    config_json: str | None,
    params_json: str | None,
    username: str | None,
    enable: bool,
    strategy_path: tuple[Path, ...],
) -> None:
    """Add a bot; it is validated first, so a typo is caught here rather than by the sensor."""
    config = json_option(config_json, "config") or {}
    params = json_option(params_json, "params")
    if params is not None:
        config["params"] = params
    desired = {
        "enabled": enable,
        "strategy": strategy,
        "mode": mode,
        "exchange": exchange,
        "symbol": symbol,
        "timeframe": timeframe,
        "config": config,
    }
    _validate(name, desired, strategy_path)
    engine = open_engine(ctx)
    user_id = ensure_user(engine, username) if username else None
    bot_id = add_bot(engine, name=name, user_id=user_id, **desired)
    click.echo(f"added bot {bot_id} {name!r} ({'enabled' if enable else 'disabled'})")


@bots.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bots_list(ctx: click.Context, as_json: bool) -> None:
    """Every bot with its desired and observed state."""
    rows = get_bots(open_engine(ctx))
    if as_json:
        click.echo(json.dumps([row_json(row) for row in rows], indent=2, default=str))
        return
    print_bots(rows)


@bots.command("show")
@click.argument("bot")
@click.pass_context
def bots_show(ctx: click.Context, bot: str) -> None:
    """One bot, its recent status events and open position."""
    row = find_row(ctx, bot)
    engine = open_engine(ctx)
    click.echo(json.dumps(row_json(row), indent=2, default=str))
    events = status_events(engine, row.id)[-10:]
    if events:
        click.echo("recent status events:")
        for event in events:
            click.echo(
                f"  {event.at:%Y-%m-%d %H:%M:%S} {event.from_status} -> {event.to_status}: "
                f"{event.reason}"
            )
    for position in open_positions(engine, row.id):
        click.echo(f"open position: {position.size} {position.symbol} @ {position.avg_price}")


def _act(
    ctx: click.Context,
    action: Callable[[Engine, Operator, str], list[ActionResult]],
    bot: str,
    as_user: str | None,
) -> list[ActionResult]:
    """An operator action through :mod:`trading_platform.control` (the code path Telegram
    uses, authorised and audited the same way); exit status 1 if any bot refused it."""
    engine = open_engine(ctx)
    results = action(engine, cli_operator(engine, as_user), bot)
    print_action_results(results)
    if not all(result.ok for result in results):
        ctx.exit(1)
    return results


AS_USER = click.option(
    "--as", "as_user", metavar="USER", help="act as this user, with their rights (default: admin)"
)


@bots.command("enable")
@click.argument("bot")
@AS_USER
@click.pass_context
def bots_enable(ctx: click.Context, bot: str, as_user: str | None) -> None:
    """Desired state: running (BOT: a name, an id, or all)."""
    _act(ctx, actions.start, bot, as_user)


@bots.command("disable")
@click.argument("bot")
@AS_USER
@click.pass_context
def bots_disable(ctx: click.Context, bot: str, as_user: str | None) -> None:
    """Desired state: stopped; the sensor stops its run (BOT: a name, an id, or all)."""
    _act(ctx, actions.stop, bot, as_user)


@bots.command("pause")
@click.argument("bot")
@AS_USER
@click.pass_context
def bots_pause(ctx: click.Context, bot: str, as_user: str | None) -> None:
    """No new entries, exits still allowed; the bot keeps running (BOT: name, id or all)."""
    _act(ctx, actions.pause, bot, as_user)


@bots.command("resume")
@click.argument("bot")
@AS_USER
@click.pass_context
def bots_resume(ctx: click.Context, bot: str, as_user: str | None) -> None:
    """Allow new entries again after a pause (BOT: a name, an id, or all)."""
    _act(ctx, actions.resume, bot, as_user)


@bots.command("reload")
@click.argument("bot")
@AS_USER
@click.pass_context
def bots_reload(ctx: click.Context, bot: str, as_user: str | None) -> None:
    """Restart the bot's run with the same config (BOT: a name, an id, or all)."""
    _act(ctx, actions.reload, bot, as_user)


@bots.command("forceexit")
@click.argument("bot")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="seconds to wait for the bot's result (0: do not wait)",
)
@AS_USER
@click.pass_context
def bots_forceexit(ctx: click.Context, bot: str, wait_seconds: float, as_user: str | None) -> None:
    """Close the running bot's position at market now (one bot: a name or an id).

    A paper bot's order fills at its next bar, a live bot's at once.  Exit status 0 when
    the position was closed (or there was none), 1 when refused or failed, 2 when the
    result is not in after --wait seconds (see `bots commands BOT`).
    """
    (result,) = _act(ctx, actions.force_exit, bot, as_user)
    if result.command_id is None or wait_seconds <= 0:
        return
    command = actions.wait_for_command(open_engine(ctx), result.command_id, wait_seconds)
    click.echo(f"command {command.id} {command.status}: {command.result or 'no result yet'}")
    if command.status == CommandStatus.DONE:
        return
    ctx.exit(1 if command.final else 2)


@bots.command("commands")
@click.argument("bot")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.pass_context
def bots_commands(ctx: click.Context, bot: str, limit: int) -> None:
    """The bot's newest commands (bot_commands) with their status and result."""
    row = find_row(ctx, bot)
    print_commands(bot_commands(open_engine(ctx), row.id, limit))


@bots.command("set")
@click.argument("bot")
@click.option("--strategy")
@click.option("--mode", type=MODES)
@click.option("--exchange")
@click.option("--symbol")
@click.option("--timeframe")
@click.option("--config", "config_json", help="replace the whole config JSON")
@click.option("--params", "params_json", help="replace config.params")
@click.option("--strategy-path", multiple=True, type=click.Path(path_type=Path))
@click.pass_context
def bots_set(
    ctx: click.Context,
    bot: str,
    config_json: str | None,
    params_json: str | None,
    strategy_path: tuple[Path, ...],
    **columns: str | None,
) -> None:
    """Change desired columns; the sensor hot-reloads the bot with the new config."""
    row = find_row(ctx, bot)
    changes: dict[str, Any] = {key: value for key, value in columns.items() if value is not None}
    config = json_option(config_json, "config")
    params = json_option(params_json, "params")
    if params is not None:
        config = dict(config if config is not None else parse_config_json(row.config_text))
        config["params"] = params
    if config is not None:
        changes["config"] = config
    if not changes:
        raise PlatformError("nothing to change: give at least one option")
    desired = {**row.desired(), **changes}
    _validate(row.name, desired, strategy_path)
    set_bot(open_engine(ctx), row.id, **changes)
    click.echo(f"bot {row.id} {row.name!r} updated: {', '.join(sorted(changes))}")


@bots.command("delete")
@click.argument("bot")
@click.option("--yes", is_flag=True, help="do not ask")
@click.pass_context
def bots_delete(ctx: click.Context, bot: str, yes: bool) -> None:
    """Delete a bot row (its run is stopped; its orders and trades stay)."""
    row = find_row(ctx, bot)
    if not yes and sys.stdin.isatty():
        click.confirm(f"delete bot {row.id} {row.name!r}?", abort=True)
    delete_bot(open_engine(ctx), row.id)
    click.echo(f"deleted bot {row.id} {row.name!r}")


@bots.command("ack-drift")
@click.argument("bot")
@click.pass_context
def bots_ack_drift(ctx: click.Context, bot: str) -> None:
    """Acknowledge a live bot's drift from the exchange: new positions are allowed again.

    Check the account first (a manual trade, an order that is not the bot's): the running
    bot then takes its position from the exchange's balance and accepts the open orders it
    reported, at its next reconciliation (within `live.reconcile_interval`).
    """
    row = find_row(ctx, bot)
    cleared = clear_drift(open_engine(ctx), row.id, reason="drift acknowledged by the operator")
    if cleared is None:
        click.echo(f"bot {row.id} {row.name!r} has no drift to acknowledge")
        return
    click.echo(
        f"bot {row.id} {row.name!r}: drift acknowledged ({cleared}); it allows new positions "
        "again at its next reconciliation, taking its position from the exchange"
    )
