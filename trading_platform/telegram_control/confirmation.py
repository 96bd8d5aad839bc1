"""Inline-button confirmations for destructive commands, with no state to keep.

``/stop alpha`` answers with two buttons; their ``callback_data`` (Telegram allows 64 bytes)
carries the whole request, signed: ``y|stop|3|812|1733300000|<mac>`` is "yes, stop bot 3,
asked in update 812 at that time".  The MAC is an HMAC over those fields *and the Telegram
user id of whoever asked*, keyed with a secret derived from the bot token.  So:

- a press by another user (a group chat, a forwarded message) fails the check: refused;
- a press after :data:`CONFIRM_SECONDS` is refused as expired;
- nothing is stored between the request and the press: a sensor tick that dies in between
  loses nothing, and there is no table of pending confirmations to clean up;
- the update id of the request names the action for idempotency: two presses of the same
  button (or a press delivered twice) make one force-exit command
  (``bot_commands.idempotency_key``), and write ``enabled`` to the same value twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

#: how long a confirmation button stays valid
CONFIRM_SECONDS = 300
#: the actions that ask first, with their short names in ``callback_data``
CONFIRMED_ACTIONS = {"stop": "stop", "forceexit": "fx"}
_ACTIONS_BY_SHORT = {short: action for action, short in CONFIRMED_ACTIONS.items()}
ALL_BOTS = "*"
_MAC_CHARS = 12
#: Telegram's limit on ``callback_data``
CALLBACK_DATA_BYTES = 64


@dataclass(frozen=True)
class Confirmation:
    """A request waiting for its button: ``target`` is a bot id or :data:`ALL_BOTS`."""

    action: str
    target: str
    request_update_id: int
    issued_at: int


class ConfirmationRefused(Exception):
    """A press that must not act; the message says why, fit for the user."""


def secret_from_token(token: str) -> bytes:
    """The signing key: derived from the bot token (which only the platform holds), never
    the token itself."""
    return hashlib.sha256(b"trading-platform telegram confirmation\x00" + token.encode()).digest()


def _mac(secret: bytes, fields: str, user_id: int) -> str:
    digest = hmac.new(secret, f"{fields}|{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def button_data(secret: bytes, confirmation: Confirmation, user_id: int, *, yes: bool) -> str:
    """The ``callback_data`` of the yes or the cancel button, signed for ``user_id``."""
    short = CONFIRMED_ACTIONS[confirmation.action]
    fields = (
        f"{'y' if yes else 'n'}|{short}|{confirmation.target}|"
        f"{confirmation.request_update_id}|{confirmation.issued_at}"
    )
    data = f"{fields}|{_mac(secret, fields, user_id)}"
    if len(data.encode()) > CALLBACK_DATA_BYTES:  # ids of 20 digits would not fit
        raise ValueError(f"callback_data too long ({len(data)} bytes): {fields}")
    return data


def read_press(secret: bytes, data: str, user_id: int, now: float) -> tuple[bool, Confirmation]:
    """(yes?, the request) of a press by ``user_id``, or :class:`ConfirmationRefused`."""
    parts = data.split("|")
    if len(parts) != 6 or parts[0] not in ("y", "n") or parts[1] not in _ACTIONS_BY_SHORT:
        raise ConfirmationRefused("This button is not one of mine.")
    fields, mac = "|".join(parts[:5]), parts[5]
    if not hmac.compare_digest(mac, _mac(secret, fields, user_id)):
        raise ConfirmationRefused("Only the user who asked may confirm this.")
    try:
        update_id, issued = int(parts[3]), int(parts[4])
    except ValueError:
        raise ConfirmationRefused("This button is not one of mine.") from None
    if now - issued > CONFIRM_SECONDS:
        raise ConfirmationRefused(
            f"This confirmation expired ({CONFIRM_SECONDS // 60} minutes): send the command again."
        )
    confirmation = Confirmation(_ACTIONS_BY_SHORT[parts[1]], parts[2], update_id, issued)
    return parts[0] == "y", confirmation
