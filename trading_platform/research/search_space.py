"""The values a parameter search tries, parsed from ``--optimize`` and checked against the
strategy's ``Params``.

Each key names a parameter of the strategy; its value is

* a list of values, tried as given: ``[5, 10, 20]``;
* a range ``"start:stop:step"``, *stop included* when it falls on the grid (``"20:100:10"``
  is 20, 30, ..., 100, as a person reads it); the step defaults to 1 for an integer
  parameter, and an empty start or stop is the parameter's bound from ``Params``
  (``":50:5"`` starts at ``fast``'s minimum);
* a single value, which is held fixed.

The type comes from ``Params``: a range of an ``int`` parameter is whole numbers, a range of a
``float`` parameter is computed in decimal (``"0.1:0.5:0.1"`` is 0.1, 0.2, 0.3, 0.4, 0.5, not
0.30000000000000004) and ranges of other types are refused.  Every value is checked alone
against the parameter's type and bounds here, so ``"1:10"`` for a parameter that must be at
least 2 fails at once naming the field; what only a combination can break (``fast`` below
``slow``) is found per combination by the registry and that combination is skipped with the
reason (see :mod:`~trading_platform.research.optimize`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Strict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from trading_platform.errors import ConfigError

FIELD = "optimize"
#: values of one parameter (a range of a million values is a typo, not a search)
MAX_VALUES = 100_000
#: combinations an exhaustive search runs; beyond, use --trials (sampled)
MAX_GRID = 100_000

Kind = Literal["values", "int", "float"]


@dataclass(frozen=True)
class Dimension:
    """One parameter's values; a range keeps its bounds for samplers that use the order."""

    name: str
    kind: Kind
    values: tuple[Any, ...]
    step: float | int | None = None

    @property
    def low(self) -> Any:
        return self.values[0]

    @property
    def high(self) -> Any:
        return self.values[-1]


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @property
    def size(self) -> int:
        return math.prod(len(dimension.values) for dimension in self.dimensions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dimension.name for dimension in self.dimensions)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every combination, the last parameter varying fastest."""
        for values in itertools.product(*(dimension.values for dimension in self.dimensions)):
            yield dict(zip(self.names, values, strict=True))


def parse_search_space(spec: Any, params_model: type[BaseModel]) -> SearchSpace:
    """``spec`` (the parsed ``--optimize`` JSON) as a :class:`SearchSpace`; a
    :class:`ConfigError` names ``optimize.<param>`` and the problem."""
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(FIELD, 'expected an object of parameters to vary, e.g. {"fast": [5, 10]}')
    fields = params_model.model_fields
    dimensions = []
    for name, value in spec.items():
        info = fields.get(name)
        if info is None:
            known = ", ".join(fields) or "none"
            raise ConfigError(f"{FIELD}.{name}", f"unknown parameter; the strategy has: {known}")
        dimensions.append(_dimension(name, value, info))
    return SearchSpace(tuple(dimensions))


def check_grid_size(space: SearchSpace) -> None:
    """An exhaustive search of more than :data:`MAX_GRID` combinations is refused."""
    if space.size > MAX_GRID:
        raise ConfigError(
            FIELD,
            f"{space.size:,} combinations is more than {MAX_GRID:,}; "
            "sample them with --trials N or narrow the ranges",
        )


def _dimension(name: str, value: Any, info: FieldInfo) -> Dimension:
    field = f"{FIELD}.{name}"
    if isinstance(value, str):
        return _range(name, value, info)
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ConfigError(field, "an empty list; give at least one value")
    if len(values) > MAX_VALUES:
        raise ConfigError(field, f"{len(values):,} values is more than {MAX_VALUES:,}")
    for item in values:
        if isinstance(item, (list, dict)):
            raise ConfigError(field, f"expected plain values in the list, found {item!r}")
        _check_value(field, item, info)
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(field, f"a value is listed twice in {values!r}")
    return Dimension(name, "values", tuple(values))


def _range(name: str, text: str, info: FieldInfo) -> Dimension:
    field = f"{FIELD}.{name}"
    parts = text.strip().split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(
            field, f"expected a range 'start:stop:step' or a list of values, found {text!r}"
        )
    annotation = info.annotation
    if annotation is int:
        kind: Kind = "int"
    elif annotation is float:
        kind = "float"
    else:
        raise ConfigError(
            field,
            f"a range needs an int or float parameter ({name} is "
            f"{getattr(annotation, '__name__', annotation)}); give a list of values",
        )
    low_bound, high_bound = _bounds(info, kind)
    start = _number(field, parts[0], kind, low_bound, "start")
    stop = _number(field, parts[1], kind, high_bound, "stop")
    step = _number(
        field,
        parts[2] if len(parts) == 3 else "",
        kind,
        Decimal(1) if kind == "int" else None,
        "step",
    )
    if step <= 0:
        raise ConfigError(field, f"the step must be positive, found {parts[2]!r}")
    if start > stop:
        raise ConfigError(field, f"start {start} is above stop {stop} in {text!r}")
    count = int((stop - start) // step) + 1
    if count > MAX_VALUES:
        raise ConfigError(field, f"{text!r} is {count:,} values, more than {MAX_VALUES:,}")
    values: tuple[Any, ...]
    if kind == "int":
        values = tuple(int(start + index * step) for index in range(count))
    else:
        values = tuple(float(start + index * step) for index in range(count))
    for item in values:
        _check_value(field, item, info)
    return Dimension(name, kind, values, int(step) if kind == "int" else float(step))


def _number(field: str, text: str, kind: Kind, default: Decimal | None, what: str) -> Decimal:
    text = text.strip()
    if not text:
        if default is None:
            raise ConfigError(
                field, f"give the range's {what}: the parameter has no inclusive bound for it"
            )
        return default
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ConfigError(field, f"the range's {what} is not a number: {text!r}") from None
    if not number.is_finite():
        raise ConfigError(field, f"the range's {what} must be finite, found {text!r}")
    if kind == "int" and number != number.to_integral_value():
        raise ConfigError(
            field, f"the parameter is an int; the range's {what} {text!r} is not whole"
        )
    return number


def _bounds(info: FieldInfo, kind: Kind) -> tuple[Decimal | None, Decimal | None]:
    """The parameter's smallest and largest allowed values, where ``Params`` says (an
    exclusive bound of an int parameter is the next whole number)."""
    low = high = None
    for constraint in info.metadata:
        for attribute in ("ge", "gt", "le", "lt"):
            bound = getattr(constraint, attribute, None)
            if bound is None:
                continue
            number = Decimal(str(bound))
            if attribute in ("gt", "lt") and kind == "float":
                continue  # no float is the first one above an exclusive bound
            if attribute == "gt":
                number += 1
            elif attribute == "lt":
                number -= 1
            if attribute in ("ge", "gt"):
                low = number
            else:
                high = number
    return low, high


def _check_value(field: str, value: Any, info: FieldInfo) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(
        Annotated[(info.annotation, Strict(), *info.metadata)]  # type: ignore[arg-type]
    )
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        problem = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(field, f"{value!r}: {problem}") from None
