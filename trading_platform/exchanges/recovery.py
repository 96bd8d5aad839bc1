"""A live bot's restart: the exchange is the truth.

Orders the previous incarnation left unresolved (``submitting``, ``open``, ``unknown``,
``settling``) are looked up by client order id (one not found is only believed never sent
once the arrival window after its last send attempt has passed); their fills are recorded
once, and the order's fee is the sum of theirs; the ones still open are cancelled, or adopted
and followed, as ``live.open_orders_on_restart`` says; one the exchange ended whose fills do
not add up yet is followed until they do.  The position's entry logic is put back, so the
first exit after a restart records what it closes.  Cash and
position then come from the balance, and every difference from the database is returned as
a sentence, for the venue to log, audit and notify.  A drift marker a running incarnation
left (``trading_bots.drift``) is cleared: the exchange is the truth again, so the new run
starts unblocked.  Everything goes through the broker's
public methods and its ledger.
"""

from __future__ import annotations

from decimal import Decimal

from trading_platform.contract import FINAL_ORDER_STATUSES, OrderStatus, Side
from trading_platform.db.models import TradingOrder
from trading_platform.exchanges.broker import (
    ARRIVAL_WINDOW_MS,
    LiveBroker,
    TrackedOrder,
    age_ms,
    sent_ms_of,
)
from trading_platform.exchanges.drift import SAME_SIZE
from trading_platform.exchanges.ledger import exchange_amount, sale_pnl


def recover(broker: LiveBroker, saved_size: Decimal, saved_price: Decimal | None) -> list[str]:
    """Resolve what the previous incarnation left, and take cash and position from the
    exchange; returns the corrections made (empty when the database was right)."""
    corrections: list[str] = []
    last_buy: Decimal | None = None
    for row in broker.ledger.unresolved():
        last_buy = _resolve(broker, row, saved_price, corrections) or last_buy
    size = broker.base_balance()
    if abs(size - saved_size) > SAME_SIZE:
        corrections.append(
            f"position corrected from {saved_size} to {size} {broker.base} "
            "(the exchange's balance is the truth)"
        )
    price = saved_price or last_buy
    if size > 0 and not price:
        price = broker.last_price()
    broker.set_position(size, price, broker.ledger.entry_logic())
    drift = broker.ledger.clear_drift()
    if drift is not None:
        corrections.append(f"drift marker cleared, the exchange is the truth again ({drift})")
    return corrections


def _resolve(
    broker: LiveBroker, row: TradingOrder, saved_price: Decimal | None, corrections: list[str]
) -> Decimal | None:
    """One order a previous incarnation left unresolved; returns its last buy price."""
    found = broker.lookup(row.client_order_id)
    sent_ms = sent_ms_of(row)
    if found is None and age_ms(sent_ms) < ARRIVAL_WINDOW_MS:
        broker.wait((ARRIVAL_WINDOW_MS - age_ms(sent_ms)) / 1000)
        found = broker.lookup(row.client_order_id)
    if found is None:
        broker.ledger.update(row.client_order_id, None, OrderStatus.REJECTED)
        corrections.append(f"order {row.client_order_id} never reached the exchange")
        return None
    tracked = TrackedOrder.from_row(row, exchange_order_id=str(found["id"]))
    selling = row.side == Side.SELL
    last_buy = None
    for fill in broker.fills_of(tracked):
        fee_in_quote = broker.fee_in_quote(fill)
        tracked.count(fill, fee_in_quote)
        new = broker.ledger.record_fill(
            row.client_order_id,
            row.side,
            fill,
            fee_in_quote=fee_in_quote,
            pnl=sale_pnl(fill, saved_price) if selling and saved_price else None,
            entry_logic=None if selling else row.logic,
            exit_logic=row.logic if selling else None,
        )
        if new:
            corrections.append(
                f"fill {fill.fill_id} of order {row.client_order_id} "
                f"({row.side} {fill.amount} @ {fill.price}) recorded after the restart"
            )
        if not selling:
            last_buy = fill.price
    status = found.get("status") or OrderStatus.OPEN
    if status not in FINAL_ORDER_STATUSES:
        if broker.p.open_orders_on_restart == "adopt":
            broker.follow(tracked)
            corrections.append(f"open order {row.client_order_id} adopted")
            broker.ledger.update(row.client_order_id, found, status, fee=tracked.fee)
            return last_buy
        found, status = broker.cancel_at_exchange(found["id"])
        corrections.append(f"open order {row.client_order_id} cancelled")
    tracked.exchange_filled = exchange_amount(found.get("filled") or 0, "order filled")
    if not tracked.fills_add_up:
        # the exchange ended it, its trades are not all visible yet: followed until they are;
        # they executed before the balance the position is taken from below
        tracked.in_balance = True
        broker.follow(tracked)
        status = OrderStatus.SETTLING
        corrections.append(
            f"order {row.client_order_id}: {tracked.exchange_filled} filled at the exchange, "
            f"{tracked.filled} in fills so far; following it until they add up"
        )
    broker.ledger.update(row.client_order_id, found, status, fee=tracked.fee)
    return last_buy
