"""Positions through db/positions.py: opened, then closed with the cash kept."""

from decimal import Decimal

from tests.support.builders import add_bot
from trading_platform.db.positions import get_position, open_positions, save_position


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
