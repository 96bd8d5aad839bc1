"""Pruning the history tables (SQLite and PostgreSQL): what ended long ago goes, what is in
flight and the books stay, whatever their age."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from tests.support.builders import add_bot
from trading_platform.db.engine import session_scope
from trading_platform.db.models import (
    BotCommand,
    BotStatusEvent,
    MetricSnapshot,
    Notification,
    TradingOrder,
    TradingTrade,
)
from trading_platform.db.retention import Retention, prune_history
from trading_platform.db.types import utcnow

NOW = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


def ago(days: float, hours: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, hours=hours)


def notification(key: str, status: str, created: dt.datetime) -> Notification:
    return Notification(
        channel="telegram",
        type="ERROR",
        text=key,
        status=status,
        dedupe_key=key,
        created_at=created,
    )


def command(bot_id: int, key: str, status: str, at: dt.datetime, **extra: object) -> BotCommand:
    done_at = at if status in ("done", "failed", "expired") else None
    return BotCommand(
        bot_id=bot_id,
        command="forceexit",
        status=status,
        requested_at=at,
        done_at=done_at,
        idempotency_key=key,
        **extra,
    )


def keys(engine: Engine, column) -> set[str]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return set(session.scalars(select(column)))


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_prune_deletes_only_ended_history_older_than_the_retention(db_engine: Engine) -> None:
    bot = add_bot(db_engine, "history")
    with session_scope(db_engine) as session:
        session.add_all(
            [
                notification("old-sent", "sent", ago(31)),
                notification("old-failed", "failed", ago(40)),
                notification("old-pending", "pending", ago(90)),  # still to be sent
                notification("new-sent", "sent", ago(29)),
                command(bot, "old-done", "done", ago(31)),
                command(bot, "old-expired", "expired", ago(60)),
                command(bot, "old-done-unanswered", "done", ago(31), reply_chat_id="42"),
                command(
                    bot,
                    "old-done-answered",
                    "done",
                    ago(31),
                    reply_chat_id="42",
                    answered_at=ago(31),
                ),
                command(bot, "old-taken", "taken", ago(45), run_id="r1"),  # a force exit in flight
                command(bot, "old-pending", "pending", ago(45)),
                command(bot, "new-failed", "failed", ago(2)),
                BotStatusEvent(bot_id=bot, to_status="running", reason="old audit", at=ago(366)),
                BotStatusEvent(bot_id=None, to_status="receipt", reason="kept audit", at=ago(364)),
                # the books: never pruned, however old
                TradingOrder(
                    bot_id=bot,
                    client_order_id="tp-1-1-1",
                    side="buy",
                    type="market",
                    amount=Decimal("0.5"),
                    status="closed",
                    created_at=ago(400),
                ),
                TradingTrade(
                    bot_id=bot,
                    fill_id="f1",
                    side="buy",
                    amount=Decimal("0.5"),
                    price=Decimal("101.25"),
                    executed_at=ago(400),
                ),
            ]
        )
    pruned = prune_history(db_engine, Retention(days=30, audit_days=365), now=NOW)

    assert keys(db_engine, Notification.dedupe_key) == {"old-pending", "new-sent"}
    assert keys(db_engine, BotCommand.idempotency_key) == {
        "old-done-unanswered",
        "old-taken",
        "old-pending",
        "new-failed",
    }
    assert keys(db_engine, BotStatusEvent.reason) >= {"kept audit"}
    assert "old audit" not in keys(db_engine, BotStatusEvent.reason)
    assert count(db_engine, TradingOrder) == 1 and count(db_engine, TradingTrade) == 1
    assert (pruned.notifications, pruned.commands, pruned.status_events) == (2, 3, 1)


def test_old_snapshots_are_thinned_to_the_last_of_each_day(db_engine: Engine) -> None:
    rows = []
    for bot_id in (1, 2):
        for days in (40, 35):  # two old days, four snapshots each
            for hour in (3, 2, 1, 0):
                rows.append((bot_id, ago(days, hour), Decimal(f"{days}{hour}")))
        for hour in (3, 2, 1, 0):  # within the retention: all kept
            rows.append((bot_id, ago(5, hour), Decimal(f"5{hour}")))
    with session_scope(db_engine) as session:
        session.add_all(
            MetricSnapshot(bot_id=bot_id, at=at, equity=equity) for bot_id, at, equity in rows
        )
    pruned = prune_history(db_engine, Retention(days=30, audit_days=0), now=NOW)

    with session_scope(db_engine) as session:
        kept = sorted((row.bot_id, row.equity) for row in session.scalars(select(MetricSnapshot)))
    newest_of_old_days = [(b, Decimal("400")) for b in (1, 2)] + [
        (b, Decimal("350")) for b in (1, 2)
    ]
    recent = [(b, Decimal(f"5{h}")) for b in (1, 2) for h in range(4)]
    assert kept == sorted(newest_of_old_days + recent)
    assert pruned.snapshots == 2 * 2 * 3
    # a second prune finds nothing more to thin
    assert prune_history(db_engine, Retention(days=30, audit_days=0), now=NOW).snapshots == 0


def test_zero_days_keeps_everything(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        session.add(notification("ancient", "sent", ago(1000)))
        session.add(BotStatusEvent(bot_id=1, to_status="running", at=ago(1000)))
    assert prune_history(db_engine, Retention(days=0, audit_days=0), now=NOW).describe() == (
        "notifications=0 commands=0 snapshots=0 status_events=0"
    )
    assert count(db_engine, Notification) == 1 and count(db_engine, BotStatusEvent) == 1


def test_a_negative_retention_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="TRADING_RUN_RETENTION_DAYS: expected 0"):
        Retention(days=-1)
    with pytest.raises(ValueError, match="TRADING_AUDIT_RETENTION_DAYS"):
        Retention(audit_days=-5)
