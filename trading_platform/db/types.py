"""Column types shared by the models.

Money is exact: prices and amounts are stored as ``Decimal``.  PostgreSQL has a real
``NUMERIC``; SQLite would silently turn ``NUMERIC`` into a binary float, so there the value is
kept as its decimal text, which SQLite's arithmetic (``SUM``, ``+``) still understands.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def to_decimal(value: Any) -> Decimal | None:
    """Turn an exchange or backtrader number into a Decimal without binary noise.

    Floats go through ``repr`` (the shortest string that round-trips), so ``45000.5`` becomes
    ``Decimal('45000.5')`` and not ``Decimal('45000.500000000000000...')``.
    """
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if value != value:  # NaN never reaches the database
            raise ValueError("NaN is not a valid amount")
        return Decimal(repr(value))
    return Decimal(str(value))


class Money(TypeDecorator[Decimal]):
    """Exact decimal: NUMERIC(38, 18) on PostgreSQL, decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        number = to_decimal(value)
        if number is None:
            return None
        if dialect.name == "sqlite":
            return format(number, "f")
        return number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)) if not isinstance(value, Decimal) else value.normalize()


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are UTC everywhere; SQLite forgets the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: the money columns of ``trading_orders`` and ``trading_trades``
MONEY_COLUMNS = ("amount", "price", "filled", "average", "fee", "pnl")


def exact_money(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a row's values with every money column as a Decimal."""
    return {
        key: to_decimal(value) if key in MONEY_COLUMNS else value for key, value in values.items()
    }
