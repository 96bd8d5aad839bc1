"""While a live bot runs, is its book still the exchange's?

Reconciliation at restart (:mod:`~trading_platform.exchanges.recovery`) is not enough: a
manual trade on the account or a fill the bot missed makes the position drift silently for
days.  So every ``live.reconcile_interval`` seconds the broker compares, from its own thread
(:meth:`LiveBroker.next`, so no order is sent meanwhile):

- its position (the base balance at restart, plus every fill recorded since, fees in the
  base currency included) with the exchange's base balance, beyond :data:`SAME_SIZE`; only
  while it follows no order (none open, unknown or settling at the exchange): the balance of
  an order in flight may be ahead of the fills recorded, and a false alarm would block
  trading for nothing.  A resting limit order postpones this comparison until it ends;
- the open orders the exchange lists for the symbol with the orders it follows: one it does
  not follow (by client id or exchange id) is someone else's, and will change the balance
  when it fills.  An order the broker follows that the exchange no longer lists as open is
  not a difference: it ended, and the broker polls every followed order before this check.

A difference is an incident (the broker's ``incidents`` under :data:`DRIFT_INCIDENT`, so it
opens no new position; sells are still allowed), a durable marker in
``trading_bots.drift`` (:mod:`trading_platform.db.drift`) and ``on_drift`` (audit row,
``DRIFT`` notification).  The operator acknowledges it by clearing the marker (``bots
ack-drift``) or by changing the config (the restart takes the exchange as the truth and
clears the marker).  The running bot reads the marker at each interval; once cleared, it
takes its position from the exchange, accepts the foreign open orders it was told about, and
allows new positions again.  Network errors (and a database that cannot be written) are
retried at the next interval: they never stop the bot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from trading_platform.exchanges.ledger import OrderLedger

log = logging.getLogger(__name__)

#: a recorded position and the exchange's balance closer than this are the same
SAME_SIZE = Decimal("1e-12")
#: the key of a drift among the broker's incidents (the others are client order ids)
DRIFT_INCIDENT = "drift"


def position_difference(recorded: Decimal, balance: Decimal, base: str) -> str | None:
    """A sentence when the exchange's balance is not the recorded position, else None."""
    gap = balance - recorded
    if abs(gap) <= SAME_SIZE:
        return None
    return (
        f"the exchange holds {balance} {base} but the bot's position is {recorded} {base} "
        f"({gap:+} {base})"
    )


def foreign_orders(
    open_orders: Iterable[dict[str, Any]],
    client_ids: Collection[str],
    exchange_ids: Collection[str],
) -> dict[str, str]:
    """The open orders the broker does not follow, by exchange id, each with a sentence."""
    found = {}
    for order in open_orders:
        order_id = str(order.get("id"))
        client_id = order.get("clientOrderId")
        if client_id in client_ids or order_id in exchange_ids:
            continue
        found[order_id] = (
            f"open order {order_id} ({order.get('side')} {order.get('amount')} "
            f"@ {order.get('price') or 'market'}, client id {client_id}) is not the bot's"
        )
    return found


class Reconciled(Protocol):
    """What a reconciliation reads and changes of the live broker (it is the only one)."""

    incidents: dict[str, str]
    on_drift: Callable[[str], None]
    tracked: dict[str, Any]
    client: Any
    symbol: str
    base: str
    recorded_base: Decimal
    ledger: OrderLedger

    def base_balance(self) -> Decimal: ...

    def take_exchange_position(self, balance: Decimal) -> None: ...


class DriftWatch:
    """The periodic comparison of one broker with the exchange (see the module docstring)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._next_at: float | None = None
        #: foreign open orders the operator acknowledged: not reported again by this run
        self.acknowledged: set[str] = set()
        #: foreign open orders of the drift waiting for its acknowledgement
        self._reported: set[str] = set()
        #: whether ``trading_bots.drift`` holds the drift (a failed write is tried again)
        self._marked = False
        #: reconciliations made (for tests and logs)
        self.checks = 0

    def due(self) -> bool:
        """True once per interval; the first interval starts at the first call (the restart
        has just reconciled)."""
        now = self.clock()
        if self._next_at is None:
            self._next_at = now + self.interval
            return False
        if now < self._next_at:
            return False
        self._next_at = now + self.interval
        return True

    def check(self, broker: Reconciled) -> None:
        """One reconciliation: look for a difference, or for the operator's acknowledgement
        of the one found before.  Network errors propagate (the caller retries next time)."""
        self.checks += 1
        if DRIFT_INCIDENT in broker.incidents:
            self._await_acknowledgement(broker)
            return
        found = self._differences(broker)
        if not found:
            return
        text = (
            f"position or open orders differ from the exchange: {'; '.join(found.values())}; "
            "no new positions until the operator acknowledges it "
            "(trading-platform bots ack-drift, or a config change)"
        )
        broker.incidents[DRIFT_INCIDENT] = text
        self._reported = {key for key in found if key != DRIFT_INCIDENT}
        self._marked = False
        self._mark(broker, text)
        broker.on_drift(text)

    def _differences(self, broker: Reconciled) -> dict[str, str]:
        """Sentences keyed by foreign order id (the position's under DRIFT_INCIDENT)."""
        tracked = list(broker.tracked.values())
        open_orders = broker.client.fetch_open_orders(broker.symbol)
        found = foreign_orders(
            open_orders,
            {t.client_order_id for t in tracked},
            {t.exchange_order_id for t in tracked if t.exchange_order_id} | self.acknowledged,
        )
        if not broker.tracked:  # nothing in flight: the balance must be the position
            balance = broker.base_balance()
            gap = position_difference(broker.recorded_base, balance, broker.base)
            if gap is not None:
                found[DRIFT_INCIDENT] = gap
        return found

    def _mark(self, broker: Reconciled, text: str) -> None:
        try:
            broker.ledger.mark_drift(text)
            self._marked = True
        except SQLAlchemyError as exc:
            log.warning("drift marker not written (%s); trying again next interval", exc)

    def _await_acknowledgement(self, broker: Reconciled) -> None:
        text = broker.incidents[DRIFT_INCIDENT]
        if not self._marked:
            self._mark(broker, text)
            return
        try:
            if broker.ledger.drift() is not None:
                return  # not acknowledged yet
        except SQLAlchemyError as exc:
            log.warning("drift marker not readable (%s); asking again next interval", exc)
            return
        if broker.tracked:
            return  # the balance is only the truth with nothing in flight: next interval
        balance = broker.base_balance()
        broker.take_exchange_position(balance)
        self.acknowledged |= self._reported
        self._reported = set()
        del broker.incidents[DRIFT_INCIDENT]
        broker.on_drift(
            f"drift acknowledged by the operator: position taken from the exchange "
            f"({balance} {broker.base}); new positions allowed again"
        )
