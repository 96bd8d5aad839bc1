"""Sending one message: Telegram (python-telegram-bot) and e-mail (SMTP).

A sender raises :class:`TransientError` for failures worth retrying (network, 5xx, 429 with
the server's ``retry_after``) and :class:`PermanentError` for those that will not get better
(bad token, unknown chat).  Tokens and passwords come from the environment (the Dagster
resources hand them over) and appear in no message, log or database row.

Header values are built from data others write (a bot's name starts the subject, a user's
address is the recipient): they are cleaned where the e-mail is built (:func:`header_value`)
so no value can add a header or make :mod:`email` refuse to build the message.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Protocol

from trading_platform.contract import Channel

#: the longest header value we write (RFC 5322 allows more, no reader needs more)
HEADER_CHARS = 200
SUBJECT_CHARS = 120


class TransientError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(Exception):
    pass


def header_value(value: str, limit: int = HEADER_CHARS) -> str:
    """``value`` fit for an e-mail header: every control character and line or paragraph
    separator becomes a space, and the result is cut to ``limit`` characters.

    :mod:`email` refuses any value that ``str.splitlines`` would split (CR, LF, but also
    VT, FF, NEL, U+2028...) with a ``ValueError``; replacing them, not dropping them, keeps
    the words apart so the subject still reads."""
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in value
    )
    return cleaned[:limit]


def single_address(address: str) -> str:
    """``address`` when it is exactly one plain e-mail address, else :class:`PermanentError`.

    The recipient is refused rather than cleaned: ``"ops@x\\r\\nBcc: evil@y"`` cleaned
    to one line still parses as two recipients, and a comma does the same without any
    control character, so the message would reach an address nobody configured."""
    parsed = getaddresses([address])
    if header_value(address) != address or parsed != [("", address)] or "@" not in address:
        raise PermanentError(f"not a single e-mail address: {header_value(address, 80)!r}")
    return address


class Sender(Protocol):
    channel: Channel

    def send(self, address: str, text: str) -> None: ...


@dataclass
class TelegramSender:
    """``TELEGRAM_BOT_TOKEN``; ``TELEGRAM_API_BASE_URL`` for a local Bot API server."""

    token: str
    base_url: str = "https://api.telegram.org/bot"
    timeout: float = 10.0
    channel: Channel = Channel.TELEGRAM

    @classmethod
    def from_settings(cls, token: str, base_url: str | None = None) -> TelegramSender | None:
        """The sender, or ``None`` (Telegram off) without a token."""
        if not token:
            return None
        return cls(token, base_url if base_url is not None else cls.base_url)

    def send(self, address: str, text: str) -> None:
        """Send ``text`` to the chat ``address``.

        Any error may quote the URL, and the URL holds the token: the token is taken out of
        every exception that leaves, and one that is neither transient nor permanent becomes
        permanent (its type kept in the text), since only those two are worth classifying."""
        try:
            asyncio.run(self._send(address, text))
        except (TransientError, PermanentError) as exc:
            exc.args = (self._redact(str(exc)),)
            raise
        except Exception as exc:  # noqa: BLE001 - redacted, then permanent
            raise PermanentError(
                self._redact(f"Telegram failed: {type(exc).__name__}: {exc}")
            ) from None

    def _redact(self, text: str) -> str:
        return text.replace(self.token, "<TELEGRAM_BOT_TOKEN>")

    async def _send(self, chat_id: str, text: str) -> None:
        from telegram import Bot
        from telegram.error import (
            BadRequest,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
            TimedOut,
        )
        from telegram.request import HTTPXRequest

        request = HTTPXRequest(
            read_timeout=self.timeout,
            write_timeout=self.timeout,
            connect_timeout=self.timeout,
            httpx_kwargs={"trust_env": False},
        )
        bot = Bot(self.token, base_url=self.base_url, request=request)
        try:
            async with bot:
                await bot.send_message(chat_id=chat_id, text=text)
        except RetryAfter as exc:
            retry = exc.retry_after
            seconds = retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)
            raise TransientError(
                f"Telegram rate limit: retry after {seconds:g} s", seconds
            ) from None
        except (InvalidToken, Forbidden, BadRequest) as exc:
            raise PermanentError(
                f"Telegram refused the message: {type(exc).__name__}: {exc}"
            ) from None
        except (TimedOut, NetworkError, TelegramError) as exc:
            raise TransientError(f"Telegram unavailable: {type(exc).__name__}: {exc}") from None


@dataclass
class EmailSender:
    """``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_FROM`` and
    ``SMTP_TLS`` (``starttls`` (default when a user is set), ``ssl`` or ``none``)."""

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "trading-platform@localhost"
    tls: str = "none"
    timeout: float = 10.0
    channel: Channel = Channel.EMAIL

    @classmethod
    def from_settings(
        cls,
        host: str,
        *,
        port: int = 587,
        user: str | None = None,
        password: str | None = None,
        sender: str | None = None,
        tls: str | None = None,
    ) -> EmailSender | None:
        """The sender, or ``None`` (e-mail off) without a host.  ``tls`` unset means
        ``starttls`` with a user and ``none`` without; empty user and password mean none."""
        if not host:
            return None
        user = user or None
        return cls(
            host=host,
            port=port,
            user=user,
            password=password or None,
            sender=sender if sender is not None else cls.sender,
            tls=(tls if tls is not None else ("starttls" if user else "none")).lower(),
        )

    def send(self, address: str, text: str) -> None:
        """Send ``text`` to ``address``; its first line is the subject.

        The envelope recipient is the checked address itself, never one parsed back out of
        the ``To`` header."""
        recipient = single_address(address)
        message = EmailMessage()
        message["From"] = header_value(self.sender)
        message["To"] = header_value(recipient)
        message["Subject"] = header_value(text.split("\n", 1)[0], SUBJECT_CHARS)
        message.set_content(text)
        try:
            if self.tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.tls == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message, to_addrs=[recipient])
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused:
            raise PermanentError(f"SMTP refused the recipient {address}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP unavailable: {type(exc).__name__}: {exc}") from None
