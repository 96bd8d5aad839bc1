"""Client order ids: deterministic, so a retry of one signal reuses its id.

``tp-<bot>-<incarnation>-<sequence>``: the same signal gets the same id on every retry of its
send, and two incarnations of a bot never share one (the sequence of an incarnation continues
past ids already in ``trading_orders``).
"""

from __future__ import annotations


def order_id_prefix(bot_id: int, incarnation: int) -> str:
    return f"tp-{bot_id}-{incarnation}-"


def client_order_id(bot_id: int, incarnation: int, sequence: int) -> str:
    return f"{order_id_prefix(bot_id, incarnation)}{sequence}"
