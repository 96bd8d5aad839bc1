"""The ``trading-platform`` command.

Every error an operator can cause (a bad file, a bad parameter, an unknown bot) ends as one
line ``Error: <field>: <problem>`` on stderr and exit status 1, never a traceback; a
traceback means a bug in the platform.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
import sqlalchemy
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from trading_platform.config import parse_config_json, validate_bot_config
from trading_platform.db import make_engine
from trading_platform.db.bots import BotRow, add_bot, delete_bot, find_bot, get_bots, set_bot
from trading_platform.db.engine import database_url as default_database_url
from trading_platform.db.migrate import upgrade as upgrade_schema
from trading_platform.db.positions import open_positions
from trading_platform.db.status import status_events
from trading_platform.db.users import ensure_user
from trading_platform.engine.backtest import BacktestResult, run_backtest
from trading_platform.errors import ConfigError
from trading_platform.feeds.files import DataError
from trading_platform.feeds.history import historical_frame
from trading_platform.strategy_handler import load_registry

console = Console()
err_console = Console(stderr=True)

PROGRESS_AFTER_SECONDS = 2.0


class PlatformError(click.ClickException):
    """An operator error: printed as one line, exit status 1."""


OPERATOR_ERRORS = (ConfigError, DataError)


class PlatformGroup(click.Group):
    """Turns operator errors raised anywhere below into one ``Error: ...`` line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OPERATOR_ERRORS as exc:
            raise PlatformError(str(exc)) from None
        except sqlalchemy.exc.OperationalError as exc:
            url = ctx.params.get("database_url") or default_database_url()
            shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
            if "no such table" in str(exc) or "does not exist" in str(exc):
                raise PlatformError(
                    f"the bot database {shown} has no platform tables: run "
                    "`trading-platform db upgrade`, or point TRADING_HOME (make run uses ./var) "
                    "or TRADING_DATABASE_URL at the platform's database"
                ) from None
            raise PlatformError(f"the bot database {shown} failed: {exc.orig}") from None


def _json_option(value: str | None, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise PlatformError(f"{field}: malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(parsed, dict):
        raise PlatformError(f"{field}: expected a JSON object, found {type(parsed).__name__}")
    return parsed


def _engine(ctx: click.Context):  # type: ignore[no-untyped-def]
    return make_engine(ctx.obj["database_url"])


@click.group(cls=PlatformGroup)
@click.option(
    "--database-url",
    envvar="TRADING_DATABASE_URL",
    default=None,
    help="Bot database (default: SQLite under TRADING_HOME). Env: TRADING_DATABASE_URL.",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Run backtrader trading bots under Dagster, configured by rows of `trading_bots`."""
    ctx.ensure_object(dict)
    ctx.obj["database_url"] = database_url or default_database_url()


@cli.group()
def db() -> None:
    """The bot database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the schema (idempotent)."""
    revision = upgrade_schema(ctx.obj["database_url"])
    click.echo(f"database at revision {revision}")


@cli.group()
def bots() -> None:
    """Add, list, change and remove bots (writes the desired columns only)."""


def _find(ctx: click.Context, bot: str) -> BotRow:
    row = find_bot(_engine(ctx), bot)
    if row is None:
        raise PlatformError(f"bot: no bot with id or name {bot!r}")
    return row


def _validate_row(
    name: str, desired: dict[str, Any], strategy_paths: tuple[Path, ...] = ()
) -> None:
    registry, _ = load_registry(strategy_paths)
    validate_bot_config(
        name=name,
        strategy=desired.get("strategy"),
        mode=desired.get("mode"),
        exchange=desired.get("exchange"),
        symbol=desired.get("symbol"),
        timeframe=desired.get("timeframe"),
        config=desired.get("config"),
        registry=registry,
    )


@bots.command("add")
@click.argument("name")
@click.option("--strategy", required=True)
@click.option("--mode", type=click.Choice(["backtest", "paper", "live"]), default="paper")
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
    config = _json_option(config_json, "config") or {}
    params = _json_option(params_json, "params")
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
    _validate_row(name, desired, strategy_path)
    engine = _engine(ctx)
    user_id = ensure_user(engine, username) if username else None
    bot_id = add_bot(engine, name=name, user_id=user_id, **desired)
    click.echo(f"added bot {bot_id} {name!r} ({'enabled' if enable else 'disabled'})")


@bots.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bots_list(ctx: click.Context, as_json: bool) -> None:
    """Every bot with its desired and observed state."""
    rows = get_bots(_engine(ctx))
    if as_json:
        click.echo(json.dumps([_row_json(row) for row in rows], indent=2, default=str))
        return
    table = Table(
        "id",
        "name",
        "enabled",
        "strategy",
        "mode",
        "exchange",
        "symbol",
        "status",
        "last heartbeat",
        "restarts",
    )
    for row in rows:
        table.add_row(
            str(row.id),
            row.name,
            "yes" if row.enabled else "no",
            row.strategy or "",
            row.mode or "",
            row.exchange or "",
            row.symbol or "",
            row.status,
            row.last_heartbeat.strftime("%Y-%m-%d %H:%M:%S") if row.last_heartbeat else "-",
            str(row.restart_count),
        )
    console.print(table)


def _row_json(row: BotRow) -> dict[str, Any]:
    data = dict(row.__dict__)
    config = data.pop("config_text")
    try:
        data["config"] = json.loads(config) if config else None
    except ValueError:
        data["config"] = config
    return data


@bots.command("show")
@click.argument("bot")
@click.pass_context
def bots_show(ctx: click.Context, bot: str) -> None:
    """One bot, its recent status events and open position."""
    row = _find(ctx, bot)
    engine = _engine(ctx)
    click.echo(json.dumps(_row_json(row), indent=2, default=str))
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


def _set_enabled(ctx: click.Context, bot: str, enabled: bool) -> None:
    row = _find(ctx, bot)
    set_bot(_engine(ctx), row.id, enabled=enabled)
    click.echo(f"bot {row.id} {row.name!r} {'enabled' if enabled else 'disabled'}")


@bots.command("enable")
@click.argument("bot")
@click.pass_context
def bots_enable(ctx: click.Context, bot: str) -> None:
    """Desired state: running."""
    _set_enabled(ctx, bot, True)


@bots.command("disable")
@click.argument("bot")
@click.pass_context
def bots_disable(ctx: click.Context, bot: str) -> None:
    """Desired state: stopped (the sensor stops its run)."""
    _set_enabled(ctx, bot, False)


@bots.command("set")
@click.argument("bot")
@click.option("--strategy")
@click.option("--mode", type=click.Choice(["backtest", "paper", "live"]))
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
    row = _find(ctx, bot)
    changes: dict[str, Any] = {key: value for key, value in columns.items() if value is not None}
    config = _json_option(config_json, "config")
    params = _json_option(params_json, "params")
    if params is not None:
        config = dict(config if config is not None else parse_config_json(row.config_text))
        config["params"] = params
    if config is not None:
        changes["config"] = config
    if not changes:
        raise PlatformError("nothing to change: give at least one option")
    desired = {**row.desired(), **changes}
    _validate_row(row.name, desired, strategy_path)
    set_bot(_engine(ctx), row.id, **changes)
    click.echo(f"bot {row.id} {row.name!r} updated: {', '.join(sorted(changes))}")


@bots.command("delete")
@click.argument("bot")
@click.option("--yes", is_flag=True, help="do not ask")
@click.pass_context
def bots_delete(ctx: click.Context, bot: str, yes: bool) -> None:
    """Delete a bot row (its run is stopped; its orders and trades stay)."""
    row = _find(ctx, bot)
    if not yes and sys.stdin.isatty():
        click.confirm(f"delete bot {row.id} {row.name!r}?", abort=True)
    delete_bot(_engine(ctx), row.id)
    click.echo(f"deleted bot {row.id} {row.name!r}")


@cli.group()
def strategies() -> None:
    """Strategy plugins."""


@strategies.command("list")
@click.option(
    "--strategy-path",
    multiple=True,
    type=click.Path(path_type=Path),
    help="extra plugin directory (also TRADING_STRATEGY_PATHS)",
)
@click.option("--json", "as_json", is_flag=True)
def strategies_list(strategy_path: tuple[Path, ...], as_json: bool) -> None:
    """Registered strategies with their parameters, defaults and bounds."""
    registry, report = load_registry(strategy_path)
    infos = registry.list()
    for path, problem in report.errors.items():
        err_console.print(f"[yellow]warning[/]: could not load {path}: {problem}", soft_wrap=True)
    if as_json:
        click.echo(json.dumps([_info_json(info) for info in infos], indent=2, default=str))
        return
    for info in infos:
        console.print(f"[bold]{info.name}[/] - {info.summary}")
        for param in info.params:
            bounds = f" ({param.bounds})" if param.bounds else ""
            console.print(f"    {param.name}: {param.type} = {param.default!r}{bounds}")


def _info_json(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "summary": info.summary,
        "source": str(info.source) if info.source else None,
        "params": [dict(param.__dict__) for param in info.params],
    }


@cli.command()
@click.option("--strategy", required=True, help="registered strategy name")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    help="CSV or Parquet file (default: the generated demo series)",
)
@click.option("--params", "params_json", help="strategy params as JSON")
@click.option("--cash", type=float, default=10_000.0, show_default=True)
@click.option(
    "--commission",
    type=float,
    default=0.001,
    show_default=True,
    help="fraction of traded value, 0.001 = 0.1 %",
)
@click.option("--slippage", type=float, default=0.0, show_default=True)
@click.option("--stake", type=float, help="fixed size per order (default: 95 % of equity)")
@click.option("--from", "start", help="first day (YYYY-MM-DD)")
@click.option("--to", "end", help="last day (YYYY-MM-DD, inclusive)")
@click.option("--symbol", default="BTC/USDT", show_default=True)
@click.option("--timeframe", default="1d", show_default=True)
@click.option(
    "--periods-per-year",
    type=int,
    default=365,
    show_default=True,
    help="365 for crypto, 252 for stocks",
)
@click.option("--strategy-path", multiple=True, type=click.Path(path_type=Path))
@click.option("--bot", "bot_ref", help="record orders and trades for this bot (id or name)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.pass_context
def backtest(
    ctx: click.Context,
    strategy: str,
    data_path: Path | None,
    params_json: str | None,
    cash: float,
    commission: float,
    slippage: float,
    stake: float | None,
    start: str | None,
    end: str | None,
    symbol: str,
    timeframe: str,
    periods_per_year: int,
    strategy_path: tuple[Path, ...],
    bot_ref: str | None,
    as_json: bool,
) -> None:
    """Backtest a strategy on a file of bars and print the results."""
    registry, report = load_registry(strategy_path)
    for path, problem in report.errors.items():
        err_console.print(f"[yellow]warning[/]: could not load {path}: {problem}", soft_wrap=True)
    params = _json_option(params_json, "params")
    data: dict[str, Any] = {"start": start, "end": end}
    if data_path is not None:
        data["path"] = str(data_path)
    risk = {"stake": stake} if stake is not None else {}
    engine = None
    bot_id = None
    if bot_ref is not None:
        engine = _engine(ctx)
        bot_id = _find(ctx, bot_ref).id
    config = validate_bot_config(
        name="cli-backtest",
        strategy=strategy,
        mode="backtest",
        exchange="csv" if data_path is not None else "replay",
        symbol=symbol,
        timeframe=timeframe,
        config={
            "params": params or {},
            "data": {key: value for key, value in data.items() if value is not None},
            "broker": {"cash": cash, "commission": commission, "slippage": slippage},
            "risk": risk,
            "periods_per_year": periods_per_year,
        },
        registry=registry,
        bot_id=bot_id,
    )
    frame = historical_frame(config)
    if as_json:
        result = run_backtest(config, registry, frame=frame, database=engine)
        click.echo(json.dumps(result.to_json(), default=str))
        return
    result = _run_with_progress(config, registry, frame, engine)
    _print_summary(result)


def _run_with_progress(config, registry, frame, engine) -> BacktestResult:  # type: ignore[no-untyped-def]
    """Show a progress bar only once a backtest has taken more than a couple of seconds."""
    started = time.monotonic()
    progress = Progress(
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} bars"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task("backtest", total=len(frame))
    shown = False

    def on_progress(bars: int) -> None:
        nonlocal shown
        if not shown and time.monotonic() - started > PROGRESS_AFTER_SECONDS:
            progress.start()
            shown = True
        if shown:
            progress.update(task, completed=bars)

    try:
        return run_backtest(config, registry, frame=frame, progress=on_progress, database=engine)
    finally:
        if shown:
            progress.stop()


def _print_summary(result: BacktestResult) -> None:
    metrics = result.metrics

    def pct(value: Any) -> str:
        return "-" if value is None else f"{value * 100:,.2f} %"

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:,.2f}"

    table = Table(
        title=f"{result.strategy} on {result.symbol} {result.timeframe}", show_header=False
    )
    period = f"{result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}" if result.start else "-"
    rows = [
        ("period", f"{period} ({result.bars:,} bars)"),
        ("initial value", num(result.initial_value)),
        ("final value", num(result.final_value)),
        ("cash", num(result.cash)),
        ("open position", f"{result.position_size:g}"),
        ("total return", pct(metrics["total_return"])),
        ("max drawdown", f"{num(metrics['max_drawdown'])} ({pct(metrics['max_drawdown_pct'])})"),
        ("sharpe", num(metrics["sharpe"])),
        ("sortino", num(metrics["sortino"])),
        ("calmar", num(metrics["calmar"])),
        ("trades", str(metrics["trade_count"])),
        ("win rate", pct(metrics["win_rate"])),
        ("profit factor", num(metrics["profit_factor"])),
        ("expectancy", num(metrics["expectancy"])),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if result.trades:
        trades = Table(
            "entry",
            "exit",
            "size",
            "entry price",
            "exit price",
            "fee",
            "P&L",
            "entry logic",
            "exit logic",
            title="last trades",
        )
        for trade in result.trades[-10:]:
            trades.add_row(
                f"{trade.entry_time:%Y-%m-%d %H:%M}",
                f"{trade.exit_time:%Y-%m-%d %H:%M}",
                f"{trade.size:.6g}",
                num(trade.entry_price),
                num(trade.exit_price),
                num(trade.fee),
                num(trade.pnl_net),
                trade.entry_logic or "",
                trade.exit_logic or "",
            )
        console.print(trades)


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Create the demo user and demo bots (skips those that exist)."""
    from trading_platform.demo import seed_demo

    created = seed_demo(_engine(ctx))
    click.echo(
        f"demo bots created: {', '.join(created)}" if created else "demo bots already present"
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True)
@click.option("--no-demo", is_flag=True, help="do not seed the demo bots")
@click.pass_context
def run(ctx: click.Context, host: str, port: int, no_demo: bool) -> None:
    """Migrate, seed the demo, and start Dagster (UI, daemon, code server)."""
    import os

    from trading_platform.demo import seed_demo, write_demo_files

    url = ctx.obj["database_url"]
    click.echo(f"bot database: {url.split('@')[-1]}")
    click.echo(f"schema at revision {upgrade_schema(url)}")
    if not no_demo:
        created = seed_demo(make_engine(url))
        click.echo(f"demo bots created: {', '.join(created)}" if created else "demo bots present")
        click.echo(f"demo data: {write_demo_files()}")
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(repo / "dagster_home"))
    env["TRADING_DATABASE_URL"] = url
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    click.echo(f"starting Dagster on http://{host}:{port} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(repo / "workspace.yaml"), "-h", host, "-p", str(port)]
    os.execve(command[0], command, env)


def main() -> None:
    """Console entry point."""
    cli(prog_name="trading-platform")
