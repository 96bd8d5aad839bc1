"""Turn backtrader's order and trade notifications into platform records.

One analyzer serves every mode: backtests keep the records in memory, paper and live bots
hand them to a sink that writes them to the database as they happen.  It also samples the
equity curve (one float per bar) for the metrics and reports progress, so a run has exactly
one piece of per-bar platform code.  A backtest keeps the whole curve (its metrics and report
need it); a paper or live bot keeps the newest ``equity_window`` bars of it, so a bot that runs
for weeks does not grow (its metrics come from the database's trades).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import backtrader as bt

from trading_platform.contract import Side


@dataclass(frozen=True)
class Fill:
    """One executed order (backtrader executes an order completely in the simulated broker)."""

    sequence: int
    """1, 2, 3... per run: with the run id it names the order, the same on every re-run."""
    order_ref: int
    side: str
    amount: float
    price: float
    fee: float
    pnl: float | None
    executed_at: dt.datetime
    order_type: str
    requested_price: float | None
    logic: str | None
    entry_logic: str | None
    exit_logic: str | None

    def rows(
        self, bot_id: int, run_id: str, symbol: str, client_order_id: str
    ) -> tuple[dict[str, object], dict[str, object]]:
        """This fill as a ``trading_orders`` row and a ``trading_trades`` row.

        A simulated fill executes its whole order, so the order is closed and the fill id is
        the order's client id (unique per bot, so recording twice stores it once).
        """
        order = {
            "bot_id": bot_id,
            "run_id": run_id,
            "client_order_id": client_order_id,
            "symbol": symbol,
            "side": self.side,
            "type": self.order_type,
            "amount": self.amount,
            "price": self.requested_price,
            "status": "closed",
            "filled": self.amount,
            "average": self.price,
            "fee": self.fee,
            "logic": self.logic,
            "created_at": self.executed_at,
            "updated_at": self.executed_at,
        }
        trade = {
            "bot_id": bot_id,
            "run_id": run_id,
            "fill_id": client_order_id,
            "symbol": symbol,
            "side": self.side,
            "amount": self.amount,
            "price": self.price,
            "fee": self.fee,
            "pnl": self.pnl,
            "entry_logic": self.entry_logic,
            "exit_logic": self.exit_logic,
            "executed_at": self.executed_at,
        }
        return order, trade


@dataclass(frozen=True)
class ClosedTrade:
    """A round trip: position opened by one order and closed by another."""

    entry_time: dt.datetime
    exit_time: dt.datetime
    entry_price: float
    exit_price: float
    size: float
    fee: float
    pnl: float
    pnl_net: float
    entry_logic: str | None
    exit_logic: str | None


class RecordSink(Protocol):
    def on_fill(self, fill: Fill) -> None: ...

    def on_trade_closed(self, trade: ClosedTrade) -> None: ...


@dataclass
class MemorySink:
    fills: list[Fill] = field(default_factory=list)
    trades: list[ClosedTrade] = field(default_factory=list)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)

    def on_trade_closed(self, trade: ClosedTrade) -> None:
        self.trades.append(trade)


ProgressCallback = Callable[[int], None]
PROGRESS_EVERY_BARS = 1_000

_ORDER_TYPES = {
    bt.Order.Market: "market",
    bt.Order.Limit: "limit",
    bt.Order.Stop: "stop",
    bt.Order.StopLimit: "stop_limit",
    bt.Order.Close: "market",
}


def _logic_of(order: bt.Order) -> str | None:
    logic = order.info.get("logic") if order.info else None
    return str(logic) if logic is not None else None


class TradeRecorder(bt.Analyzer):
    """Collects fills, closed trades and the equity curve; see the module docstring."""

    params = (("sink", None), ("progress", None), ("equity_window", None))

    def start(self) -> None:
        self.sink: RecordSink = self.p.sink if self.p.sink is not None else MemorySink()
        self.progress: ProgressCallback | None = self.p.progress
        #: the equity curve, the newest ``equity_window`` bars of it (None: all of it)
        self.equity_times: deque[float] = deque(maxlen=self.p.equity_window)
        self.equity_values: deque[float] = deque(maxlen=self.p.equity_window)
        #: bars seen, history included
        self.bars = 0
        self._entry_logic: str | None = None
        self._last_exit_logic: str | None = None
        self._last_exit_price = 0.0
        self._entry_size = 0.0
        self._in_trade = False
        self._fills = 0

    def next(self) -> None:
        self.equity_times.append(self.data.datetime[0])
        self.equity_values.append(self.strategy.broker.getvalue())
        self.bars += 1
        if self.progress is not None and self.bars % PROGRESS_EVERY_BARS == 0:
            self.progress(self.bars)

    def notify_order(self, order: bt.Order) -> None:
        # Long-only spot trading: a buy opens or adds to the position, a sell reduces it.
        if order.status != bt.Order.Completed:
            return
        executed = order.executed
        logic = _logic_of(order)
        closing = order.issell()
        if not closing:
            if not self._in_trade:
                self._entry_logic = logic
                self._in_trade = True
            self._entry_size += abs(executed.size)
        executed_at = bt.num2date(executed.dt)
        if closing:
            self._last_exit_logic = logic
            self._last_exit_price = executed.price
        self._fills += 1
        self.sink.on_fill(
            Fill(
                sequence=self._fills,
                order_ref=order.ref,
                side=Side.SELL if closing else Side.BUY,
                amount=abs(executed.size),
                price=executed.price,
                fee=executed.comm,
                pnl=executed.pnl if closing else None,
                executed_at=executed_at,
                order_type=_ORDER_TYPES.get(order.exectype, "market"),
                requested_price=order.created.price if order.exectype != bt.Order.Market else None,
                logic=logic,
                entry_logic=self._entry_logic,
                exit_logic=logic if closing else None,
            )
        )

    def notify_trade(self, trade: bt.Trade) -> None:
        if not trade.isclosed:
            return
        self.sink.on_trade_closed(
            ClosedTrade(
                entry_time=bt.num2date(trade.dtopen),
                exit_time=bt.num2date(trade.dtclose),
                entry_price=trade.price,
                exit_price=self._last_exit_price,
                size=self._entry_size,
                fee=trade.commission,
                pnl=trade.pnl,
                pnl_net=trade.pnlcomm,
                entry_logic=self._entry_logic,
                exit_logic=self._last_exit_logic,
            )
        )
        self._entry_logic = None
        self._entry_size = 0.0
        self._in_trade = False

    def get_analysis(self) -> dict[str, object]:
        return {"bars": self.bars}
