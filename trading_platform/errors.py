"""The one error type for a configuration problem, and the one translation of pydantic's.

A bot's configuration is validated in :mod:`trading_platform.config` (its columns and
sections) and by the strategy registry (its ``params``); both raise :class:`ConfigError`,
written for the operator who reads it in the UI at night: ``field`` is the dotted path they
can find in the row (``mode``, ``config.broker.cash``, ``config.params.fast``) and
``problem`` says what was expected and what was found.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_core import ErrorDetails


class ConfigError(ValueError):
    """An invalid configuration: ``field`` is where to look, ``problem`` what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


#: a validator of a nested block names its own sub-field: ``params.entry_logic.period: ...``
_NESTED = re.compile(r"^(params(?:\.\w+)*): (.*)$", re.DOTALL)


def _describe(error: ErrorDetails, unknown: str) -> str:
    if error["type"] == "extra_forbidden":
        return unknown
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] in ("value_error", "assertion_error"):
        return message
    return f"{message} (found {error.get('input')!r})"


def from_validation_error(
    exc: ValidationError, prefix: str, *, unknown: str = "unknown setting"
) -> ConfigError:
    """pydantic's errors as one :class:`ConfigError`: the first problem is its ``field`` and
    ``problem``, and its message lists every problem.  ``unknown`` is what an extra key is
    called (a setting of a section, a parameter of a strategy)."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}.{location}" if location else prefix
        problem = _describe(error, unknown)
        nested = _NESTED.match(problem)
        if nested:
            field, problem = f"{field}.{nested[1]}", nested[2]
        problems.append((field, problem))
    config_error = ConfigError(*problems[0])
    if len(problems) > 1:
        config_error.args = ("; ".join(f"{field}: {problem}" for field, problem in problems),)
    return config_error
