"""P&L and health as assets, with the bot tables as their upstream sources.

Lineage: ``trading_trades``/``trading_positions``/``trading_bots`` -> ``bot_performance``
-> ``portfolio_pnl``, and ``trading_bots`` -> ``bot_health``.  Every materialization is
recomputed from the database (the monitoring package), so a missed tick loses nothing.
"""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from trading_platform.monitoring import health as health_rules
from trading_platform.monitoring import snapshots
from trading_platform.notifications import messages, outbox
from trading_platform.orchestration import runs
from trading_platform.orchestration.resources import BotDatabase

GROUP = "trading"
SOURCES = GROUP  # one group: the UI shows the whole lineage as one graph

trading_bots = AssetSpec(
    "trading_bots",
    group_name=SOURCES,
    description="Bot configuration (desired state) and observed state; written by operators "
    "with SQL or the CLI, and by the running bots.",
)
trading_trades = AssetSpec(
    "trading_trades", group_name=SOURCES, description="Every fill of every bot."
)
trading_positions = AssetSpec(
    "trading_positions", group_name=SOURCES, description="Open and closed positions per bot."
)
SOURCE_SPECS = [trading_bots, trading_trades, trading_positions]


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> MetadataValue:
    return MetadataValue.table(
        records=[TableRecord(dict(row)) for row in rows],
        schema=TableSchema(columns=[TableColumn(name, kind) for name, kind in columns]),
    )


@asset(
    deps=[trading_bots],
    group_name=GROUP,
    description="Per bot: status, heartbeat age, whether its run is active, restarts.",
)
def bot_health(context: AssetExecutionContext, bot_database: BotDatabase) -> MaterializeResult:
    engine = bot_database.engine()
    rows = health_rules.bot_health(engine, runs.active_bot_ids(context.instance))
    counts = health_rules.counts(rows)
    for row in health_rules.stale_heartbeats(rows):
        if row.last_heartbeat is None:
            continue  # never started: the sensor's own messages say why
        # one message per incident: the key holds the last heartbeat the bot managed
        since = row.last_heartbeat.isoformat()
        outbox.enqueue(
            engine,
            messages.bot_unhealthy(row.name, row.problem or "unhealthy"),
            bot_id=row.bot_id,
            dedupe_key=f"unhealthy:{row.bot_id}:{since}",
        )
    table = [
        {
            "bot_id": row.bot_id,
            "name": row.name,
            "enabled": row.enabled,
            "status": row.status,
            "heartbeat_age_s": round(row.heartbeat_age_seconds, 1)
            if row.heartbeat_age_seconds is not None
            else None,
            "run_active": row.run_active,
            "restarts": row.restart_count,
            "problem": row.problem or "",
        }
        for row in rows[:500]
    ]
    return MaterializeResult(
        metadata={
            **{name: MetadataValue.int(value) for name, value in counts.items()},
            "bots": MetadataValue.int(len(rows)),
            "table": _table(
                table,
                [
                    ("bot_id", "int"),
                    ("name", "string"),
                    ("enabled", "bool"),
                    ("status", "string"),
                    ("heartbeat_age_s", "float"),
                    ("run_active", "bool"),
                    ("restarts", "int"),
                    ("problem", "string"),
                ],
            ),
        }
    )


@asset(
    deps=[trading_trades, trading_positions, trading_bots],
    group_name=GROUP,
    description="A metric_snapshots row per bot: balance, equity, P&L, trades, win rate, "
    "profit factor, max drawdown, Sharpe.",
)
def bot_performance(bot_database: BotDatabase) -> MaterializeResult:
    engine = bot_database.engine()
    rows = snapshots.compute(engine)
    written = snapshots.write_snapshots(engine, rows, dt.datetime.now(dt.UTC))
    table = [
        {
            "bot_id": r.bot_id,
            "name": r.name,
            "equity": round(r.equity, 2),
            "realized_pnl": round(r.realized_pnl, 2),
            "unrealized_pnl": round(r.unrealized_pnl, 2),
            "trades": r.trade_count,
            "win_rate": round(r.win_rate, 4) if r.win_rate is not None else None,
            "max_drawdown": round(r.max_drawdown, 4),
            "sharpe": round(r.sharpe, 3) if r.sharpe is not None else None,
        }
        for r in rows[:500]
    ]
    return MaterializeResult(
        metadata={
            "snapshots_written": MetadataValue.int(written),
            "table": _table(
                table,
                [
                    ("bot_id", "int"),
                    ("name", "string"),
                    ("equity", "float"),
                    ("realized_pnl", "float"),
                    ("unrealized_pnl", "float"),
                    ("trades", "int"),
                    ("win_rate", "float"),
                    ("max_drawdown", "float"),
                    ("sharpe", "float"),
                ],
            ),
        }
    )


@asset(
    deps=[bot_performance],
    group_name=GROUP,
    description="Totals per user and overall: equity, P&L, open positions (plotted over time).",
)
def portfolio_pnl(bot_database: BotDatabase) -> MaterializeResult:
    rows = snapshots.latest_snapshots(bot_database.engine())
    overall, by_user = snapshots.portfolio(rows)
    return MaterializeResult(
        metadata={
            "total_equity": MetadataValue.float(round(overall.equity, 2)),
            "total_pnl": MetadataValue.float(round(overall.total_pnl, 2)),
            "realized_pnl": MetadataValue.float(round(overall.realized_pnl, 2)),
            "unrealized_pnl": MetadataValue.float(round(overall.unrealized_pnl, 2)),
            "open_positions": MetadataValue.int(overall.open_positions),
            "bots": MetadataValue.int(overall.bots),
            "by_user": _table(
                [
                    {
                        "user": user,
                        **{
                            k: round(v, 2) if isinstance(v, float) else v
                            for k, v in snapshots.as_dict(totals).items()
                        },
                    }
                    for user, totals in by_user.items()
                ],
                [
                    ("user", "string"),
                    ("equity", "float"),
                    ("realized_pnl", "float"),
                    ("unrealized_pnl", "float"),
                    ("total_pnl", "float"),
                    ("open_positions", "int"),
                    ("bots", "int"),
                ],
            ),
        }
    )
