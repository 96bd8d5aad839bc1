"""What arrives from Telegram, reduced to what the command layer needs.

An :class:`Incoming` is one update: a text message or an inline-button press.  The poller
builds it from python-telegram-bot's ``Update``; everything after it (authorisation, reports,
actions) is plain Python, testable without Telegram.  Command words are parsed here once:
``/profit@MyBot alpha`` and ``/profit alpha`` are the same command; ``/Profit`` too (Telegram
clients send what the user typed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the longest text considered (Telegram allows 4096); anything longer is not a command
MAX_COMMAND_CHARS = 1000
#: how many arguments a command may carry; more is a usage error, never silently cut
MAX_ARGUMENTS = 5


@dataclass(frozen=True)
class Incoming:
    """One update: a message (``text``) or a button press (``callback_data``)."""

    update_id: int
    #: the Telegram user who wrote or pressed: what authorisation looks at
    user_id: int
    #: where to answer (a private chat's id is the user's id; a group's is its own)
    chat_id: int
    text: str | None = None
    callback_data: str | None = None
    callback_id: str | None = None
    #: the message carrying the pressed button (to edit it), or the message written
    message_id: int | None = None
    username: str | None = None

    @property
    def is_button(self) -> bool:
        return self.callback_id is not None


@dataclass(frozen=True)
class Command:
    """``/name arg1 arg2``: ``name`` lower case, without the ``@BotName`` suffix."""

    name: str
    args: tuple[str, ...] = field(default_factory=tuple)
    #: the ``@BotName`` the command was addressed to, if any (groups with several bots)
    addressed_to: str | None = None

    @property
    def text(self) -> str:
        """The command as the audit row records it (normalised, never the raw text)."""
        return " ".join(("/" + self.name, *self.args))


def parse_command(text: str | None) -> Command | None:
    """The command in ``text``, or None when it is not one (plain text, too long, empty).

    Only the first line counts; arguments are split on whitespace."""
    if not text or len(text) > MAX_COMMAND_CHARS:
        return None
    words = text.strip().splitlines()[0].split() if text.strip() else []
    if not words or not words[0].startswith("/") or len(words[0]) < 2:
        return None
    head, _, addressed = words[0][1:].partition("@")
    if not head.replace("_", "").isalnum():
        return None
    return Command(head.lower(), tuple(words[1:]), addressed or None)


def is_for_other_bot(command: Command, own_username: str | None) -> bool:
    """``/status@OtherBot`` in a group is another bot's command: not ours to answer."""
    if command.addressed_to is None or own_username is None:
        return False
    return command.addressed_to.lower() != own_username.lower()
