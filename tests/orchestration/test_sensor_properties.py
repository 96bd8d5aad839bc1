"""Property: whatever rows a SQL client writes into ``trading_bots``, the sensor's tick goes on.

Hypothesis writes random rows (wrong types, NULLs, huge and deep JSON, unicode and control
characters, duplicate names, non-finite numbers) beside two valid bots and evaluates the
sensor once per example.  It never raises; each valid bot is launched exactly once; each
random row either is a valid, enabled bot and is launched once, or is disabled and is not, or
is marked ``error`` with a message that names the field at fault.  A row the database itself
refuses (PostgreSQL checks types at insert time) is not a row, and is counted apart.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pytest
from dagster import DagsterInstance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError

from tests.support.builders import add_bot, desired
from tests.support.sensors import evaluate_bots_sensor
from trading_platform.db.bots import get_bots

#: examples per backend; CI runs this many (a few hundred in all)
EXAMPLES = 120

_FIELD = re.compile(
    r"^invalid config: (name|enabled|strategy|mode|exchange|symbol|timeframe|config)[.\[:]"
)

_text = st.text(max_size=30) | st.sampled_from(["", " ", "\r\n", "\x00", "é", "🙂", "x" * 300])
_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_json = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(["params", "data", "broker", "risk", "live", "credentials", "max_restarts"])
_config_object = st.dictionaries(_keys | st.text(max_size=8), _json, max_size=4)


def _deep(depth: int) -> str:
    return '{"params": ' + "[" * depth + "]" * depth + "}"


#: configs right in shape, with a random value where a number belongs
_near_valid_config = st.one_of(
    st.builds(lambda cash: {"broker": {"cash": cash}}, _json_leaf),
    st.builds(lambda fast: {"params": {"fast": fast, "slow": 8}}, _json_leaf),
    st.builds(lambda stake: {"risk": {"stake": stake}}, _json_leaf),
    st.builds(lambda value: {"heartbeat_interval": value}, _json_leaf),
).map(lambda value: json.dumps(value))
_config = st.one_of(
    _near_valid_config,
    st.none(),
    _config_object.map(lambda value: json.dumps(value)),  # NaN and Infinity as JSON allows
    _json.map(lambda value: json.dumps(value)),
    st.sampled_from(
        [
            "{",
            "not json",
            '{"broker": {"cash": Infinity}}',
            '{"params": {"fast": 1' + "0" * 5_000 + "}}",
            '{"params": {"x": "' + "a" * 70_000 + '"}}',
            _deep(50),
            _deep(20_000),
            '{"params": {"fast": 3, "slow": 8}}',
            '{"credentials": "SOMEONE_ELSES"}',
        ]
    ),
)
_random_columns = st.fixed_dictionaries(
    {
        "name": _text | st.sampled_from(["valid-a", "valid-b"]),
        "enabled": st.sampled_from([True, False, None, 0, 1, 2, "false", "no", "yes", ""]),
        "strategy": st.none() | _text | st.sampled_from(["sma_cross", "no_such_strategy"]),
        "mode": st.none() | _text | st.sampled_from(["paper", "backtest", "live", "PAPER"]),
        "exchange": st.none() | _text | st.sampled_from(["replay", "binance", "csv"]),
        "symbol": st.none() | _text | st.sampled_from(["BTC/USDT", "btc/usdt", "BTC-USDT"]),
        "timeframe": st.none() | _text | st.sampled_from(["1m", "1h", "7x"]),
        "config": _config,
    }
)

#: the default bot of the builders, as a SQL client writes it (config as JSON text)
_VALID = {"name": "mutant", **desired(), "config": json.dumps(desired()["config"])}


@st.composite
def _columns(draw: st.DrawFn) -> dict[str, Any]:
    """A row wholly random, or (more often) a valid row with one to three columns replaced:
    a wrong value must be caught beside right ones, not only in rows wrong everywhere."""
    random_row = draw(_random_columns)
    if draw(st.integers(0, 3)) == 0:
        return random_row
    mutated = draw(st.lists(st.sampled_from(sorted(_VALID)), min_size=1, max_size=2))
    return {**_VALID, **{column: random_row[column] for column in mutated}}


_tried = {"examples": 0, "rows": 0, "refused by the database": 0, "launched": 0, "error": 0}


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


def _insert(engine: Any, columns: dict[str, Any]) -> int | None:
    """The row as a SQL client writes it; None if the database refuses it."""
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    try:
        with engine.begin() as connection:
            return connection.execute(
                text(f"INSERT INTO trading_bots ({names}) VALUES ({values}) RETURNING id"),
                columns,
            ).scalar_one()
    except (DBAPIError, StatementError, ValueError):
        return None


def _refuse(constant: str) -> Any:
    raise ValueError(constant)


def _within_limits(config: str | None) -> bool:
    """The oracle for a launched row, independent of the code under test: small JSON with
    finite numbers only."""
    if config is None:
        return True
    if len(config.encode()) > 64 * 1024:
        return False
    try:
        json.loads(config, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return False
    return True


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(rows=st.lists(_columns(), min_size=1, max_size=3))
def test_no_row_stops_the_tick(db_engine, database_url, instance, rows) -> None:
    with db_engine.begin() as connection:
        connection.execute(text("DELETE FROM bot_status_events"))
        connection.execute(text("DELETE FROM trading_bots"))
    valid = {add_bot(db_engine, "valid-a"), add_bot(db_engine, "valid-b")}
    random_ids = []
    for columns in rows:
        _tried["rows"] += 1
        bot_id = _insert(db_engine, columns)
        if bot_id is None:
            _tried["refused by the database"] += 1
        else:
            random_ids.append(bot_id)
    _tried["examples"] += 1

    result = evaluate_bots_sensor(instance, database_url)  # never raises

    launched = [int(request.tags["trading/bot_id"]) for request in result.run_requests]
    assert len(launched) == len(set(launched)), "a bot launched twice in one tick"
    assert valid <= set(launched), "a valid bot was not launched beside the random rows"
    by_id = {row.id: row for row in get_bots(db_engine)}
    for bot_id in random_ids:
        row = by_id[bot_id]
        if bot_id in launched:
            _tried["launched"] += 1
            assert row.enabled and row.enabled_problem is None
            assert _within_limits(row.config_text), f"bot {bot_id} launched on {row.config_text!r}"
        elif row.status == "error":
            _tried["error"] += 1
            assert _FIELD.match(row.last_error or ""), row.last_error
            assert len(row.last_error or "") < 400
        else:
            assert not row.enabled, f"bot {bot_id} enabled, valid or not, yet neither run nor error"


@pytest.fixture(autouse=True, scope="module")
def _report_cases_tried():
    yield
    # a warning, not a print: pytest's warnings summary reaches the CI log from every xdist
    # worker (a built-in category: xdist carries only those to the controller)
    warnings.warn(f"sensor property test, cases tried: {_tried}", UserWarning, stacklevel=1)
