"""Real orders through ccxt behind backtrader's broker interface.

Network errors are logged by their type only: ccxt's messages quote request URLs, and some
exchanges put keys in them.

The rules that keep money safe, in the order they apply:

1. Every order gets a deterministic client order id (``tp-<bot>-<epoch>-<sequence>``, the
   epoch of the run's lease) and is written to ``trading_orders`` BEFORE it is sent
   (:class:`OrderLedger`), in a transaction that checks the lease: a process whose lease was
   taken cannot write, so cannot send.  An id already in the table is an error, never
   silently reused.
2. When the exchange's answer is lost (timeout, 5xx, rate limit), the order is looked up by
   its client order id before anything else.  Only an exchange that says "no such order"
   gets the same order again, under the same id; so a signal is never sent twice.  If the
   exchange cannot be asked for a while, the order stays ``unknown`` (the strategy sees it
   pending) and every bar asks again; one that never arrived is rejected to the strategy,
   which decides afresh on a fresh price.  "Never arrived" is only believed
   ``ARRIVAL_WINDOW_MS`` after the LAST send attempt (each attempt is recorded in
   ``last_sent_at``): a request in flight may still land until the exchange's receive window
   closes.
3. A fill is keyed by the exchange's trade id and recorded once, whatever the retries.  An
   order is final only when its recorded fills add up to the amount the exchange says it
   ``filled``, whatever its status (a cancelled or expired order may be partly filled): its
   trades are fetched per order (the order-trades call, paginated), and until they add up the
   order is followed every bar, ``settling`` in the table.  A gap that lasts
   ``live.fill_gap_bars`` bars is an incident (``on_incident``: audit row, notification) and
   the bot opens no new position until the fills arrive.
4. A cancel the network lost is asked again every bar until the exchange confirms it.
5. An exchange answer without an order id, a trade id, a price or an amount, with a
   number that is negative (or a price that is 0), a field ccxt cannot parse (``"abc"``),
   or a balance the broker cannot read, is an error (:class:`MalformedAnswer`): the bot
   fails closed rather than trading on a guess (tests/exchanges/test_broker_fuzz.py).
6. On start (:mod:`~trading_platform.exchanges.recovery`, which drives this broker through
   its public methods) the exchange is the truth: orders left unresolved by the previous
   incarnation are looked up, their fills recorded once, and the open ones cancelled (or
   adopted, by config); cash and position come from the balance.
7. While running, every ``live.reconcile_interval`` seconds the position and open orders are
   compared with the exchange's (:mod:`~trading_platform.exchanges.drift`): a difference is
   an incident (``on_drift``: audit row, notification, marker in ``trading_bots.drift``) and
   the bot opens no new position until the operator acknowledges it.

A live bot owns the base-currency balance of its account: use one (sub-)account per bot.
Fees paid in the base currency (Binance's buys) shrink the position, as they do on the
exchange.  ccxt's numbers are floats parsed from the exchange's decimal strings; the ledger
stores them as exact decimals (see :func:`~trading_platform.db.types.to_decimal`).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import backtrader as bt

from trading_platform.contract import FINAL_ORDER_STATUSES, OrderStatus, Side
from trading_platform.db.models import TradingOrder
from trading_platform.db.types import to_decimal
from trading_platform.engine.activity import Activity
from trading_platform.exchanges.drift import DriftWatch
from trading_platform.exchanges.ledger import (
    ExchangeFill,
    MalformedAnswer,
    OrderLedger,
    exchange_amount,
    exchange_order_id,
    readable,
    sale_pnl,
)
from trading_platform.feeds.staleness import stale_bar_reason

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 4
RETRY_START_SECONDS = 0.5
#: an order not found this long after it was sent can no longer arrive: the exchange refuses
#: a signed request older than its receive window (Binance's ``recvWindow``, 10 s, which
#: ``make_client`` sets), so only then may "not found" mean "never sent"
ARRIVAL_WINDOW_MS = 15_000
#: trades asked per page when an order's fills are fetched (Binance allows up to 1000)
FILL_PAGE = 500
#: backtrader's order arguments a live order cannot honour (``transmit`` is True by default)
_BRACKET_ARGS = ("oco", "trailamount", "trailpercent", "parent", "histnotify")
_PASSED_THROUGH = ("transmit", "_checksubmit")


@dataclass
class TrackedOrder:
    """An order this broker placed (or adopted) and still follows at the exchange."""

    client_order_id: str
    side: str
    order_type: str
    amount: Decimal
    price: Decimal | None
    order: bt.Order | None
    #: when it was last handed to the network (the arrival window counts from here)
    sent_ms: int
    exchange_order_id: str | None = None
    #: the sum of the fills recorded, and of their fees in the quote currency
    filled: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    #: what the exchange last said it filled (the fills must add up to it)
    exchange_filled: Decimal = Decimal(0)
    fill_ids: set[str] = field(default_factory=set)
    logic: str | None = None
    #: the strategy asked to cancel it and the exchange has not confirmed yet
    cancel_requested: bool = False
    #: bars followed since the exchange ended it with fills still missing
    settling_bars: int = 0
    #: every fill still to come executed before the balance a restart took the position
    #: from: recorded when it shows, never added to the position a second time
    in_balance: bool = False

    @classmethod
    def from_row(cls, row: TradingOrder, exchange_order_id: str) -> TrackedOrder:
        """An order a previous incarnation wrote ahead, found at the exchange."""
        return cls(
            client_order_id=row.client_order_id,
            side=row.side,
            order_type=row.type,
            amount=row.amount,
            price=row.price,
            order=None,
            sent_ms=sent_ms_of(row),
            exchange_order_id=exchange_order_id,
            logic=row.logic,
        )

    @property
    def fills_add_up(self) -> bool:
        return self.filled >= self.exchange_filled

    def count(self, fill: ExchangeFill, fee_in_quote: Decimal) -> None:
        """One more of its fills known: what it filled and paid so far."""
        self.fill_ids.add(fill.fill_id)
        self.filled += fill.amount
        self.fee += fee_in_quote


def sent_ms_of(row: TradingOrder) -> int:
    """When a written-ahead order was last sent: its last attempt, else its write-ahead."""
    sent = row.last_sent_at or row.created_at
    return int(sent.timestamp() * 1000) if sent else 0


def now_ms() -> int:
    return int(time.time() * 1000)


def age_ms(since_ms: int) -> int:
    return now_ms() - since_ms


class OrderNotSent(Exception):
    """The exchange refused the order (bad size, no funds): the strategy is told."""


class LiveBroker(bt.BrokerBase):
    """See the module docstring."""

    params = (
        ("feed", None),
        ("open_orders_on_restart", "cancel"),
        ("fill_gap_bars", 3),
        ("reconcile_interval", 300.0),
    )

    def __init__(
        self,
        client: Any,
        ledger: OrderLedger,
        symbol: str,
        id_prefix: str,
        on_incident: Callable[[str], None] | None = None,
        on_drift: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.ledger = ledger
        self.symbol = symbol
        market = client.market(symbol)
        self.base, self.quote = market["base"], market["quote"]
        self.id_prefix = id_prefix
        self.sequence = ledger.next_sequence(id_prefix) - 1
        self.cash = 0.0
        self.positions: collections.defaultdict[Any, bt.Position] = collections.defaultdict(
            bt.Position
        )
        self.notifs: collections.deque[bt.Order] = collections.deque()
        self.tracked: dict[str, TrackedOrder] = {}
        self._entry_logic: str | None = None
        #: why new positions are refused, per order whose fills are missing
        self.incidents: dict[str, str] = {}
        self.on_incident = on_incident or (lambda text: log.error("incident: %s", text))
        self.on_drift = on_drift or (lambda text: log.error("drift: %s", text))
        #: the position as an exact amount: the balance at restart plus every fill since
        self.recorded_base = Decimal(0)
        self.drift = DriftWatch(self.p.reconcile_interval)
        self._stop = threading.Event()
        #: how many bars the broker has followed its orders on (for tests and benchmarks)
        self.bars_followed = 0

    # -- backtrader's broker interface ------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        super().stop()

    def setcash(self, cash: float) -> None:
        """Ignored: a live broker's cash is the exchange balance."""

    def set_slippage_perc(self, *args: Any, **kwargs: Any) -> None:
        """Ignored: live slippage is whatever the market gives."""

    @property
    def startingcash(self) -> float:
        """backtrader reads it when a run starts; the exchange balance is all there is."""
        return self.cash

    def getcash(self) -> float:
        return self.cash

    def getvalue(self, datas: Any = None) -> float:
        value = self.cash
        for data, position in list(self.positions.items()):
            price = data.close[0] if len(data) else math.nan
            if position.size and not math.isnan(price):
                value += position.size * price
        return value

    def getposition(self, data: Any) -> bt.Position:
        return self.positions[data]

    def get_notification(self) -> bt.Order | None:
        return self.notifs.popleft() if self.notifs else None

    def notify(self, order: bt.Order) -> None:
        self.notifs.append(order.clone())

    def buy(self, owner: Any, data: Any, size: float, **kwargs: Any) -> bt.Order:
        return self._place(bt.BuyOrder, owner, data, size, kwargs)

    def sell(self, owner: Any, data: Any, size: float, **kwargs: Any) -> bt.Order:
        return self._place(bt.SellOrder, owner, data, size, kwargs)

    def _place(
        self, kind: type[bt.Order], owner: Any, data: Any, size: float, kwargs: dict[str, Any]
    ) -> bt.Order:
        """backtrader passes its bracket and trailing arguments along with the strategy's own
        keywords (``logic``); the former are not supported live, the latter become info."""
        order = kind(
            owner=owner,
            data=data,
            size=size,
            price=kwargs.pop("price", None),
            pricelimit=kwargs.pop("plimit", None),
            exectype=kwargs.pop("exectype", None),
            valid=kwargs.pop("valid", None),
            tradeid=kwargs.pop("tradeid", 0),
        )
        unsupported = [key for key in _BRACKET_ARGS if kwargs.get(key)]
        order.addinfo(
            **{k: v for k, v in kwargs.items() if k not in _BRACKET_ARGS + _PASSED_THROUGH}
        )
        if unsupported:
            return self._refuse(order, f"{', '.join(unsupported)} orders are not supported live")
        return self._submit(order)

    def cancel(self, order: bt.Order, bracket: bool = False) -> None:
        tracked = next((t for t in self.tracked.values() if t.order is order), None)
        if tracked is None:
            return
        tracked.cancel_requested = True
        if tracked.exchange_order_id is None:
            return  # its answer was lost: cancelled as soon as it is found
        import ccxt

        try:
            self._send_cancel(tracked)
            self._poll(tracked)
        except ccxt.NetworkError as exc:
            log.warning(
                "cancel of %s: %s; asking again next bar",
                tracked.client_order_id,
                type(exc).__name__,
            )

    def _send_cancel(self, tracked: TrackedOrder) -> None:
        import ccxt

        assert tracked.exchange_order_id is not None
        try:
            self.client.cancel_order(tracked.exchange_order_id, self.symbol)
        except ccxt.OrderNotFound:
            pass  # filled or gone meanwhile: the poll tells which
        except ccxt.ExchangeError as exc:  # e.g. "unknown order" for one that just ended
            log.info("cancel of %s refused: %s", tracked.client_order_id, exc)

    def next(self) -> None:
        """Once per bar: follow open orders (asking again for the cancels the network lost)
        and refresh the balance.  Network errors never kill the bot: the next bar asks again."""
        import ccxt

        for tracked in list(self.tracked.values()):
            try:
                if tracked.cancel_requested and tracked.exchange_order_id is not None:
                    self._send_cancel(tracked)
                self._poll(tracked)
            except ccxt.NetworkError as exc:
                log.warning(
                    "following %s: %s; asking again next bar",
                    tracked.client_order_id,
                    type(exc).__name__,
                )
        try:
            self.refresh_balance()
        except ccxt.NetworkError as exc:
            log.warning("balance unavailable: %s", type(exc).__name__)
        if self.drift.due():
            try:
                self.drift.check(self)
            except ccxt.NetworkError as exc:
                log.warning("reconciliation: %s; again next interval", type(exc).__name__)
        self.bars_followed += 1

    # -- sending --------------------------------------------------------------------------------
    def _submit(self, order: bt.Order) -> bt.Order:
        feed = self.p.feed
        if feed is not None and not getattr(feed, "live", True):
            return self._refuse(order, "the feed is still replaying history")
        too_old = stale_bar_reason(feed)
        if too_old is not None:
            return self._refuse(order, too_old, report=False)  # the stale rule reported it
        if order.exectype not in (None, bt.Order.Market, bt.Order.Limit, bt.Order.Close):
            return self._refuse(order, "only market and limit orders are supported live")
        side = Side.BUY if order.isbuy() else Side.SELL
        limit = order.exectype == bt.Order.Limit
        amount = Decimal(self.client.amount_to_precision(self.symbol, abs(order.created.size)))
        if amount <= 0:
            return self._refuse(order, f"size {abs(order.created.size)} rounds to 0")
        price = (
            Decimal(self.client.price_to_precision(self.symbol, order.created.price))
            if limit
            else None
        )
        if self.incidents and side == Side.BUY:
            reasons = "; ".join(self.incidents.values())
            return self._refuse(order, f"no new positions: {reasons}")
        self.sequence += 1
        client_order_id = f"{self.id_prefix}{self.sequence}"
        logic = order.info.get("logic") if order.info else None
        tracked = TrackedOrder(
            client_order_id=client_order_id,
            side=side,
            order_type="limit" if limit else "market",
            amount=amount,
            price=price,
            order=order,
            sent_ms=now_ms(),
            logic=str(logic) if logic is not None else None,
        )
        self.ledger.write_ahead(
            client_order_id,
            side=side,
            order_type=tracked.order_type,
            amount=amount,
            price=price,
            logic=tracked.logic,
        )
        order.submit(self)
        self.notify(order)
        try:
            answer = self._send(tracked)
        except OrderNotSent as exc:
            self.ledger.update(client_order_id, None, OrderStatus.REJECTED)
            log.warning("order %s refused by the exchange: %s", client_order_id, exc)
            self._report_refusal(f"order {client_order_id} refused by the exchange: {exc}")
            return self._reject(order)
        self.tracked[client_order_id] = tracked
        if answer is None:
            self.ledger.update(client_order_id, None, OrderStatus.UNKNOWN)
            return order
        import ccxt

        try:
            self._accept(tracked, answer)
        except ccxt.NetworkError as exc:
            # placed, and followed from now on: the next bar's poll records its fills
            log.warning(
                "order %s placed; fetching its fills: %s; asking again next bar",
                client_order_id,
                type(exc).__name__,
            )
        return order

    def _refuse(self, order: bt.Order, why: str, report: bool = True) -> bt.Order:
        log.info("order refused: %s", why)
        if report:
            self._report_refusal(f"order refused: {why}")
        return self._reject(order)

    def _report_refusal(self, text: str) -> None:
        if self.ledger.activity is not None:
            self.ledger.activity.incident(Activity.REFUSAL, text)

    def _reject(self, order: bt.Order) -> bt.Order:
        """Tell the strategy its order is rejected, as backtrader's brokers do."""
        order.reject(self)
        self.notify(order)
        return order

    def _send(self, tracked: TrackedOrder) -> dict[str, Any] | None:
        """The exchange's answer; None if it stays unknown after every attempt."""
        import ccxt

        ambiguous = False
        for attempt in range(MAX_SEND_ATTEMPTS):
            if attempt:
                self.wait(RETRY_START_SECONDS * 2 ** (attempt - 1))
            try:
                if ambiguous:
                    found = self.lookup(tracked.client_order_id)
                    if found is not None:
                        return found
                tracked.sent_ms = now_ms()
                self.ledger.mark_sent(tracked.client_order_id)
                with readable("an order"):
                    return self.client.create_order(
                        self.symbol,
                        tracked.order_type,
                        tracked.side,
                        str(tracked.amount),
                        str(tracked.price) if tracked.price is not None else None,
                        {"newClientOrderId": tracked.client_order_id},
                    )
            except ccxt.NetworkError as exc:
                ambiguous = True
                log.warning(
                    "order %s: %s (attempt %d); looking it up before anything else",
                    tracked.client_order_id,
                    type(exc).__name__,
                    attempt + 1,
                )
            except (ccxt.AuthenticationError, ccxt.PermissionDenied):
                raise
            except ccxt.ExchangeError as exc:
                if ambiguous:  # e.g. "duplicate order": it did arrive; find it next attempt
                    log.warning("order %s: %s", tracked.client_order_id, exc)
                    continue
                raise OrderNotSent(str(exc)) from None
        return None

    def lookup(self, client_order_id: str) -> dict[str, Any] | None:
        """The order as the exchange knows it by our id, or None if it never arrived."""
        import ccxt

        try:
            with readable("an order lookup"):
                return self.client.fetch_order(
                    None, self.symbol, params={"origClientOrderId": client_order_id}
                )
        except ccxt.OrderNotFound:
            return None

    # -- following an order ---------------------------------------------------------------------
    def _accept(self, tracked: TrackedOrder, answer: dict[str, Any]) -> None:
        tracked.exchange_order_id = exchange_order_id(answer)
        if tracked.order is not None and tracked.order.status == bt.Order.Submitted:
            tracked.order.accept(self)
            self.notify(tracked.order)
        fills = [
            ExchangeFill.from_ccxt(t, tracked.exchange_order_id) for t in answer.get("trades") or []
        ]
        self._settle(tracked, answer, fills)

    def _poll(self, tracked: TrackedOrder) -> None:
        if tracked.exchange_order_id is None:  # the answer was lost: ask by our id
            found = self.lookup(tracked.client_order_id)
            if found is None and age_ms(tracked.sent_ms) < ARRIVAL_WINDOW_MS:
                return  # it may still arrive: ask again next bar
            if found is None:
                self.ledger.update(tracked.client_order_id, None, OrderStatus.REJECTED)
                del self.tracked[tracked.client_order_id]
                if tracked.order is not None:
                    self._reject(tracked.order)
                return
            self._accept(tracked, found)
            if tracked.cancel_requested and tracked.client_order_id in self.tracked:
                self._send_cancel(tracked)
                self._poll(tracked)
            return
        with readable("an order lookup"):
            answer = self.client.fetch_order(tracked.exchange_order_id, self.symbol)
        self._settle(tracked, answer, [])

    def fills_of(self, tracked: TrackedOrder) -> list[ExchangeFill]:
        """Every fill of one order, page by page: the exchange's order-trades call where ccxt
        has one, else its trade list filtered by ``orderId``.  Pages follow Binance's
        ``fromId`` (trade ids are numbers); an exchange whose ids are not numbers is asked
        for one page per bar, and the order stays followed until its fills add up."""
        order_id = tracked.exchange_order_id
        assert order_id is not None
        fills: dict[str, ExchangeFill] = {}
        params: dict[str, Any] = {}
        while True:
            with readable("a trade list"):
                if self.client.has.get("fetchOrderTrades"):
                    page = self.client.fetch_order_trades(
                        order_id, self.symbol, None, FILL_PAGE, params
                    )
                else:
                    page = self.client.fetch_my_trades(
                        self.symbol, None, FILL_PAGE, {"orderId": order_id, **params}
                    )
            fresh = 0
            for trade in page:
                fill = ExchangeFill.from_ccxt(trade, order_id)
                if fill.exchange_order_id == order_id and fill.fill_id not in fills:
                    fills[fill.fill_id] = fill
                    fresh += 1
            ids = [str(trade.get("id")) for trade in page]
            if len(page) < FILL_PAGE or not fresh or not all(i.isdigit() for i in ids):
                return sorted(fills.values(), key=lambda f: f.at)
            params = {"fromId": max(int(i) for i in ids) + 1}

    def _settle(
        self, tracked: TrackedOrder, answer: dict[str, Any], fills: list[ExchangeFill]
    ) -> None:
        """The exchange's view of a followed order: record its new fills, then end it only
        if its fills add up to what the exchange filled."""
        self._apply_new(tracked, fills)
        status = answer.get("status") or OrderStatus.OPEN
        tracked.exchange_filled = max(
            tracked.exchange_filled, exchange_amount(answer.get("filled"), "order filled")
        )
        if not tracked.fills_add_up:
            self._apply_new(tracked, self.fills_of(tracked))
        final = status in FINAL_ORDER_STATUSES
        settled = final and tracked.fills_add_up
        recorded = status if settled or not final else OrderStatus.SETTLING
        self.ledger.update(tracked.client_order_id, answer, recorded, fee=tracked.fee)
        order = tracked.order
        if settled:
            del self.tracked[tracked.client_order_id]
            self._fills_recorded(tracked)
            if order is not None:
                self._end(order, status)
        elif final:
            self._fills_missing(tracked, status)
        elif order is not None and tracked.filled > 0 and order.status != bt.Order.Partial:
            order.partial()
            self.notify(order)

    def _end(self, order: bt.Order, status: str) -> None:
        """Tell the strategy how its order ended; a partly filled cancel or expiry keeps its
        executed size (backtrader's Canceled and Expired carry it)."""
        if status == OrderStatus.CLOSED:
            order.completed()
        elif status == OrderStatus.CANCELED:
            order.cancel()
        elif status == OrderStatus.EXPIRED:
            order.status = bt.Order.Expired  # expire() only expires orders past their valid
        else:
            order.reject(self)
        self.notify(order)

    def _fills_missing(self, tracked: TrackedOrder, status: str) -> None:
        tracked.settling_bars += 1
        if tracked.settling_bars < self.p.fill_gap_bars:
            return
        if tracked.client_order_id in self.incidents:
            return
        text = (
            f"order {tracked.client_order_id} is {status} at the exchange with "
            f"{tracked.exchange_filled} filled, but only {tracked.filled} in recorded fills "
            f"after {tracked.settling_bars} bars; no new positions until they are recorded"
        )
        self.incidents[tracked.client_order_id] = text
        self.on_incident(text)

    def _fills_recorded(self, tracked: TrackedOrder) -> None:
        if self.incidents.pop(tracked.client_order_id, None) is not None:
            self.on_incident(
                f"order {tracked.client_order_id}: its fills are all recorded now "
                f"({tracked.filled}); new positions allowed again"
            )

    def _apply_new(self, tracked: TrackedOrder, fills: list[ExchangeFill]) -> None:
        for fill in fills:
            if fill.fill_id not in tracked.fill_ids:
                self._apply(tracked, fill)

    def _apply(self, tracked: TrackedOrder, fill: ExchangeFill) -> None:
        """One fill into the position, the cash, the ledger (once) and the strategy's order;
        a fill the restart's balance already holds (``in_balance``) into the ledger only."""
        buying = tracked.side == Side.BUY
        fee_in_base = fill.fee if fill.fee_currency == self.base else Decimal(0)
        fee_in_quote = self.fee_in_quote(fill)
        tracked.count(fill, fee_in_quote)
        data = self.p.feed
        position = self.positions[data]
        entry_price = position.price
        pnl = None if buying or not entry_price else sale_pnl(fill, Decimal(repr(entry_price)))
        if not tracked.in_balance:
            net = (fill.amount - fee_in_base) if buying else -fill.amount
            psize, pprice, opened, closed = position.update(float(net), float(fill.price))
            self.recorded_base += net
            notional = fill.amount * fill.price
            cash = (
                Decimal(str(self.cash))
                + (-notional if buying else notional)
                - (fee_in_quote if fill.fee_currency == self.quote else Decimal(0))
            )
            self.cash = float(cash)
            if buying and not entry_price:
                self._entry_logic = tracked.logic
        self.ledger.record_fill(
            tracked.client_order_id,
            tracked.side,
            fill,
            fee_in_quote=fee_in_quote,
            pnl=pnl,
            entry_logic=self._entry_logic,
            exit_logic=None if buying else tracked.logic,
        )
        order = tracked.order
        if order is None or tracked.in_balance:
            return
        size = float(fill.amount) if buying else -float(fill.amount)
        order.execute(
            bt.date2num(fill.at),
            size,
            float(fill.price),
            closed,
            closed * entry_price,
            0.0,
            opened,
            opened * float(fill.price),
            float(fee_in_quote),
            0.0,
            float(pnl or 0),
            psize,
            pprice,
        )
        order.addcomminfo(self.getcommissioninfo(data))

    # -- the exchange is the truth --------------------------------------------------------------
    def refresh_balance(self) -> dict[str, Any]:
        """The account's balance; an answer naming neither the base nor the quote currency,
        or with an amount that is not a number, is :class:`MalformedAnswer`."""
        with readable("a balance request"):
            balance = self.client.fetch_balance()
        if not isinstance(balance, dict) or not (
            isinstance(balance.get(self.base), dict) or isinstance(balance.get(self.quote), dict)
        ):
            raise MalformedAnswer(
                f"the balance names neither {self.base} nor {self.quote}; not trading on a guess"
            )
        self.cash = float(self._total(balance, self.quote))
        return balance

    @staticmethod
    def _total(balance: dict[str, Any], currency: str) -> Decimal:
        entry = balance.get(currency)
        if entry is None:
            return Decimal(0)  # the account never held it
        if not isinstance(entry, dict):
            raise MalformedAnswer(f"the balance of {currency} is not an amount: {entry!r}")
        return exchange_amount(entry.get("total"), f"{currency} balance")

    def fee_in_quote(self, fill: ExchangeFill) -> Decimal:
        """The fill's fee in the quote currency; a fee in a third currency (BNB) is not
        converted: the ledger keeps it at 0 and the balance shows the truth."""
        if fill.fee_currency == self.quote:
            return fill.fee
        if fill.fee_currency == self.base:
            return fill.fee * fill.price
        return Decimal(0)

    # -- what recovery after a restart does through this broker ----------------------------------
    def follow(self, tracked: TrackedOrder) -> None:
        """Follow an order of a previous incarnation until it ends (``adopt`` on restart)."""
        self.tracked[tracked.client_order_id] = tracked

    def cancel_at_exchange(self, exchange_order_id: str) -> tuple[dict[str, Any], str]:
        """Cancel an open order; if it is gone meanwhile, what became of it."""
        import ccxt

        try:
            with readable("a cancel"):
                return self.client.cancel_order(
                    exchange_order_id, self.symbol
                ), OrderStatus.CANCELED
        except ccxt.OrderNotFound:
            with readable("an order lookup"):
                found = self.client.fetch_order(exchange_order_id, self.symbol)
            return found, found.get("status") or OrderStatus.CLOSED

    def base_balance(self) -> Decimal:
        """The account's base-currency balance (the position); refreshes cash too."""
        return self._total(self.refresh_balance(), self.base)

    def last_price(self) -> Decimal | None:
        return to_decimal(self.client.fetch_ticker(self.symbol).get("last"))

    def set_position(
        self, size: Decimal, price: Decimal | None, entry_logic: str | None = None
    ) -> None:
        """The position the strategy sees before its first bar, and the logic that opened it
        (an exit after a restart records what it closes)."""
        self.positions[self.p.feed] = bt.Position(
            size=float(size), price=float(price or 0) if size > 0 else 0.0
        )
        self._entry_logic = entry_logic if size > 0 else None
        self.recorded_base = size

    def take_exchange_position(self, size: Decimal) -> None:
        """The balance becomes the position (a drift the operator acknowledged), keeping the
        entry price and logic of the position held; one the bot held none of is priced at
        the last trade."""
        held = self.positions[self.p.feed]
        price = to_decimal(held.price) if held.size and held.price else None
        if size > 0 and price is None:
            price = self.last_price()
        self.set_position(size, price, self._entry_logic)

    def wait(self, seconds: float) -> bool:
        """Sleep unless the broker is stopped; True if it was."""
        return self._stop.wait(seconds)
