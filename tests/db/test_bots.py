import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.support.builders import add_bot, insert_bot_sql
from tests.support.counting import count_rows
from trading_platform.db.bots import delete_bot, find_bot, get_bot, get_bots, set_bot
from trading_platform.db.models import TradingTrade
from trading_platform.db.orders import bot_orders, record_order, update_order
from trading_platform.db.positions import get_position, open_positions, save_position
from trading_platform.db.status import heartbeat, status_events, update_bot_status
from trading_platform.db.trades import bot_trades, realized_pnl, record_trade
from trading_platform.db.users import ensure_user


def test_get_bots_reads_rows_written_with_plain_sql(db_engine) -> None:
    insert_bot_sql(db_engine, "sql-bot", enabled=True, config='{"params": {"fast": 3}}')
    (row,) = get_bots(db_engine)
    assert row.name == "sql-bot"
    assert row.enabled is True
    assert row.status == "stopped"
    assert row.restart_count == 0 and row.error_count == 0
    assert row.desired()["config"] == {"params": {"fast": 3}}


def test_malformed_json_in_one_row_does_not_break_reading_all(db_engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type rejects malformed JSON on insert")
    add_bot(db_engine, "good")
    with db_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO trading_bots (name, enabled, config) VALUES ('bad', 1, '{oops')")
        )
    rows = get_bots(db_engine)
    assert [row.name for row in rows] == ["good", "bad"]
    assert rows[1].config_text == "{oops"


def test_set_bot_writes_only_desired_columns(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    assert set_bot(db_engine, bot_id, timeframe="5m")
    assert get_bot(db_engine, bot_id).timeframe == "5m"
    with pytest.raises(ValueError, match="status"):
        set_bot(db_engine, bot_id, status="running")
    assert not set_bot(db_engine, 999, timeframe="5m")


def test_update_status_writes_an_audit_row(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    assert update_bot_status(db_engine, bot_id, "starting", "launched", run_id="r1")
    assert update_bot_status(db_engine, bot_id, "error", "crash", error="boom", run_id="r1")
    row = get_bot(db_engine, bot_id)
    assert row.status == "error" and row.last_error == "boom" and row.error_count == 1
    assert update_bot_status(db_engine, bot_id, "running", "ok", reset_errors=True)
    row = get_bot(db_engine, bot_id)
    assert row.error_count == 0 and row.last_error is None
    events = status_events(db_engine, bot_id)
    assert [(e.from_status, e.to_status, e.run_id) for e in events] == [
        ("stopped", "starting", "r1"),
        ("starting", "error", "r1"),
        ("error", "running", None),
    ]


def test_conditional_status_change(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    update_bot_status(db_engine, bot_id, "error", "bad config", error="x")
    assert not update_bot_status(
        db_engine, bot_id, "stopped", "run ended", only_from=("running", "stopping")
    )
    assert get_bot(db_engine, bot_id).status == "error"
    with pytest.raises(ValueError):
        update_bot_status(db_engine, bot_id, "sleeping", "?")


def test_heartbeat_sets_time_and_money_exactly(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    heartbeat(db_engine, bot_id, balance=10012.345678901234, total_pnl="12.3456789", at=at)
    with db_engine.connect() as connection:
        row = connection.execute(
            text("SELECT current_balance, total_pnl FROM trading_bots WHERE id = :id"),
            {"id": bot_id},
        ).one()
    assert Decimal(str(row.current_balance)) == Decimal("10012.345678901234")
    assert Decimal(str(row.total_pnl)) == Decimal("12.3456789")
    assert get_bot(db_engine, bot_id).last_heartbeat == at


def test_record_order_is_write_ahead_and_idempotent(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    values = dict(
        bot_id=bot_id,
        run_id="r",
        client_order_id="b1-1-1",
        side="buy",
        type="market",
        amount=0.01,
        status="pending",
    )
    first = record_order(db_engine, **values)
    second = record_order(db_engine, **values)
    assert first == second
    update_order(db_engine, "b1-1-1", status="closed", filled="0.01", average=45000.5)
    (order,) = bot_orders(db_engine, bot_id)
    assert order.status == "closed"
    assert order.average == Decimal("45000.5")
    assert order.amount == Decimal("0.01")


def test_record_trade_once_per_fill(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    fill = dict(
        bot_id=bot_id,
        run_id="r",
        fill_id="f1",
        side="sell",
        amount="0.01",
        price="47200.3",
        fee="0.47",
        pnl="22.0",
        entry_logic="sma_cross_up",
        exit_logic="sma_cross_down",
        executed_at=dt.datetime.now(dt.UTC),
    )
    assert record_trade(db_engine, **fill) is True
    assert record_trade(db_engine, **fill) is False
    assert count_rows(db_engine, TradingTrade, bot_id) == 1
    (trade,) = bot_trades(db_engine, bot_id)
    assert trade.price == Decimal("47200.3")
    assert trade.exit_logic == "sma_cross_down"


def test_realized_pnl_is_closed_trades_net_of_every_fee(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    assert realized_pnl(db_engine, bot_id) == 0
    at = dt.datetime.now(dt.UTC)
    for fill_id, side, fee, pnl in (("b", "buy", "0.30", None), ("s", "sell", "0.47", "22.0")):
        record_trade(
            db_engine,
            bot_id=bot_id,
            fill_id=fill_id,
            side=side,
            amount="0.01",
            price="47000",
            fee=fee,
            pnl=pnl,
            executed_at=at,
        )
    assert realized_pnl(db_engine, bot_id) == Decimal("21.23")


def test_positions_open_and_close(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    save_position(db_engine, bot_id, "BTC/USDT", size="0.5", avg_price="100.25", cash=50)
    (position,) = open_positions(db_engine, bot_id)
    assert position.size == Decimal("0.5") and position.avg_price == Decimal("100.25")
    assert position.opened_at is not None and position.closed_at is None
    save_position(db_engine, bot_id, "BTC/USDT", size=0, avg_price=None, cash=100)
    assert open_positions(db_engine, bot_id) == []
    closed = get_position(db_engine, bot_id, "BTC/USDT")
    assert closed.closed_at is not None and closed.cash == Decimal("100")


def test_users_and_bot_lookup(db_engine) -> None:
    user_id = ensure_user(db_engine, "alice", email="a@example.invalid")
    assert ensure_user(db_engine, "alice") == user_id
    bot_id = add_bot(db_engine, "alpha", user_id=None)
    assert find_bot(db_engine, "alpha").id == bot_id
    assert find_bot(db_engine, str(bot_id)).name == "alpha"
    assert find_bot(db_engine, "nope") is None
    assert delete_bot(db_engine, bot_id)
    assert get_bots(db_engine) == []


def test_status_of_a_bot_with_malformed_config_can_be_recorded(db_engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type rejects malformed JSON on insert")
    with db_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO trading_bots (name, enabled, config) VALUES ('bad', 1, '{oops')")
        )
    (row,) = get_bots(db_engine)
    assert update_bot_status(db_engine, row.id, "error", "invalid", error="config: x")
    assert get_bot(db_engine, row.id).last_error == "config: x"
