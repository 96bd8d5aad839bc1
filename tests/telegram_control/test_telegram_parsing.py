"""Command words and signed confirmation buttons: pure functions."""

from __future__ import annotations

import pytest

from trading_platform.telegram_control import confirmation
from trading_platform.telegram_control.parsing import Command, is_for_other_bot, parse_command

SECRET = confirmation.secret_from_token("123456:TEST-TOKEN")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/status", Command("status")),
        ("/Profit alpha", Command("profit", ("alpha",))),
        ("/trades@stub_bot alpha 5", Command("trades", ("alpha", "5"), "stub_bot")),
        ("  /pause   7  ", Command("pause", ("7",))),
        ("/stop alpha\nsecond line ignored", Command("stop", ("alpha",))),
        ("/force_exit x", Command("force_exit", ("x",))),
    ],
)
def test_commands_are_parsed(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", [None, "", "status", "/", "/ status", "/st!tus", "x" * 1001])
def test_what_is_not_a_command(text: str | None) -> None:
    assert parse_command(text) is None


def test_another_bots_command_is_not_ours() -> None:
    command = parse_command("/status@OtherBot")
    assert command is not None and command.text == "/status"
    assert is_for_other_bot(command, "stub_bot")
    assert not is_for_other_bot(command, "otherbot")  # usernames are case-insensitive
    assert not is_for_other_bot(parse_command("/status"), "stub_bot")  # type: ignore[arg-type]


def _request(action: str = "forceexit", target: str = "12", issued: int = 1_000_000):
    return confirmation.Confirmation(action, target, 4242, issued)


def test_a_press_by_the_asker_within_five_minutes_reads_back_the_request() -> None:
    data = confirmation.button_data(SECRET, _request(), 77, yes=True)
    assert len(data.encode()) <= confirmation.CALLBACK_DATA_BYTES
    yes, request = confirmation.read_press(SECRET, data, 77, now=1_000_000 + 299)
    assert yes and request == _request()
    no, _ = confirmation.read_press(
        SECRET, confirmation.button_data(SECRET, _request(), 77, yes=False), 77, 1_000_000
    )
    assert not no


def test_a_press_by_another_user_a_late_press_and_a_forged_button_are_refused() -> None:
    data = confirmation.button_data(SECRET, _request(), 77, yes=True)
    with pytest.raises(confirmation.ConfirmationRefused, match="Only the user who asked"):
        confirmation.read_press(SECRET, data, 78, now=1_000_000)
    with pytest.raises(confirmation.ConfirmationRefused, match="expired"):
        confirmation.read_press(SECRET, data, 77, now=1_000_000 + 301)
    forged = data.replace("|12|", "|13|")  # another bot, same signature
    with pytest.raises(confirmation.ConfirmationRefused, match="Only the user who asked"):
        confirmation.read_press(SECRET, forged, 77, now=1_000_000)
    other_key = confirmation.secret_from_token("999:OTHER")
    with pytest.raises(confirmation.ConfirmationRefused):
        confirmation.read_press(other_key, data, 77, now=1_000_000)
    with pytest.raises(confirmation.ConfirmationRefused, match="not one of mine"):
        confirmation.read_press(SECRET, "y|rm|1|2|3|abc", 77, now=1_000_000)


def test_the_largest_ids_fit_in_telegrams_64_bytes() -> None:
    request = confirmation.Confirmation("forceexit", "9" * 10, 9_999_999_999, 9_999_999_999)
    assert len(confirmation.button_data(SECRET, request, 10**12, yes=True)) <= 64
