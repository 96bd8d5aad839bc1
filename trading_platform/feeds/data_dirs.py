"""The directories a bot's data file (``config.data.path``) may come from.

A bot's config is written by its owner, but the file is opened by the platform, and a parse
error is reported back to that owner (``last_error``, audit log, notification): without a
fence, ``data.path`` could name any file the platform can read (``.env``, keys).  So a path
is resolved (``~``, a relative path against the first data directory, symlinks and ``..``)
and must then lie inside one of the data directories.  The rule lives here alone: config
validation (the sensor marks the bot ``error``) and the file reader both call it.

``TRADING_DATA_DIRS`` lists the directories (``os.pathsep``-separated).  Unset, they are
``$TRADING_HOME/data`` (the operator's files) and ``$TRADING_HOME/demo`` (where
``trading-platform demo``/``make run`` write the demo CSV the README's examples read).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from trading_platform.db.engine import trading_home
from trading_platform.errors import ConfigError

ENV_VAR = "TRADING_DATA_DIRS"
FIELD = "config.data.path"


def data_dirs() -> tuple[Path, ...]:
    """The configured data directories, resolved (the first one anchors relative paths)."""
    raw = os.environ.get(ENV_VAR, "")
    entries = [entry for entry in raw.split(os.pathsep) if entry.strip()]
    if not entries:
        home = trading_home()
        return ((home / "data").resolve(), (home / "demo").resolve())
    return tuple(Path(entry.strip()).expanduser().resolve() for entry in entries)


def confine(path: str | Path, dirs: Sequence[Path] | None = None) -> Path:
    """``path`` resolved, if it lies inside one of ``dirs`` (default: :func:`data_dirs`).

    Raises :class:`ConfigError` on ``config.data.path`` otherwise.  Nothing is opened: a
    file that does not exist yet is the reader's concern, not a breach.
    """
    allowed = tuple(Path(d).expanduser().resolve() for d in dirs) if dirs else data_dirs()
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = allowed[0] / candidate
    resolved = candidate.resolve()
    if not any(resolved.is_relative_to(directory) for directory in allowed):
        shown = os.pathsep.join(str(directory) for directory in allowed)
        raise ConfigError(
            FIELD,
            f"{path} is outside the data directories ({ENV_VAR}={shown}); put the file in "
            f"one of them or add its directory to {ENV_VAR}",
        )
    return resolved
