"""The database side of a live broker: write-ahead orders and fills recorded once.

The broker writes an order here BEFORE it goes to the exchange (status ``submitting``), then
the exchange's answer (``open``, ``closed``, ``canceled``, ``rejected``) or ``unknown`` when
the answer was lost and the order could not be looked up yet, or ``settling`` while its
fills do not add up to what the exchange filled.  A fill is keyed by the exchange's trade id,
so recording it again (a retry, a poll, a restart) stores nothing.

Every write runs ``fence`` (the run's lease check) in its own transaction: a process whose
lease was taken writes nothing more.  While the database cannot be reached, the writes wait
for it to return (:mod:`~trading_platform.db.outage`): the broker's thread waits with them,
so no order is sent before its write-ahead row is committed, and the answers and fills that
arrived meanwhile are written, in order, when it is back.  Numbers from the exchange that
are missing, not numbers, or negative are :class:`MalformedAnswer`, never stored as 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine

from trading_platform.contract import OrderStatus
from trading_platform.db.drift import clear_drift, drift_of, record_drift
from trading_platform.db.models import TradingOrder
from trading_platform.db.orders import (
    Fence,
    count_orders_with_prefix,
    record_order,
    unresolved_orders,
    update_order,
    write_ahead_order_waiting,
)
from trading_platform.db.outage import until_reachable
from trading_platform.db.trades import last_entry_logic, record_trade
from trading_platform.db.types import to_decimal, utcnow
from trading_platform.engine.activity import ActivityLog


class MalformedAnswer(Exception):
    """The exchange answered something the broker cannot trust (a fill without price or
    amount, an unreadable balance): the bot stops rather than trade on a guess."""


@contextmanager
def readable(what: str) -> Iterator[None]:
    """ccxt parses an answer inside the call that fetched it: a field it cannot parse (``"abc"``
    where a number belongs) escapes as ValueError, TypeError or a decimal error, which says
    neither that the exchange is to blame nor which answer.  Here it is :class:`MalformedAnswer`
    naming the answer (the value itself is left out: it is the exchange's text)."""
    try:
        yield
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise MalformedAnswer(
            f"the exchange's answer to {what} cannot be read ({type(exc).__name__}: a field "
            "is not what it should be); not trading on a guess"
        ) from None


def exchange_order_id(answer: dict[str, Any]) -> str:
    """The exchange's id of an order in its answer; an answer without one is
    :class:`MalformedAnswer` (``str(None)`` would follow an order called "None")."""
    order_id = answer.get("id") if isinstance(answer, dict) else None
    if order_id is None or str(order_id).strip() in ("", "None"):
        raise MalformedAnswer("an order answer without the exchange's order id")
    return str(order_id)


def exchange_amount(value: Any, what: str, *, positive: bool = False) -> Decimal:
    """An exchange number as an exact Decimal, or :class:`MalformedAnswer` naming ``what``."""
    if value is None or isinstance(value, bool):
        raise MalformedAnswer(f"{what} is missing")
    try:
        number = to_decimal(value)
    except (ValueError, InvalidOperation):
        raise MalformedAnswer(f"{what} is not a number: {str(value)[:40]!r}") from None
    if number is None or not number.is_finite() or number < 0 or (positive and number == 0):
        raise MalformedAnswer(f"{what} is not a valid amount: {str(value)[:40]!r}")
    return number


@dataclass(frozen=True)
class ExchangeFill:
    """One fill as the exchange reported it (ccxt's unified trade), with exact numbers."""

    fill_id: str
    exchange_order_id: str | None
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str | None
    at: dt.datetime

    @classmethod
    def from_ccxt(cls, trade: dict[str, Any], exchange_order_id: str | None) -> ExchangeFill:
        """A fill without an id, a price or an amount is :class:`MalformedAnswer`."""
        if not isinstance(trade, dict) or trade.get("id") in (None, ""):
            raise MalformedAnswer("a fill without a trade id")
        fill_id = str(trade["id"])
        fee = trade.get("fee") or {}
        stamp = trade.get("timestamp")
        at = (
            dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).replace(tzinfo=None)
            if isinstance(stamp, int | float) and math.isfinite(stamp) and stamp > 0
            else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        )
        cost = fee.get("cost") if isinstance(fee, dict) else None
        return cls(
            fill_id=fill_id,
            exchange_order_id=str(trade.get("order") or exchange_order_id or "") or None,
            price=exchange_amount(trade.get("price"), f"price of fill {fill_id}", positive=True),
            amount=exchange_amount(trade.get("amount"), f"amount of fill {fill_id}", positive=True),
            fee=Decimal(0) if cost is None else exchange_amount(cost, f"fee of fill {fill_id}"),
            fee_currency=fee.get("currency") if isinstance(fee, dict) else None,
            at=at,
        )


#: the database keeps money to 18 decimal places (NUMERIC(38, 18)); so does a computed P&L
MONEY_PLACES = Decimal("1e-18")
_MONEY_CONTEXT = Context(prec=38)


def sale_pnl(fill: ExchangeFill, entry_price: Decimal) -> Decimal:
    """What a sell fill earned over the position's entry price, before fees (fees are
    recorded per fill and subtracted where P&L is reported)."""
    earned = fill.amount * (fill.price - entry_price)
    return earned.quantize(MONEY_PLACES, context=_MONEY_CONTEXT)


class OrderLedger:
    """``trading_orders`` and ``trading_trades`` of one live bot run."""

    def __init__(
        self,
        database: Engine,
        bot_id: int,
        run_id: str,
        symbol: str,
        fence: Fence | None = None,
        activity: ActivityLog | None = None,
    ) -> None:
        self.database = database
        #: told of each fill recorded and each order refused (the run's activity entries)
        self.activity = activity
        self.bot_id = bot_id
        self.run_id = run_id
        self.symbol = symbol
        self.fence = fence
        self._row_ids: dict[str, int] = {}

    def next_sequence(self, prefix: str) -> int:
        """The first free sequence number of ``prefix`` (ids are never reused)."""
        return count_orders_with_prefix(self.database, prefix) + 1

    def write_ahead(
        self,
        client_order_id: str,
        *,
        side: str,
        order_type: str,
        amount: Decimal,
        price: Decimal | None,
        logic: str | None,
    ) -> None:
        self._row_ids[client_order_id] = write_ahead_order_waiting(
            self.database,
            self.fence,
            f"bot {self.bot_id}: write-ahead of order {client_order_id}",
            bot_id=self.bot_id,
            run_id=self.run_id,
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=side,
            type=order_type,
            amount=amount,
            price=price,
            status=OrderStatus.SUBMITTING,
            logic=logic,
        )

    def mark_sent(self, client_order_id: str) -> None:
        """The order is about to go out (again): its arrival window starts now."""
        sent_at = utcnow()
        until_reachable(
            lambda: update_order(self.database, client_order_id, self.fence, last_sent_at=sent_at),
            f"bot {self.bot_id}: order {client_order_id} marked sent",
        )

    def update(
        self,
        client_order_id: str,
        answer: dict[str, Any] | None,
        status: str,
        *,
        fee: Decimal | None = None,
    ) -> None:
        """The exchange's view of the order (``answer`` is ccxt's unified order).  ``fee``,
        the sum of its recorded fills' fees, stands in where the answer has none (a Binance
        order lookup carries no fills)."""
        values: dict[str, Any] = {"status": status}
        if answer is not None:
            values["exchange_order_id"] = exchange_order_id(answer)
            for key in ("filled", "average"):
                if answer.get(key) is not None:
                    values[key] = exchange_amount(
                        answer[key], f"order {key}", positive=key == "average"
                    )
            answer_fee = answer.get("fee") or {}
            if answer_fee.get("cost") is not None:
                values["fee"] = exchange_amount(answer_fee["cost"], "order fee")
        if "fee" not in values and fee:
            values["fee"] = fee
        until_reachable(
            lambda: update_order(self.database, client_order_id, self.fence, **values),
            f"bot {self.bot_id}: order {client_order_id} updated",
        )

    def record_fill(
        self,
        client_order_id: str,
        side: str,
        fill: ExchangeFill,
        *,
        fee_in_quote: Decimal,
        pnl: Decimal | None,
        entry_logic: str | None,
        exit_logic: str | None,
    ) -> bool:
        """Store ``fill`` once; returns whether it was new.  While the database cannot be
        reached this waits for it (:mod:`~trading_platform.db.outage`): the fill is known
        only here until it is written."""
        return until_reachable(
            lambda: self._record_fill(
                client_order_id,
                side,
                fill,
                fee_in_quote=fee_in_quote,
                pnl=pnl,
                entry_logic=entry_logic,
                exit_logic=exit_logic,
            ),
            f"bot {self.bot_id}: fill {fill.fill_id} of order {client_order_id}",
        )

    def _record_fill(
        self,
        client_order_id: str,
        side: str,
        fill: ExchangeFill,
        *,
        fee_in_quote: Decimal,
        pnl: Decimal | None,
        entry_logic: str | None,
        exit_logic: str | None,
    ) -> bool:
        row_id = self._row_ids.get(client_order_id)
        if row_id is None:
            row_id = record_order(
                self.database,
                bot_id=self.bot_id,
                client_order_id=client_order_id,
                side=side,
                type="market",
                amount=fill.amount,
                status=OrderStatus.OPEN,
            )
            self._row_ids[client_order_id] = row_id
        new = record_trade(
            self.database,
            self.fence,
            bot_id=self.bot_id,
            run_id=self.run_id,
            order_id=row_id,
            fill_id=fill.fill_id,
            symbol=self.symbol,
            side=side,
            amount=fill.amount,
            price=fill.price,
            fee=fee_in_quote,
            pnl=pnl,
            entry_logic=entry_logic,
            exit_logic=exit_logic,
            executed_at=fill.at,
        )
        if new and self.activity is not None:
            self.activity.fill(
                side=side,
                amount=fill.amount,
                price=fill.price,
                fee=fee_in_quote,
                pnl=pnl,
                order=client_order_id,
                fill_id=fill.fill_id,
            )
        return new

    def entry_logic(self) -> str | None:
        """The logic of the buy that opened the position held now (put back on restart)."""
        return last_entry_logic(self.database, self.bot_id)

    def mark_drift(self, what: str) -> str:
        """``trading_bots.drift``: the bot's books differ from the exchange's (fenced)."""
        return until_reachable(
            lambda: record_drift(self.database, self.bot_id, what, self.fence),
            f"bot {self.bot_id}: drift marker",
        )

    def drift(self) -> str | None:
        """The drift marker, None once the operator cleared it."""
        return until_reachable(
            lambda: drift_of(self.database, self.bot_id), f"bot {self.bot_id}: drift marker read"
        )

    def clear_drift(self) -> str | None:
        """Clear the drift marker (a restart took the exchange as the truth); returns it."""
        return until_reachable(
            lambda: clear_drift(self.database, self.bot_id, run_id=self.run_id, fence=self.fence),
            f"bot {self.bot_id}: drift cleared",
        )

    def unresolved(self) -> list[TradingOrder]:
        orders = unresolved_orders(self.database, self.bot_id)
        for order in orders:
            self._row_ids[order.client_order_id] = order.id
        return orders
