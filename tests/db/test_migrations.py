import pytest
from sqlalchemy import exc, inspect, text

from trading_platform.db import make_engine
from trading_platform.db.migrate import current_revision, head_revision, upgrade
from trading_platform.db.models import Base

CONTRACT = {
    "users": {"id", "username", "email", "telegram_user_id", "created_at"},
    "credential_grants": {"id", "user_id", "name", "granted_at", "granted_by"},
    "trading_bots": {
        "id",
        "user_id",
        "name",
        "enabled",
        "strategy",
        "mode",
        "exchange",
        "symbol",
        "timeframe",
        "config",
        "status",
        "last_heartbeat",
        "started_at",
        "stopped_at",
        "error_count",
        "last_error",
        "restart_count",
        "current_balance",
        "total_pnl",
        "feed_problem",
        "drift",
        "created_at",
        "updated_at",
    },
    "trading_orders": {
        "id",
        "bot_id",
        "run_id",
        "client_order_id",
        "exchange_order_id",
        "side",
        "type",
        "amount",
        "price",
        "status",
        "filled",
        "average",
        "fee",
        "created_at",
        "updated_at",
    },
    "trading_trades": {
        "id",
        "bot_id",
        "run_id",
        "order_id",
        "side",
        "amount",
        "price",
        "fee",
        "pnl",
        "entry_logic",
        "exit_logic",
        "executed_at",
    },
    "trading_positions": {
        "bot_id",
        "symbol",
        "size",
        "avg_price",
        "opened_at",
        "updated_at",
        "closed_at",
    },
    "bot_status_events": {"bot_id", "from_status", "to_status", "reason", "run_id", "at"},
    "metric_snapshots": {
        "bot_id",
        "at",
        "balance",
        "equity",
        "realized_pnl",
        "unrealized_pnl",
        "trade_count",
        "win_rate",
        "max_drawdown",
        "sharpe",
    },
    "notifications": {
        "id",
        "user_id",
        "bot_id",
        "channel",
        "type",
        "priority",
        "text",
        "status",
        "attempts",
        "next_attempt_at",
        "dedupe_key",
        "created_at",
        "sent_at",
    },
}


def test_upgrade_creates_every_contract_column(database_url: str) -> None:
    engine = make_engine(database_url)
    inspector = inspect(engine)
    for table, columns in CONTRACT.items():
        found = {column["name"] for column in inspector.get_columns(table)}
        assert columns <= found, f"{table} lacks {columns - found}"
    engine.dispose()


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    before = {t: inspect(engine).get_columns(t) for t in CONTRACT}
    engine.dispose()
    assert upgrade(database_url) == head_revision()
    engine = make_engine(database_url)
    after = {t: inspect(engine).get_columns(t) for t in CONTRACT}
    engine.dispose()
    assert [c["name"] for t in before for c in before[t]] == [
        c["name"] for t in after for c in after[t]
    ]
    assert current_revision(database_url) == head_revision()


def test_migrations_match_the_models(database_url: str) -> None:
    """Autogenerate finds no difference: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_uses_wal_and_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


def test_upgrade_keeps_bots_and_never_reissues_an_id_still_named_elsewhere(tmp_path) -> None:
    """0003 rebuilds ``trading_bots`` on SQLite with AUTOINCREMENT: rows keep their ids, and
    an id deleted before the upgrade but still named by other tables is not handed out."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    engine = make_engine(url)
    with engine.begin() as connection:
        for bot_id in (1, 2, 3):
            connection.execute(
                text("INSERT INTO trading_bots (id, name, enabled) VALUES (:id, :n, false)"),
                {"id": bot_id, "n": f"bot {bot_id}"},
            )
        connection.execute(
            text(
                "INSERT INTO bot_status_events (bot_id, to_status, reason, at)"
                " VALUES (3, 'stopped', 'history of a deleted bot', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(text("DELETE FROM trading_bots WHERE id = 3"))
    upgrade(url)
    with engine.begin() as connection:
        kept = connection.execute(text("SELECT id, name FROM trading_bots ORDER BY id")).all()
        connection.execute(text("INSERT INTO trading_bots (name, enabled) VALUES ('new', false)"))
        new_id = connection.execute(
            text("SELECT id FROM trading_bots WHERE name = 'new'")
        ).scalar_one()
    engine.dispose()
    assert [tuple(row) for row in kept] == [(1, "bot 1"), (2, "bot 2")]
    assert new_id == 4


def test_lease_epochs_start_above_every_incarnation_already_in_client_ids(tmp_path) -> None:
    """0004: a bot whose orders already used ``tp-<bot>-7-...`` gets epoch 7, so its next
    run (epoch 8) can never write an id an earlier incarnation wrote."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    engine = make_engine(url)
    with engine.begin() as connection:
        for client_id in ("tp-5-2-1", "tp-5-7-3", "tp-6-1-1", "manual-1"):
            connection.execute(
                text(
                    "INSERT INTO trading_orders (bot_id, client_order_id, side, type, amount,"
                    " status, created_at, updated_at) VALUES (5, :c, 'buy', 'market', '1',"
                    " 'closed', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"c": client_id},
            )
    upgrade(url)
    with engine.connect() as connection:
        epochs = connection.execute(text("SELECT bot_id, epoch FROM bot_leases ORDER BY 1")).all()
    engine.dispose()
    assert [tuple(row) for row in epochs] == [(5, 7), (6, 1)]


def test_enabled_check_disables_odd_values_keeps_the_id_counter_and_refuses_text(
    tmp_path,
) -> None:
    """0007 (SQLite): rows whose ``enabled`` is not 0/1 are disabled, not a failed upgrade;
    the rebuilt table keeps AUTOINCREMENT and its counter (a deleted newest id is not handed
    out again); and the database refuses ``enabled = 'false'`` from then on."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    engine = make_engine(url)
    with engine.begin() as connection:
        for bot_id, enabled in ((1, "false"), (2, 1), (3, "yes"), (4, 0)):
            connection.execute(
                text("INSERT INTO trading_bots (id, name, enabled) VALUES (:id, :n, :e)"),
                {"id": bot_id, "n": f"bot {bot_id}", "e": enabled},
            )
        connection.execute(text("DELETE FROM trading_bots WHERE id = 4"))
    upgrade(url)
    with engine.begin() as connection:
        kept = connection.execute(text("SELECT id, enabled FROM trading_bots ORDER BY id")).all()
        connection.execute(text("INSERT INTO trading_bots (name, enabled) VALUES ('new', 1)"))
        new_id = connection.execute(
            text("SELECT id FROM trading_bots WHERE name = 'new'")
        ).scalar_one()
    for value in ("false", "true", 2):
        refused = pytest.raises(exc.IntegrityError, match="ck_trading_bots_enabled")
        with refused, engine.begin() as connection:
            connection.execute(
                text("INSERT INTO trading_bots (name, enabled) VALUES ('odd', :e)"), {"e": value}
            )
        refused = pytest.raises(exc.IntegrityError, match="ck_trading_bots_enabled")
        with refused, engine.begin() as connection:
            connection.execute(
                text("UPDATE trading_bots SET enabled = :e WHERE id = 2"), {"e": value}
            )
    engine.dispose()
    assert [tuple(row) for row in kept] == [(1, 0), (2, 1), (3, 0)]
    assert new_id == 5


def test_credential_grants_are_unique_per_user_and_set(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (username, created_at) VALUES ('u', CURRENT_TIMESTAMP)")
        )
        user_id = connection.execute(text("SELECT id FROM users")).scalar_one()
        connection.execute(
            text("INSERT INTO credential_grants (user_id, name) VALUES (:u, 'MAIN')"),
            {"u": user_id},
        )
    with pytest.raises(exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            text("INSERT INTO credential_grants (user_id, name) VALUES (:u, 'MAIN')"),
            {"u": user_id},
        )
    engine.dispose()
