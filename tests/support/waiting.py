"""Waiting for a condition with a deadline, never a bare ``sleep``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    pass


def wait_for(
    condition: Callable[[], T],
    timeout: float,
    message: str,
    interval: float = 0.5,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``message`` at the
    deadline, followed by what ``explain`` says about the system at that moment."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    report = f"timed out after {timeout:.0f} s waiting for: {message} (last: {last!r})"
    if explain is not None:
        try:
            report += "\n" + explain()
        except Exception as exc:  # noqa: BLE001 - the timeout is the failure to report
            report += f"\n(could not describe the system: {type(exc).__name__}: {exc})"
    raise Timeout(report)
