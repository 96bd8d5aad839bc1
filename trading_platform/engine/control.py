"""An operator's control of a running paper or live bot: pause, and force exit.

Two threads meet here:

- the heartbeat thread calls :meth:`RunControl.poll` every few seconds: one cheap query
  reads ``trading_bots.paused`` and whether a command is pending; pending commands are
  claimed for this run (:func:`trading_platform.db.commands.claim`, fenced by the lease)
  and queued;
- Cerebro's thread, through the broker (:class:`~trading_platform.engine.gate.OrderGate`),
  asks :meth:`RunControl.refusal` before every order and calls :meth:`RunControl.on_loop`
  at every turn of its loop, where queued commands are carried out: backtrader is not
  thread-safe, so nothing else touches it.

Pause: while ``paused`` is set no buy is accepted (spot, long-only: a buy is an entry),
sells are; the first entry refused in a pause period is logged and audited, the others only
rejected to the strategy.  Backtests ignore pause (they never start a ``RunControl``).

Force exit: the strategy's open orders are cancelled, then the whole position is sold at
market, the order tagged with logic ``forceexit``; while it is in flight every other order
of the strategy is refused (a strategy that sees its own order cancelled must not sell the
same position a second time).  The result goes back to the command row when the order
ends: a paper order fills at the next bar, like any paper order; a live order goes through
the live broker (written ahead, client order id), so a run that dies after sending it never
sends it again: the run that takes the bot over finishes the command from the order's fate
(:meth:`RunControl.adopt_orphans`).
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import backtrader as bt
from sqlalchemy import Engine, exists, select
from sqlalchemy.orm import Session

from trading_platform.config import BotConfig
from trading_platform.contract import FINAL_ORDER_STATUSES, Mode, OrderStatus
from trading_platform.db import commands
from trading_platform.db.commands import CommandKind, CommandRow, CommandStatus
from trading_platform.db.models import BotCommand, TradingBot

log = logging.getLogger(__name__)

#: the order info key that marks an operator's force-exit order (its value: the command id)
FORCEEXIT_INFO = "forceexit_command"
#: the logic a force-exit order is tagged with (``trading_orders.logic``, ``exit_logic``)
FORCEEXIT_LOGIC = CommandKind.FORCEEXIT.value

_ENDED_BADLY = {
    bt.Order.Canceled: "canceled",
    bt.Order.Expired: "expired",
    bt.Order.Margin: "rejected for lack of cash",
    bt.Order.Rejected: "rejected",
}


class ControlledRun(Protocol):
    """What the control needs of the run (the runner provides it)."""

    config: BotConfig
    database: Engine
    bot_id: int
    run_id: str

    def fence(self, session: Session) -> None: ...

    def note(self, reason: str) -> None: ...


@dataclass
class _Exit:
    command: CommandRow
    order: bt.Order
    cancelled: int


#: how many finished command ids a run remembers (a run lasts weeks)
FINISHED_COMMANDS_KEPT = 100


class RunControl:
    """See the module docstring; one per paper or live run."""

    def __init__(self, run: ControlledRun) -> None:
        self.run = run
        self.paused = False
        self._pause_noted = False
        self._queue: queue.Queue[CommandRow] = queue.Queue()
        self._cerebro: bt.Cerebro | None = None
        self._exit: _Exit | None = None
        #: the newest commands finished by this run (tests and logs)
        self.finished: deque[int] = deque(maxlen=FINISHED_COMMANDS_KEPT)

    # -- the heartbeat thread ---------------------------------------------------------------
    def poll(self) -> None:
        """Read ``paused`` and claim pending commands (one query when there are none)."""
        run = self.run
        with run.database.connect() as connection:
            row = connection.execute(
                select(
                    TradingBot.paused,
                    exists().where(
                        BotCommand.bot_id == run.bot_id,
                        BotCommand.status == CommandStatus.PENDING,
                    ),
                ).where(TradingBot.id == run.bot_id)
            ).one_or_none()
        if row is None:
            return  # the bot was deleted: the sensor stops the run
        paused, pending = bool(row[0]), bool(row[1])
        if paused != self.paused:
            log.info("bot %s: %s", run.bot_id, "paused" if paused else "resumed")
            self._pause_noted = False
        self.paused = paused
        if pending:
            for command in commands.claim(run.database, run.bot_id, run.run_id, fence=run.fence):
                log.info("bot %s: took %s command %s", run.bot_id, command.command, command.id)
                self._queue.put(command)

    # -- Cerebro's thread ---------------------------------------------------------------------
    def bind(self, cerebro: bt.Cerebro) -> None:
        self._cerebro = cerebro

    def forced(self, order: bt.Order) -> bool:
        return bool(order.info and order.info.get(FORCEEXIT_INFO) is not None)

    def refusal(self, order: bt.Order) -> str | None:
        if self.forced(order):
            return None
        if self._exit is not None:
            return f"a force exit (command {self._exit.command.id}) is in progress"
        if order.isbuy() and self.paused:
            why = "the bot is paused: no new entries until it is resumed"
            if not self._pause_noted:
                self._pause_noted = True
                log.warning("bot %s: entry refused: %s", self.run.bot_id, why)
                self.run.note(f"entry refused: {why} (noted once per pause)")
            return why
        return None

    def on_loop(self) -> None:
        if self._exit is not None:
            self._follow_exit()
        if self._exit is not None:
            return
        strategy = self._strategy()
        if strategy is None or not len(strategy.data):
            return  # Cerebro has not started, or no bar yet: the command waits
        try:
            command = self._queue.get_nowait()
        except queue.Empty:
            return
        if command.command != CommandKind.FORCEEXIT:
            self._finish(command, CommandStatus.FAILED, f"unknown command {command.command!r}")
            return
        self._start_exit(strategy, command)

    def _strategy(self) -> Any:
        strategies = getattr(self._cerebro, "runningstrats", None)
        return strategies[0] if strategies else None

    def _start_exit(self, strategy: Any, command: CommandRow) -> None:
        broker = strategy.broker
        cancelled = 0
        for order in list(broker.get_orders_open()):
            if order.alive():
                broker.cancel(order)
                cancelled += 1
        size = strategy.getposition(strategy.data).size
        if size <= 0:
            note = f"; cancelled {cancelled} open order(s)" if cancelled else ""
            self._finish(command, CommandStatus.DONE, f"no open position{note}")
            return
        order = bt.Strategy.sell(  # the base class's: a strategy's own sell() is not called
            strategy,
            data=strategy.data,
            size=size,
            exectype=bt.Order.Market,
            logic=FORCEEXIT_LOGIC,
            **{FORCEEXIT_INFO: command.id},
        )
        if order is None:
            self._finish(command, CommandStatus.FAILED, "the broker placed no order")
            return
        log.warning(
            "bot %s: force exit (command %s): selling %s", self.run.bot_id, command.id, size
        )
        self._exit = _Exit(command, order, cancelled)
        self._follow_exit()

    def _follow_exit(self) -> None:
        assert self._exit is not None
        order, command = self._exit.order, self._exit.command
        if order.status == bt.Order.Completed:
            self._exit = None
            self._finish(command, CommandStatus.DONE, self._closed_text())
        elif order.status in _ENDED_BADLY:
            self._exit = None
            how = _ENDED_BADLY[order.status]
            filled = abs(order.executed.size or 0.0)
            self._finish(
                command,
                CommandStatus.FAILED,
                f"the close order was {how} (filled {filled:g}); the position stays open "
                "(see the bot's status events for why)",
            )

    def _closed_text(self) -> str:
        """What the order did, from its row in ``trading_orders`` (exact amounts, the client
        order id): the paper sink and the live broker wrote it by now."""
        run = self.run
        row = commands.forceexit_order(run.database, run.bot_id, run.run_id)
        cancelled = self._exit.cancelled if self._exit is not None else 0
        note = f"; cancelled {cancelled} open order(s) first" if cancelled else ""
        if row is None:
            return f"closed the position in {run.config.symbol} at market{note}"
        return (
            f"closed {_plain(row.filled)} {run.config.symbol} at market "
            f"(average {_plain(row.average)}), order {row.client_order_id}{note}"
        )

    def _finish(
        self, command: CommandRow, status: CommandStatus, text: str, *, taken_by: str | None = None
    ) -> None:
        run = self.run
        log.info("bot %s: command %s %s: %s", run.bot_id, command.id, status.value, text)
        if commands.finish(
            run.database,
            command.id,
            status,
            text,
            taken_by=taken_by or run.run_id,
            run_id=run.run_id,
            fence=run.fence,
        ):
            self.finished.append(command.id)

    # -- the run's start and end ------------------------------------------------------------
    def adopt_orphans(self) -> None:
        """Finish the commands a previous run took and never finished (it died, or lost its
        lease), from the fate of the order it wrote; never place it again.  Called once the
        venue restored the bot (a live bot's unresolved orders are resolved at the exchange
        by then): no order row means the run died before writing one ahead, so nothing was
        sent."""
        run = self.run
        for command in commands.taken_by_other_runs(run.database, run.bot_id, run.run_id):
            old = command.run_id or "?"
            order = commands.forceexit_order(run.database, run.bot_id, old)
            if order is None:
                self._finish(
                    command,
                    CommandStatus.FAILED,
                    f"run {old} ended before placing the close order; nothing was sent "
                    "(ask again if the position should still be closed)",
                    taken_by=old,
                )
            elif order.status == OrderStatus.CLOSED:
                self._finish(
                    command,
                    CommandStatus.DONE,
                    f"closed {_plain(order.filled)} {run.config.symbol} at market (average "
                    f"{_plain(order.average)}), order {order.client_order_id} (placed by run "
                    f"{old}, which ended before reporting it)",
                    taken_by=old,
                )
            elif order.status in FINAL_ORDER_STATUSES:
                self._finish(
                    command,
                    CommandStatus.FAILED,
                    f"the close order {order.client_order_id} ended {order.status} with "
                    f"{_plain(order.filled)} filled (placed by run {old}, which ended)",
                    taken_by=old,
                )
            else:
                log.warning(
                    "bot %s: command %s: order %s of run %s is still %s; decided at a later start",
                    run.bot_id,
                    command.id,
                    order.client_order_id,
                    old,
                    order.status,
                )

    def shutdown(self) -> None:
        """The run ends: commands taken but not acted on fail (nothing was sent).  A paper
        close order still waiting for its bar vanishes with the simulated broker: it fails
        too.  A live one was sent: the next run finishes it from its fate."""
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                break
            self._finish(
                command,
                CommandStatus.FAILED,
                "the run stopped before acting on it; nothing was sent",
            )
        if self._exit is not None and self.run.config.mode != Mode.LIVE:
            command, self._exit = self._exit.command, None
            self._finish(
                command,
                CommandStatus.FAILED,
                "the run stopped before the close order filled; nothing was sold",
            )


def _plain(value: Any) -> str:
    """An amount as an operator reads it: ``0.5``, not ``0.500000000000000000``."""
    if value is None:
        return "?"
    text = format(value, "f") if not isinstance(value, float) else repr(value)
    return text.rstrip("0").rstrip(".") if "." in text else text
