"""Orders through db/orders.py: the write-ahead row is idempotent and its updates exact."""

from decimal import Decimal

from tests.support.builders import add_bot
from trading_platform.db.orders import bot_orders, record_order, update_order


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
