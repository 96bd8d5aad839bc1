"""``custom``: a strategy composed from one entry block and one exit block.

``{"entry_logic": {"name": "rsi_below", "params": {"threshold": 25}},
"exit_logic": {"name": "trailing_stop", "params": {"trail": 0.04}}}``
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator

from trading_platform.strategy_handler.base import PlatformStrategy, StrategyParams
from trading_platform.strategy_handler.logic import LogicBlock, blocks_of_kind


class LogicSpec(StrategyParams):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


def _check_block(spec: LogicSpec, kind: str) -> LogicSpec:
    blocks = blocks_of_kind(kind)
    block = blocks.get(spec.name)
    if block is None:
        raise ValueError(
            f"unknown {kind} logic {spec.name!r}; available: {', '.join(sorted(blocks))}"
        )
    try:
        validated = block.Params.model_validate(spec.params)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        problem = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            problem = "unknown parameter"
        elif error["type"] != "value_error":
            problem = f"{problem} (found {error.get('input')!r})"
        raise ValueError(f"params.{where}: {problem}" if where else f"params: {problem}") from None
    return LogicSpec(name=spec.name, params=validated.model_dump())


class CustomParams(StrategyParams):
    entry_logic: LogicSpec = Field(description="entry block: {name, params}")
    exit_logic: LogicSpec = Field(description="exit block: {name, params}")

    @field_validator("entry_logic")
    @classmethod
    def _entry(cls, spec: LogicSpec) -> LogicSpec:
        return _check_block(spec, "entry")

    @field_validator("exit_logic")
    @classmethod
    def _exit(cls, spec: LogicSpec) -> LogicSpec:
        return _check_block(spec, "exit")


class CustomStrategy(PlatformStrategy):
    """Composes a named entry block and a named exit block (long-only)."""

    name = "custom"
    Params = CustomParams
    params = (("entry_logic", None), ("exit_logic", None))

    def __init__(self) -> None:
        super().__init__()
        self.entry = self._build(self.p.entry_logic, "entry")
        self.exit = self._build(self.p.exit_logic, "exit")

    def _build(self, spec: Any, kind: str) -> LogicBlock:
        spec = spec.model_dump() if isinstance(spec, LogicSpec) else dict(spec)
        block = blocks_of_kind(kind)[spec["name"]]
        return block(self, block.Params.model_validate(spec.get("params") or {}))

    def next(self) -> None:
        if self.pending_order is not None:
            return
        if not self.position:
            if self.entry.signal():
                self.exit.on_entry()
                self.enter_long(self.entry.name)
        elif self.exit.signal():
            self.exit_long(self.exit.name)
