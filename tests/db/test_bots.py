"""``trading_bots`` through db/bots.py: every row read (plain-SQL rows and a malformed one
included), and only desired columns written."""

import pytest
from sqlalchemy import text

from tests.support.builders import add_bot, insert_bot_sql
from trading_platform.db.bots import delete_bot, get_bot, get_bots, set_bot


def test_get_bots_reads_rows_written_with_plain_sql(db_engine) -> None:
    insert_bot_sql(db_engine, "sql-bot", enabled=True, config='{"params": {"fast": 3}}')
    (row,) = get_bots(db_engine)
    assert row.name == "sql-bot"
    assert row.enabled is True
    assert row.status == "stopped"
    assert row.restart_count == 0 and row.error_count == 0
    assert row.desired()["config"] == {"params": {"fast": 3}}


def test_malformed_json_in_one_row_does_not_break_reading_all(db_engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type rejects malformed JSON on insert")
    add_bot(db_engine, "good")
    with db_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO trading_bots (name, enabled, config) VALUES ('bad', 1, '{oops')")
        )
    rows = get_bots(db_engine)
    assert [row.name for row in rows] == ["good", "bad"]
    assert rows[1].config_text == "{oops"


def test_set_bot_writes_only_desired_columns(db_engine) -> None:
    bot_id = add_bot(db_engine, "b1")
    assert set_bot(db_engine, bot_id, timeframe="5m")
    assert get_bot(db_engine, bot_id).timeframe == "5m"
    with pytest.raises(ValueError, match="status"):
        set_bot(db_engine, bot_id, status="running")
    assert not set_bot(db_engine, 999, timeframe="5m")


def test_a_deleted_bots_id_is_never_given_to_a_new_bot(db_engine) -> None:
    """Orders, trades, positions, status events and Dagster's run history name a bot by its
    id: a new bot that got a deleted bot's id would inherit its position and cash."""
    kept = add_bot(db_engine, "kept")
    newest = add_bot(db_engine, "deleted-newest")
    assert delete_bot(db_engine, newest)
    again = add_bot(db_engine, "added-after")
    assert again not in (kept, newest) and again > newest
