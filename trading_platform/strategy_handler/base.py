"""The base class of platform strategies: backtrader strategies with typed parameters.

A strategy declares its parameters once, as a pydantic model named ``Params`` (types,
defaults, bounds, descriptions); the metaclass turns the model's defaults into backtrader's
``params`` so ``cerebro.addstrategy(Cls, fast=5)`` and plain backtrader keep working, and
the registry validates configs against the model.  Strategies are long-only (spot): a buy
opens or adds to the position, a sell closes it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import backtrader as bt
from pydantic import BaseModel, ConfigDict


class StrategyParams(BaseModel):
    """Strict: JSON from a SQL client must carry the right types (``"10"`` is not an int).
    Pydantic's strict mode still accepts an int where a float is expected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _PlatformMeta(type(bt.Strategy)):  # type: ignore[misc]
    def __new__(meta, name: str, bases: tuple[type, ...], dct: dict[str, Any]):
        model = dct.get("Params")
        if isinstance(model, type) and issubclass(model, BaseModel) and "params" not in dct:
            dct["params"] = tuple(
                (field, None if info.is_required() else info.get_default(call_default_factory=True))
                for field, info in model.model_fields.items()
            )
        return super().__new__(meta, name, bases, dct)


class PlatformStrategy(bt.Strategy, metaclass=_PlatformMeta):
    """Subclass, set ``name``, declare ``Params``, write ``next``; see ``strategies/``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self) -> None:
        super().__init__()
        self.pending_order: bt.Order | None = None

    @classmethod
    def check_params(cls, params: StrategyParams) -> None:
        """Cross-field checks (``fast < slow``); raise ``ValueError`` naming the fields."""

    def enter_long(self, logic: str, size: float | None = None) -> bt.Order | None:
        """Buy, tagging the order with the entry logic's name (it ends in trading_trades)."""
        self.pending_order = self.buy(size=size, logic=logic)
        return self.pending_order

    def exit_long(self, logic: str) -> bt.Order | None:
        """Close the position, tagging the order with the exit logic's name."""
        self.pending_order = self.close(logic=logic)
        return self.pending_order

    def notify_order(self, order: bt.Order) -> None:
        # brokers notify clones of the order, so compare references, not identity
        pending = self.pending_order
        if pending is not None and order.ref == pending.ref and not order.alive():
            self.pending_order = None
