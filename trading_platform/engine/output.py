"""A bot run's own output, bounded: a rotating log file per bot, and a capped stdout/stderr.

A bot's run lives for weeks, and Dagster captures everything its process writes to stdout
and stderr into one file per run (``LocalComputeLogManager``: no rotation, no cap; the UI
loads it whole).  A strategy plugin that prints every bar, or a warning repeated every bar,
would grow that file without end.  So, while a bot runs (:func:`bounded_output`):

- Python logging (the platform at INFO, other libraries at WARNING) goes to
  ``$TRADING_HOME/logs/bot-<id>.log``, rotated at :attr:`OutputLimits.file_bytes` with
  :attr:`OutputLimits.file_backups` old files: at most (backups + 1) x file_bytes per bot,
  and the newest lines are always there.
- WARNING and above also go to stderr, so the run's captured log in the Dagster UI shows them.
- ``sys.stdout`` and ``sys.stderr`` pass through until the run has written
  :attr:`OutputLimits.stream_chars` characters to them; then one line says so and names the
  log file, and everything later goes to that file instead (rotated with the rest).

Not ``NoOpComputeLogManager``: that is instance config for every run (the health and purge
jobs too), and it throws away the tracebacks an operator needs.  What the run's op logs
through Dagster (``context.log``) is the event log's business; the activity entries are
bounded there (``engine/activity.py``).  Writes that bypass Python's ``sys`` streams (a C
library writing to file descriptor 2) are not capped; the platform's dependencies do not.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

#: the logger the text past the stream cap is written to (only the log file hears it)
OVERFLOW_LOGGER = "trading_platform.output"
PLATFORM_LOGGER = "trading_platform"
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


@dataclass(frozen=True)
class OutputLimits:
    #: ``TRADING_BOT_LOG_BYTES``: one log file's size before it is rotated
    file_bytes: int = 10 * 2**20
    #: rotated files kept beside the current one (``bot-7.log.1`` ... ``.3``)
    file_backups: int = 3
    #: characters a run may write to stdout and stderr together before they are capped
    stream_chars: int = 2**20

    def __post_init__(self) -> None:
        if self.file_bytes < 1024:
            raise ValueError(
                f"TRADING_BOT_LOG_BYTES: expected at least 1024, found {self.file_bytes}"
            )


def bot_log_path(home: Path, bot_id: int) -> Path:
    return home / "logs" / f"bot-{bot_id}.log"


class _Budget:
    """The characters stdout and stderr may still pass, shared by both."""

    def __init__(self, chars: int) -> None:
        self.remaining = chars
        self.exhausted = False
        self.lock = threading.Lock()


class CappedStream(io.TextIOBase):
    """A text stream that passes writes to ``target`` while the shared budget lasts, then
    writes ``notice`` once and sends the rest to the ``overflow`` logger."""

    def __init__(
        self, target: TextIO, budget: _Budget, notice: str, overflow: logging.Logger
    ) -> None:
        self._target = target
        self._budget = budget
        self._notice = notice
        self._overflow = overflow

    def write(self, text: str) -> int:
        with self._budget.lock:
            if not self._budget.exhausted and len(text) <= self._budget.remaining:
                self._budget.remaining -= len(text)
                passed, rest, notice = text, "", ""
            else:
                passed, rest = "", text
                notice = "" if self._budget.exhausted else self._notice
                self._budget.exhausted = True
        if passed or notice:
            self._target.write(passed or notice)
            self._target.flush()
        if rest.strip():
            self._overflow.info(rest.rstrip("\n"))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return False


@contextmanager
def bounded_output(log_path: Path, limits: OutputLimits | None = None) -> Iterator[Path]:
    """Bound this process's logging and ``sys`` streams while the block runs (see the module
    docstring); everything is put back afterwards."""
    limits = limits or OutputLimits()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = RotatingFileHandler(
        log_path,
        maxBytes=limits.file_bytes,
        backupCount=limits.file_backups,
        encoding="utf-8",
    )
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter(FORMAT))
    budget = _Budget(limits.stream_chars)
    notice = (
        f"[trading-platform] this run wrote {limits.stream_chars} characters to stdout/stderr; "
        f"the rest is in {log_path}\n"
    )
    overflow = logging.getLogger(OVERFLOW_LOGGER)
    saved_out, saved_err = sys.stdout, sys.stderr
    stderr = CappedStream(saved_err, budget, notice, overflow)
    stdout = CappedStream(saved_out, budget, notice, overflow)
    stream_handler = logging.StreamHandler(stderr)
    stream_handler.setLevel(logging.WARNING)
    stream_handler.setFormatter(logging.Formatter(FORMAT))

    root, platform = logging.getLogger(), logging.getLogger(PLATFORM_LOGGER)
    saved_level, saved_propagate = platform.level, overflow.propagate
    overflow.addHandler(file_handler)
    overflow.propagate = False
    root.addHandler(file_handler)
    root.addHandler(stream_handler)
    if platform.getEffectiveLevel() > logging.INFO:
        platform.setLevel(logging.INFO)
    sys.stdout, sys.stderr = stdout, stderr
    try:
        yield log_path
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
        root.removeHandler(stream_handler)
        root.removeHandler(file_handler)
        overflow.removeHandler(file_handler)
        overflow.propagate = saved_propagate
        platform.setLevel(saved_level)
        file_handler.close()
