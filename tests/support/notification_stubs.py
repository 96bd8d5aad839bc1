"""Local stand-ins for api.telegram.org and an SMTP server, on 127.0.0.1 only."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller

#: the stub bot's own user: the sender of the messages it sends
STUB_BOT_USER = {"id": 123456, "is_bot": True, "first_name": "stub", "username": "stub_bot"}


@dataclass(frozen=True)
class Sent:
    """One call the platform made: the Bot API method, its parameters, when it arrived
    (``time.monotonic()``, comparable with :attr:`TelegramStub.injected_at`)."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class TelegramStub:
    """The Bot API methods the platform uses, with injectable faults: getMe, sendMessage
    (notifications and command replies), and for commands getUpdates (with Telegram's
    offset and long-poll semantics), answerCallbackQuery and editMessageText.

    ``faults`` is a queue of answers for the next sendMessage calls: ``500`` or ``("429", s)``.
    A test plays the users: :meth:`inject_message` is a user writing to the bot,
    :meth:`press_button` a user pressing an inline button; each returns its update id, and
    :attr:`injected_at` holds when it arrived, :attr:`sent` every call the platform made and
    when, so a benchmark can time command to reply.
    """

    token: str = "123456:TEST-TOKEN"
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[Any] = field(default_factory=deque)
    requests: int = 0
    #: updates not yet confirmed by a getUpdates with a higher offset
    updates: list[dict[str, Any]] = field(default_factory=list)
    injected_at: dict[int, float] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    #: every getUpdates call: (offset, timeout) as the client sent them
    polls: list[tuple[int | None, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1_000_000)
        self._arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params = json.loads(body or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(body).items()}
                prefix = f"/bot{stub.token}/"
                if not self.path.startswith(prefix):
                    return self._answer(
                        401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                    )
                method = self.path[len(prefix) :]
                if method == "getUpdates":
                    return self._answer(200, {"ok": True, "result": stub._get_updates(params)})
                if method in ("answerCallbackQuery", "editMessageText"):
                    with lock:
                        stub.sent.append(Sent(method, params, time.monotonic()))
                    if method == "answerCallbackQuery":
                        return self._answer(200, {"ok": True, "result": True})
                    return self._answer(
                        200,
                        {
                            "ok": True,
                            "result": {
                                "message_id": int(params["message_id"]),
                                "date": int(time.time()),
                                "text": params.get("text"),
                                "chat": {"id": int(params["chat_id"]), "type": "private"},
                            },
                        },
                    )
                if method == "getMe":
                    return self._answer(
                        200,
                        {
                            "ok": True,
                            "result": {
                                "id": 123456,
                                "is_bot": True,
                                "first_name": "stub",
                                "username": "stub_bot",
                            },
                        },
                    )
                if method == "sendMessage":
                    with lock:
                        stub.requests += 1
                        fault = stub.faults.popleft() if stub.faults else None
                    if fault == 500:
                        return self._answer(
                            500,
                            {
                                "ok": False,
                                "error_code": 500,
                                "description": "Internal Server Error",
                            },
                        )
                    if isinstance(fault, tuple) and fault[0] == "429":
                        return self._answer(
                            429,
                            {
                                "ok": False,
                                "error_code": 429,
                                "description": f"Too Many Requests: retry after {fault[1]}",
                                "parameters": {"retry_after": fault[1]},
                            },
                        )
                    with lock:
                        stub.messages.append(params)
                        stub.sent.append(Sent(method, params, time.monotonic()))
                        number = len(stub.messages)
                    return self._answer(
                        200,
                        {
                            "ok": True,
                            "result": {
                                "message_id": number,
                                "date": 0,
                                "text": params.get("text"),
                                "chat": {"id": int(params["chat_id"]), "type": "private"},
                            },
                        },
                    )
                return self._answer(
                    404, {"ok": False, "error_code": 404, "description": "Not Found"}
                )

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def texts(self) -> list[str]:
        return [message["text"] for message in self.messages]

    # -- the users' side: updates for getUpdates ------------------------------------------------
    def _user(self, user_id: int, username: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        if username:
            user["username"] = username
        return user

    def _add_update(self, body: dict[str, Any]) -> int:
        with self._arrived:
            update_id = next(self._update_ids)
            self.updates.append({"update_id": update_id, **body})
            self.injected_at[update_id] = time.monotonic()
            self._arrived.notify_all()
        return update_id

    def inject_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        username: str | None = None,
    ) -> int:
        """User ``user_id`` writes ``text`` in a private chat (``chat_id``: another chat, a
        group); a leading ``/command`` is marked as a bot command, as Telegram does."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id if chat_id is not None else user_id, "type": "private"},
            "from": self._user(user_id, username),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0]) if text.split() else 1
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._add_update({"message": message})

    def press_button(
        self,
        user_id: int,
        data: str,
        *,
        message: dict[str, Any] | None = None,
        username: str | None = None,
    ) -> int:
        """User ``user_id`` presses the inline button whose ``callback_data`` is ``data``, on
        ``message`` (the sendMessage parameters that carried the keyboard)."""
        chat_id = int(message["chat_id"]) if message else user_id
        query: dict[str, Any] = {
            "id": f"cq{next(self._message_ids)}",
            "from": self._user(user_id, username),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        if message is not None:
            query["message"] = {
                "message_id": self.messages.index(message) + 1,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": STUB_BOT_USER,
                "text": message.get("text", ""),
            }
        return self._add_update({"callback_query": query})

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
        """The inline buttons a sent message carries: (text, callback_data) row by row."""
        markup = message.get("reply_markup")
        if not markup:
            return []
        keyboard = json.loads(markup) if isinstance(markup, str) else markup
        return [
            (button["text"], button.get("callback_data", ""))
            for row in keyboard.get("inline_keyboard", [])
            for button in row
        ]

    def calls(self, method: str) -> list[Sent]:
        return [call for call in list(self.sent) if call.method == method]

    def replies_to(self, chat_id: int | str) -> list[str]:
        """The texts of the messages sent to ``chat_id``, in order."""
        return [m["text"] for m in list(self.messages) if str(m["chat_id"]) == str(chat_id)]

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Bot API semantics: an ``offset`` confirms (forgets) every update below it; the
        answer is the updates from ``offset`` on, at once if there are any, else as soon as
        one arrives within ``timeout`` seconds (else empty)."""
        offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._arrived:
            self.polls.append((offset, timeout))
            if offset is not None:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            return list(self.updates[:100])

    def start(self) -> TelegramStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode(errors="replace")))
        return "250 OK"


class SmtpStub:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        with socket.socket() as probe:  # aiosmtpd needs a concrete port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    def start(self) -> SmtpStub:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return self.controller.port

    def bodies(self) -> list[str]:
        return [body for _, body in self.inbox.messages]

    def stop(self) -> None:
        self.controller.stop()
