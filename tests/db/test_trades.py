"""Trades through db/trades.py: one row per fill, and realized P&L net of every fee."""

import datetime as dt
from decimal import Decimal

from tests.support.builders import add_bot
from tests.support.counting import count_rows
from trading_platform.db.models import TradingTrade
from trading_platform.db.trades import bot_trades, realized_pnl, record_trade


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
