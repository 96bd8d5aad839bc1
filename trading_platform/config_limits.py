"""What a ``trading_bots`` row may hold at most, checked before anything reads it further.

The table is written with any SQL client, so a row can hold anything: a megabyte of JSON,
JSON nested 100,000 deep (Python's parser raises ``RecursionError``), ``Infinity`` for cash
(Python's parser accepts it), a 10,000-digit number, a name with a carriage return that
later breaks an e-mail header.  Each of these is refused here with a :class:`ConfigError`
that names the field and the limit, so that the bot is marked ``error`` and every other bot
goes on.  The limits are generous for any real configuration.
"""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

from trading_platform.errors import ConfigError

#: bytes of the ``config`` column (UTF-8)
MAX_CONFIG_BYTES = 64 * 1024
#: objects and lists inside each other in ``config`` (``{"params": {"x": [1]}}`` is 3)
MAX_CONFIG_DEPTH = 16
#: characters of a bot's name
MAX_NAME_LENGTH = 100
#: characters of the other text columns (strategy, mode, exchange, symbol, timeframe)
MAX_TEXT_LENGTH = 100
#: characters of a value quoted back in an error message
QUOTE_LENGTH = 60


def quote(value: Any) -> str:
    """``repr(value)``, cut to :data:`QUOTE_LENGTH` characters: an error quotes what it found
    without copying a hostile row into ``last_error``, the audit log and a notification."""
    text = repr(value)
    return text if len(text) <= QUOTE_LENGTH else f"{text[: QUOTE_LENGTH - 3]}..."


def check_text(value: str, field: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """``value`` if it is short and free of control characters (a CR or LF in a name would
    end up in an e-mail header and in log lines)."""
    if len(value) > limit:
        raise ConfigError(field, f"is {len(value)} characters long; at most {limit}")
    bad = next((char for char in value if unicodedata.category(char) in ("Cc", "Cf")), None)
    if bad is not None:
        raise ConfigError(field, f"contains the control character U+{ord(bad):04X}")
    return value


def _refuse_constant(name: str) -> float:
    return float(name)  # checked with the rest of the tree, where the field is known


def load_config_text(text: str | bytes) -> Any:
    """The ``config`` column's JSON, within :data:`MAX_CONFIG_BYTES` and
    :data:`MAX_CONFIG_DEPTH`, every number finite."""
    size = len(text.encode("utf-8", "replace") if isinstance(text, str) else text)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError("config", f"is {size} bytes; at most {MAX_CONFIG_BYTES}")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "config", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ConfigError("config", f"nested more than {MAX_CONFIG_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError("config", f"unreadable JSON value ({str(exc)[:80]})") from None
    check_tree(value)
    return value


def check_tree(value: Any) -> None:
    """Walk ``value`` (without recursion: the depth is what is being checked) and refuse the
    first container nested too deep and the first non-finite number, naming its path."""
    pending: list[tuple[Any, str, int]] = [(value, "config", 0)]
    while pending:
        item, path, depth = pending.pop()
        path = path if len(path) <= 120 else f"{path[:117]}..."
        if isinstance(item, (dict, list)):
            if depth + 1 > MAX_CONFIG_DEPTH:
                raise ConfigError(path, f"nested more than {MAX_CONFIG_DEPTH} levels deep")
            children = (
                ((f"{path}.{key}", child) for key, child in item.items())
                if isinstance(item, dict)
                else ((f"{path}[{index}]", child) for index, child in enumerate(item))
            )
            pending.extend((child, child_path, depth + 1) for child_path, child in children)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(path, f"expected a finite number, found {item}")
