"""Errors of strategy configuration, written for the operator who reads them at night."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError


class StrategyConfigError(ValueError):
    """``field`` is the dotted path in the bot config (``params.fast``); ``problem`` says what
    was expected and what was found."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


_NESTED = re.compile(r"^(params(?:\.\w+)*): (.*)$", re.DOTALL)


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown parameter"
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] in ("value_error", "assertion_error"):
        return message
    return f"{message} (found {error.get('input')!r})"


def from_validation_error(exc: ValidationError, prefix: str) -> StrategyConfigError:
    """The first problem as the error's field; every problem in its message."""
    problems = []
    first_field = prefix
    for index, error in enumerate(exc.errors()):
        location = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}.{location}" if location else prefix
        problem = _describe(error)
        nested = _NESTED.match(problem)  # a block validator names its own sub-field
        if nested:
            field, problem = f"{field}.{nested[1]}", nested[2]
        if index == 0:
            first_field = field
        problems.append((field, problem))
    error = StrategyConfigError(first_field, problems[0][1])
    if len(problems) > 1:
        error.args = ("; ".join(f"{field}: {problem}" for field, problem in problems),)
    return error
