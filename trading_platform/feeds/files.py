"""Historical OHLCV bars from CSV or Parquet files, checked before a backtest trusts them.

Headers are matched loosely (case, spaces and underscores ignored) against the spellings
exchanges, Yahoo and backtrader use.  ``Adj Close`` is recognised and ignored: the platform
trades the raw close, as an exchange would fill it.  Every problem is a :class:`DataError`
naming the file, the line (CSV lines count the header as line 1) and what was wrong, but
never what the file holds: the message reaches the bot's owner (``last_error``, audit log,
notification), and a file that is not market data (a ``.env`` named by mistake or on
purpose) must not be quoted back.  Positions, recognised column names and the kind of
problem are enough to fix a file.  The path itself is fenced in by
:mod:`~trading_platform.feeds.data_dirs`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from trading_platform.feeds.data_dirs import confine

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = (*PRICE_COLUMNS, "volume", "openinterest")

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "datetime": ("date", "datetime", "timestamp", "time", "datetime", "opentime", "ts"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "price", "last"),
    "volume": ("volume", "vol", "v"),
    "openinterest": ("openinterest", "oi"),
    "adjclose": ("adjclose", "adjustedclose"),
}


class DataError(ValueError):
    """A data file that cannot be backtested, with where and why."""


def _key(column: object) -> str:
    return str(column).strip().lower().replace(" ", "").replace("_", "").replace("-", "")


def _map_columns(columns: list[str], path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    keys = {_key(column): column for column in columns}
    for name, spellings in _SPELLINGS.items():
        for spelling in spellings:
            if spelling in keys:
                found[name] = keys[spelling]
                break
    # a separate date and time column pair (e.g. "Date,Time,Open,...")
    if "date" in keys and "time" in keys:
        found["datetime"] = keys["date"]
        found["time_of_day"] = keys["time"]
    missing = [name for name in PRICE_COLUMNS if name not in found]
    if "datetime" not in found:
        missing.insert(0, "date/datetime/timestamp")
    if missing:
        raise DataError(
            f"data file {path}: missing column(s): {', '.join(missing)}; the header (line 1) "
            f"has {len(columns)} column(s), none of them a known spelling of those"
        )
    return found


def _where(path: Path, position: int) -> str:
    if path.suffix.lower() in (".parquet", ".pq"):
        return f"row {position + 1}"
    return f"line {position + 2}"


def _parse_times(raw: pd.Series, path: Path) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(raw):
        numbers = raw.astype("float64")
        unit: Literal["ms", "s"] = "ms" if numbers.abs().max() > 1e11 else "s"
        parsed = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    elif pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        parsed = pd.to_datetime(raw.astype(str), utc=True, errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        position = int(bad[0])
        raise DataError(f"data file {path}: unreadable timestamp on {_where(path, position)}")
    return pd.DatetimeIndex(parsed).tz_convert("UTC").tz_localize(None)


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            if isinstance(frame.index, pd.DatetimeIndex):
                frame = frame.reset_index()
            return frame
        return pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"data file {path}: not a well-formed CSV{_parser_where(exc)}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(
            f"data file {path}: cannot be read: {exc.strerror or 'I/O error'}"
        ) from None
    except ValueError as exc:
        raise DataError(
            f"data file {path}: not a readable CSV or Parquet file ({type(exc).__name__})"
        ) from None


#: the one part of a pandas parser error worth keeping (its other text may quote the file)
_PARSER_WHERE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_where(exc: Exception) -> str:
    match = _PARSER_WHERE.search(str(exc))
    if match is None:
        return ""
    expected, line, found = match.groups()
    return f": line {line} has {found} fields, expected {expected}"


def _as_timestamp(value: str | dt.date, end: bool) -> pd.Timestamp:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
        return stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1) if end else stamp
    text = str(value)
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if end and len(text) <= 10:  # a bare date: the whole day
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return stamp


def load_ohlcv(
    path: str | Path,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    *,
    data_dirs: Sequence[Path] | None = None,
) -> pd.DataFrame:
    """Bars of ``path`` between ``start`` and ``end`` (inclusive; a date means the whole day).

    Returns a frame indexed by naive-UTC ``datetime`` with float columns open, high, low,
    close, volume, openinterest (volume and open interest are 0 when absent or empty).

    ``path`` must lie inside ``data_dirs`` (default: the configured data directories), checked
    here again although validation did: this is where the file is opened.  The range error
    names the dates the file covers; those are bars that parsed, not raw text.
    """
    path = confine(path, data_dirs)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    raw = _read(path)
    if raw.empty:
        raise DataError(f"data file {path}: no rows")
    names = _map_columns([str(c) for c in raw.columns], path)

    times = raw[names["datetime"]]
    if "time_of_day" in names:
        times = times.astype(str) + " " + raw[names["time_of_day"]].astype(str)
    index = _parse_times(times, path)

    frame = pd.DataFrame(index=pd.DatetimeIndex(index, name="datetime"))
    for column in PRICE_COLUMNS:
        values = pd.to_numeric(raw[names[column]], errors="coerce").to_numpy(dtype="float64")
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            position = int(bad[0])
            raise DataError(
                f"data file {path}: NaN or non-numeric value in column '{names[column]}' on "
                f"{_where(path, position)}"
            )
        frame[column] = values
    for column in ("volume", "openinterest"):
        if column in names:
            numbers = pd.to_numeric(raw[names[column]], errors="coerce").fillna(0.0)
            frame[column] = numbers.to_numpy(dtype="float64")
        else:
            frame[column] = 0.0

    stamps = index.asi8
    steps = np.diff(stamps)
    if len(steps):
        backwards = np.flatnonzero(steps < 0)
        duplicates = np.flatnonzero(steps == 0)
        first_backwards = int(backwards[0]) if len(backwards) else None
        first_duplicate = int(duplicates[0]) if len(duplicates) else None
        if first_duplicate is not None and (
            first_backwards is None or first_duplicate < first_backwards
        ):
            raise DataError(
                f"data file {path}: duplicate timestamp on "
                f"{_where(path, first_duplicate)} and {_where(path, first_duplicate + 1)}"
            )
        if first_backwards is not None:
            i = first_backwards
            raise DataError(
                f"data file {path}: timestamps are not in ascending order: "
                f"{_where(path, i + 1)} is earlier than {_where(path, i)}"
            )
    inverted = np.flatnonzero(frame["high"].to_numpy() < frame["low"].to_numpy())
    if len(inverted):
        position = int(inverted[0])
        raise DataError(f"data file {path}: high below low on {_where(path, position)}")

    if start is not None or end is not None:
        first, last = index[0], index[-1]
        lower = _as_timestamp(start, end=False) if start is not None else first
        upper = _as_timestamp(end, end=True) if end is not None else last
        frame = frame.loc[lower:upper]
        if frame.empty:
            raise DataError(
                f"no bars between {start or first.date()} and {end or last.date()} in {path} "
                f"(file covers {first.date()} .. {last.date()})"
            )
    return frame
