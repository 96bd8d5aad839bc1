"""Commands from a chat to an answer, on SQLite and PostgreSQL, without Telegram: who may
see what, the reports' figures, the actions, confirmations, receipts and re-delivery."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from tests.support.builders import add_bot
from trading_platform.db.models import BotCommand, BotStatusEvent, TradingBot
from trading_platform.db.positions import save_position
from trading_platform.db.trades import record_trade
from trading_platform.db.types import utcnow
from trading_platform.db.users import ensure_user
from trading_platform.telegram_control import answers, audit, confirmation
from trading_platform.telegram_control.handler import (
    AnswerButton,
    Context,
    Edit,
    Handled,
    Reply,
    handle_batch,
)
from trading_platform.telegram_control.parsing import Incoming

ALICE, BOB, ADMIN, STRANGER = 1001, 1002, 1003, 999
SECRET = confirmation.secret_from_token("123456:TEST-TOKEN")
NOW = 1_800_000_000.0
_ids = itertools.count(100)


@pytest.fixture
def bots(db_engine: Engine) -> dict[str, int]:
    """alice owns alpha and beta, bob owns gamma; root is an admin with no bot."""
    alice = ensure_user(db_engine, "alice", telegram_user_id=str(ALICE))
    bob = ensure_user(db_engine, "bob", telegram_user_id=str(BOB))
    ensure_user(db_engine, "root", telegram_user_id=str(ADMIN))
    with db_engine.begin() as connection:
        connection.execute(text("UPDATE users SET is_admin = true WHERE username = 'root'"))
    return {
        "alpha": add_bot(db_engine, "alpha", user_id=alice),
        "beta": add_bot(db_engine, "beta", user_id=alice, symbol="ETH/USDT"),
        "gamma": add_bot(db_engine, "gamma", user_id=bob),
    }


def _context(engine: Engine, clock: float = NOW) -> Context:
    return Context(engine, SECRET, bot_username="stub_bot", clock=lambda: clock)


def _message(user: int, text_: str, chat: int | None = None, update_id: int | None = None):
    return Incoming(
        update_id=update_id if update_id is not None else next(_ids),
        user_id=user,
        chat_id=chat if chat is not None else user,
        text=text_,
        message_id=next(_ids),
    )


def _press(user: int, data: str, message_id: int = 55) -> Incoming:
    return Incoming(
        update_id=next(_ids),
        user_id=user,
        chat_id=user,
        callback_data=data,
        callback_id=f"cq{next(_ids)}",
        message_id=message_id,
    )


def _one(engine: Engine, update: Incoming, clock: float = NOW) -> Handled:
    ((_, handled),) = handle_batch(_context(engine, clock), [update])
    return handled


def _say(engine: Engine, user: int, text_: str) -> str:
    (reply,) = _one(engine, _message(user, text_)).outgoing
    assert isinstance(reply, Reply)
    return reply.text


def _receipts(engine: Engine) -> list[BotStatusEvent]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(BotStatusEvent)
                .where(BotStatusEvent.to_status == audit.RECEIPT)
                .order_by(BotStatusEvent.id)
            )
        )


def _column(engine: Engine, bot_id: int, column: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(getattr(TradingBot, column)).where(TradingBot.id == bot_id)
        ).scalar_one()


def _trade(engine: Engine, bot_id: int, n: int, side: str, price: str, pnl: str | None, **kw):
    record_trade(
        engine,
        bot_id=bot_id,
        fill_id=f"f{bot_id}-{n}",
        symbol=kw.get("symbol", "BTC/USDT"),
        side=side,
        amount=Decimal("0.5"),
        price=Decimal(price),
        fee=Decimal("1"),
        pnl=None if pnl is None else Decimal(pnl),
        executed_at=kw.get("at", utcnow()),
    )


# -- authorisation ---------------------------------------------------------------------------
def test_a_user_sees_their_own_bots_and_an_admin_sees_all(db_engine, bots) -> None:
    alice = _say(db_engine, ALICE, "/status")
    assert "alpha (#" in alice and "beta (#" in alice and "gamma" not in alice
    bob = _say(db_engine, BOB, "/status")
    assert "gamma" in bob and "alpha" not in bob
    admin = _say(db_engine, ADMIN, "/status")
    assert all(name in admin for name in ("alpha", "beta", "gamma"))


def test_another_users_bot_reads_as_one_that_does_not_exist(db_engine, bots) -> None:
    theirs = _say(db_engine, ALICE, "/profit gamma")
    missing = _say(db_engine, ALICE, "/profit nosuchbot")
    assert theirs == missing.replace("nosuchbot", "gamma")
    assert "gamma (#" not in theirs
    assert _say(db_engine, ALICE, f"/pause {bots['gamma']}") == _say(
        db_engine, ALICE, "/pause 999999"
    ).replace("999999", str(bots["gamma"]))
    assert _column(db_engine, bots["gamma"], "paused") is False


def test_an_unknown_user_gets_nothing_and_is_audited(db_engine, bots, caplog) -> None:
    caplog.set_level(logging.WARNING)
    update = _message(STRANGER, "/status")
    handled = _one(db_engine, update)
    assert handled.outgoing == ()
    (receipt,) = _receipts(db_engine)
    assert receipt.bot_id is None
    assert receipt.actor == f"telegram:unknown:{STRANGER}"
    assert receipt.reason.startswith(f"telegram update {update.update_id}: /status ->")
    assert "refused: unknown user" in receipt.reason
    assert f"unknown Telegram user {STRANGER}" in caplog.text
    # a button press from a stranger gets nothing either
    data = confirmation.button_data(
        SECRET,
        confirmation.Confirmation("stop", str(bots["alpha"]), 1, int(NOW)),
        STRANGER,
        yes=True,
    )
    assert _one(db_engine, _press(STRANGER, data)).outgoing == ()
    assert _column(db_engine, bots["alpha"], "enabled") is True


def test_group_chats_get_no_data(db_engine, bots) -> None:
    handled = _one(db_engine, _message(ALICE, "/status", chat=-100500))
    (reply,) = handled.outgoing
    assert isinstance(reply, Reply) and "private chats only" in reply.text
    assert "alpha" not in reply.text


def test_commands_for_another_bot_in_the_chat_are_left_alone(db_engine, bots) -> None:
    assert _one(db_engine, _message(ALICE, "/status@other_bot")).outgoing == ()
    assert "alpha" in _say(db_engine, ALICE, "/status@stub_bot")


# -- read commands ---------------------------------------------------------------------------
def test_status_shows_position_unrealised_pnl_and_heartbeat(db_engine, bots) -> None:
    alpha = bots["alpha"]
    save_position(
        db_engine,
        alpha,
        "BTC/USDT",
        size=Decimal("0.5"),
        avg_price=Decimal("40000"),
        cash=Decimal("100"),
    )
    with db_engine.begin() as connection:
        connection.execute(
            update(TradingBot)
            .where(TradingBot.id == alpha)
            .values(
                status="running",
                current_balance=Decimal("20150"),  # 100 cash + 0.5 x 40,100
                last_heartbeat=utcnow() - dt.timedelta(seconds=30),
                paused=True,
            )
        )
    text_ = _say(db_engine, ALICE, "/status")
    alpha_lines = text_.split("beta (#")[0]
    assert "alpha (#" in alpha_lines and "running, paper [paused]" in alpha_lines
    assert "0.5000 BTC/USDT @ 40,000.00" in alpha_lines
    assert "unrealised P&L +50.00" in alpha_lines
    assert "heartbeat: 30 s ago" in alpha_lines or "heartbeat: 31 s ago" in alpha_lines
    assert "position: none" in text_.split("beta (#")[1]


def test_profit_trades_daily_and_performance_figures(db_engine, bots) -> None:
    alpha, beta = bots["alpha"], bots["beta"]
    today = utcnow()
    yesterday = today - dt.timedelta(days=1)
    _trade(db_engine, alpha, 1, "buy", "100", None, at=yesterday)
    _trade(db_engine, alpha, 2, "sell", "110", "5", at=yesterday)
    _trade(db_engine, alpha, 3, "buy", "100", None, at=today)
    _trade(db_engine, alpha, 4, "sell", "90", "-5", at=today)
    _trade(db_engine, beta, 1, "buy", "10", None, symbol="ETH/USDT", at=today)
    _trade(db_engine, beta, 2, "sell", "30", "10", symbol="ETH/USDT", at=today)
    _trade(db_engine, bots["gamma"], 1, "sell", "30", "1000", at=today)  # bob's: never shown

    profit = _say(db_engine, ALICE, "/profit alpha")
    # realised = pnl of sells (5 - 5) - fees (4 x 1)
    assert "realised -4.00" in profit and "2 trades" in profit and "win rate 50%" in profit
    assert "Total" not in profit
    total = _say(db_engine, ALICE, "/profit")
    assert "Total: realised +4.00" in total and "3 trades" in total and "win rate 67%" in total

    trades = _say(db_engine, ALICE, "/trades alpha 3").splitlines()
    assert len(trades) == 3
    assert "alpha: SELL 0.5000 BTC/USDT @ 90.00, P&L -5.00" in trades[0]
    assert len(_say(db_engine, ALICE, "/trades 2").splitlines()) == 2
    assert "1,000" not in _say(db_engine, ALICE, "/trades")

    daily = _say(db_engine, ALICE, "/daily 2").splitlines()
    assert daily[1] == f"{today:%Y-%m-%d}: +1.00 (2 trades)"  # -5 + 10 - 4 fees
    assert daily[2] == f"{yesterday:%Y-%m-%d}: +3.00 (1 trades)"  # 5 - 2 fees

    performance = _say(db_engine, ALICE, "/performance")
    assert "ETH/USDT: +10.00, 1 trades, win rate 100%" in performance
    assert "BTC/USDT: +0.00, 2 trades, win rate 50%" in performance
    assert "1,000" not in performance

    balance = _say(db_engine, ALICE, "/balance")
    assert "Total equity: " in balance and "gamma" not in balance


def test_health_says_what_bot_health_says(db_engine, bots) -> None:
    with db_engine.begin() as connection:
        connection.execute(
            update(TradingBot)
            .where(TradingBot.id == bots["alpha"])
            .values(status="running", last_heartbeat=utcnow())
        )
        connection.execute(
            update(TradingBot).where(TradingBot.id == bots["beta"]).values(enabled=False)
        )
    text_ = _say(db_engine, ALICE, "/health")
    assert text_.splitlines()[0] == "1 healthy, 0 unhealthy, 1 stopped"
    assert f"alpha (#{bots['alpha']}): healthy" in text_
    assert "beta" in text_ and "stopped (disabled)" in text_


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/trades alpha x", "n: expected a whole number from 1 to 50, found 'x'"),
        ("/daily 0", "n: expected a whole number from 1 to 90, found '0'"),
        ("/daily 1 2", "usage: /daily [n]"),
        ("/pause", "usage: /pause <bot|all>"),
        ("/forceexit all", "/forceexit acts on one bot at a time: name it"),
        ("/frobnicate", "Unknown command /frobnicate. /help lists the commands."),
        ("hello", "Send /help for the commands."),
    ],
)
def test_bad_input_gets_a_clear_answer(db_engine, bots, command: str, answer: str) -> None:
    assert _say(db_engine, ALICE, command) == answer


def test_help_lists_every_command(db_engine, bots) -> None:
    text_ = _say(db_engine, ALICE, "/help")
    for word in (
        "status",
        "profit",
        "balance",
        "trades",
        "daily",
        "performance",
        "health",
        "stop",
        "start",
        "pause",
        "resume",
        "forceexit",
        "reload",
    ):
        assert f"/{word}" in text_
    assert "admin" in _say(db_engine, ADMIN, "/help")


# -- act commands ----------------------------------------------------------------------------
def test_pause_acts_once_and_a_redelivered_update_is_skipped(db_engine, bots) -> None:
    update = _message(ALICE, "/pause alpha")
    (reply,) = _one(db_engine, update).outgoing
    assert isinstance(reply, Reply) and "alpha" in reply.text
    assert _column(db_engine, bots["alpha"], "paused") is True
    events_before = len(_events(db_engine))
    # the tick died before its cursor was saved: the same update comes again
    assert handle_batch(_context(db_engine), [update]) == []
    assert len(_events(db_engine)) == events_before
    (receipt,) = [r for r in _receipts(db_engine) if f"update {update.update_id}:" in r.reason]
    assert receipt.actor == "telegram:alice" and "/pause alpha" in receipt.reason
    _say(db_engine, ALICE, "/resume alpha")
    assert _column(db_engine, bots["alpha"], "paused") is False


def _events(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(BotStatusEvent.id)))


def _ask(engine: Engine, user: int, command: str) -> tuple[Incoming, Reply]:
    update = _message(user, command)
    (reply,) = _one(engine, update).outgoing
    assert isinstance(reply, Reply)
    return update, reply


def test_stop_asks_and_acts_only_on_the_askers_yes(db_engine, bots) -> None:
    _, question = _ask(db_engine, ALICE, "/stop alpha")
    assert question.text.startswith(f"Stop alpha (#{bots['alpha']})?")
    (yes_text, yes), (no_text, _no) = question.buttons
    assert yes_text == "Yes, stop" and no_text == "Cancel"
    assert _column(db_engine, bots["alpha"], "enabled") is True

    # bob presses alice's button (say, in a forwarded message): refused, nothing happens
    (refusal,) = _one(db_engine, _press(BOB, yes)).outgoing
    assert isinstance(refusal, AnswerButton) and "Only the user who asked" in (refusal.text or "")
    # alice presses too late
    late = _one(db_engine, _press(ALICE, yes), clock=NOW + 301).outgoing
    assert isinstance(late[0], AnswerButton) and "expired" in (late[0].text or "")
    assert _column(db_engine, bots["alpha"], "enabled") is True

    edit, answered = _one(db_engine, _press(ALICE, yes, message_id=55)).outgoing
    assert isinstance(edit, Edit) and edit.message_id == 55 and "alpha" in edit.text
    assert isinstance(answered, AnswerButton)
    assert _column(db_engine, bots["alpha"], "enabled") is False
    assert _column(db_engine, bots["beta"], "enabled") is True


def test_cancel_does_nothing(db_engine, bots) -> None:
    _, question = _ask(db_engine, ALICE, "/stop all")
    assert "all your bots (2)" in question.text
    (_, _yes), (_, no) = question.buttons
    edit, _answer = _one(db_engine, _press(ALICE, no)).outgoing
    assert isinstance(edit, Edit) and edit.text.startswith("Cancelled")
    assert _column(db_engine, bots["alpha"], "enabled") is True


def test_forceexit_makes_one_command_however_often_confirmed_and_is_answered_once(
    db_engine, bots
) -> None:
    with db_engine.begin() as connection:  # only a running bot takes a force exit
        connection.execute(
            update(TradingBot).where(TradingBot.id == bots["alpha"]).values(status="running")
        )
    request, question = _ask(db_engine, ALICE, "/forceexit alpha")
    (_, yes), _ = question.buttons
    edit, _answer = _one(db_engine, _press(ALICE, yes)).outgoing
    assert isinstance(edit, Edit) and "I will tell you" in edit.text
    _one(db_engine, _press(ALICE, yes))  # pressed twice
    with db_engine.connect() as connection:
        (command,) = connection.execute(select(BotCommand)).all()
    assert command.idempotency_key == f"telegram:{request.update_id}"
    assert command.reply_chat_id == str(ALICE) and command.requested_by == "telegram:alice"
    assert answers.finished_unanswered(db_engine) == []  # not done yet

    with db_engine.begin() as connection:
        connection.execute(
            update(BotCommand)
            .where(BotCommand.id == command.id)
            .values(status="done", result="closed 0.5 BTC/USDT at market", done_at=utcnow())
        )
    (answer,) = answers.finished_unanswered(db_engine)
    assert answer.chat_id == ALICE
    assert answer.text == (
        f"/forceexit alpha (#{bots['alpha']}): done: closed 0.5 BTC/USDT at market"
    )
    assert answers.claim(db_engine, answer.command_id)
    assert not answers.claim(db_engine, answer.command_id)  # never answered twice
    assert answers.finished_unanswered(db_engine) == []
    answers.release(db_engine, answer.command_id)  # the send failed: try again later
    assert [a.command_id for a in answers.finished_unanswered(db_engine)] == [command.id]


def test_an_admin_commands_any_bot(db_engine, bots) -> None:
    _say(db_engine, ADMIN, f"/pause {bots['gamma']}")
    assert _column(db_engine, bots["gamma"], "paused") is True
    receipts = _receipts(db_engine)
    assert receipts[-1].actor == "telegram:root"
