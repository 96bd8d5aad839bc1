"""How the commands show things to a person: rich tables and JSON-ready dicts.

Kept out of the command modules so that they read as "validate, call, report", and so that
a change of layout touches one file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.table import Table

from trading_platform.cli.common import console
from trading_platform.cli.layout import Column, age, fitted_table, short_time
from trading_platform.db.bots import BotRow
from trading_platform.db.types import utcnow
from trading_platform.metrics.report_figures import FIGURES, format_figure
from trading_platform.strategy_handler import StrategyInfo

if TYPE_CHECKING:
    from trading_platform.control.actions import ActionResult
    from trading_platform.db.commands import CommandRow
    from trading_platform.db.models import User
    from trading_platform.engine.backtest import BacktestResult


def row_json(row: BotRow) -> dict[str, Any]:
    """A bot row with its ``config`` parsed, so ``--json`` output can be piped to ``jq``; a
    malformed column is shown as the text it is rather than hidden."""
    data = dict(row.__dict__)
    config = data.pop("config_text")
    try:
        data["config"] = json.loads(config) if config else None
    except ValueError:
        data["config"] = config
    return data


#: ``bots list``: in a narrow terminal the market goes first, then the strategy; name,
#: state and heartbeat always stay (``bots show NAME`` has everything)
BOT_COLUMNS = (
    Column("id", justify="right"),
    Column("name", fold=True),
    Column("on"),
    Column("mode"),
    Column("status"),
    Column("heartbeat"),
    Column("restarts", justify="right", drop=1),
    Column("strategy", drop=2),
    Column("market", drop=3),
)


def print_bots(rows: Iterable[BotRow], now: dt.datetime | None = None) -> None:
    """Desired and observed state side by side: the question an operator asks first."""
    now = now or utcnow()
    cells = [
        (
            str(row.id),
            row.name,
            "yes" if row.enabled else "no",
            row.mode or "",
            row.status,
            age(row.last_heartbeat, now),
            str(row.restart_count),
            row.strategy or "",
            f"{row.exchange or ''} {row.symbol or ''}".strip(),
        )
        for row in rows
    ]
    console.print(fitted_table(console, BOT_COLUMNS, cells))


def print_action_results(results: Iterable[ActionResult]) -> None:
    """One line per bot: what the action did, or why it was refused."""
    for result in results:
        mark = "" if result.ok else "refused: "
        console.print(
            f"bot {result.bot_id} {result.bot_name!r}: {mark}{result.text}", soft_wrap=True
        )


def print_commands(rows: Iterable[CommandRow]) -> None:
    """A bot's commands, newest last; the result wraps within 80 columns."""
    table = Table("id", "command", "by", "requested", "status", "result")
    for row in rows:
        table.add_row(
            str(row.id),
            row.command,
            row.requested_by or "",
            f"{row.requested_at:%m-%d %H:%M:%S}",
            row.status,
            row.result or "",
        )
    console.print(table)


def print_users(users: Iterable[User]) -> None:
    """Who may own bots and command them; fits 80 columns."""
    table = Table("id", "username", "email", "telegram", "admin", "created")
    for user in users:
        table.add_row(
            str(user.id),
            user.username,
            user.email or "",
            user.telegram_user_id or "",
            "yes" if user.is_admin else "no",
            f"{user.created_at:%Y-%m-%d}" if user.created_at else "",
        )
    console.print(table)


def info_json(info: StrategyInfo) -> dict[str, Any]:
    """A strategy's description with its source as text (a path is not JSON)."""
    return {
        "name": info.name,
        "summary": info.summary,
        "source": str(info.source) if info.source else None,
        "params": [dict(param.__dict__) for param in info.params],
    }


def print_strategies(infos: Iterable[StrategyInfo]) -> None:
    """Each strategy with the parameters a bot's ``config.params`` may set."""
    for info in infos:
        console.print(f"[bold]{info.name}[/] - {info.summary}")
        for param in info.params:
            bounds = f" ({param.bounds})" if param.bounds else ""
            console.print(f"    {param.name}: {param.type} = {param.default!r}{bounds}")


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def print_backtest_summary(result: BacktestResult) -> None:
    """The figures a person compares between two backtests (every one of the report's
    ``FIGURES``), then the last trades to check them against."""
    metrics = result.metrics
    table = Table(
        title=f"{result.strategy} on {result.symbol} {result.timeframe}", show_header=False
    )
    period = f"{result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}" if result.start else "-"
    rows = [
        ("period", f"{period} ({result.bars:,} bars)"),
        ("initial value", _num(result.initial_value)),
        ("final value", _num(result.final_value)),
        ("cash", _num(result.cash)),
        ("open position", f"{result.position_size:g}"),
    ]
    rows += [
        (figure.label, format_figure(figure, metrics.get(figure.key)))
        for figure in FIGURES
        if figure.key in metrics
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if result.trades:
        console.print(_trades_table(result))


#: the last trades of a backtest: in a narrow terminal the fee goes first, then the logic
#: labels (``--json`` has them all)
TRADE_COLUMNS = (
    Column("entry"),
    Column("exit"),
    Column("size", justify="right"),
    Column("entry price", justify="right"),
    Column("exit price", justify="right"),
    Column("P&L", justify="right"),
    Column("exit logic", fold=True, drop=1),
    Column("entry logic", fold=True, drop=2),
    Column("fee", justify="right", drop=3),
)


def _trades_table(result: BacktestResult) -> Table:
    cells = [
        (
            short_time(trade.entry_time),
            short_time(trade.exit_time),
            f"{trade.size:.6g}",
            _num(trade.entry_price),
            _num(trade.exit_price),
            _num(trade.pnl_net),
            trade.exit_logic or "",
            trade.entry_logic or "",
            _num(trade.fee),
        )
        for trade in result.trades[-10:]
    ]
    return fitted_table(console, TRADE_COLUMNS, cells, title="last trades")
