"""Local stand-ins for api.telegram.org and an SMTP server, on 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller


@dataclass
class TelegramStub:
    """The Bot API methods the platform uses (getMe, sendMessage), with injectable faults.

    ``faults`` is a queue of answers for the next sendMessage calls: ``500`` or ``("429", s)``.
    """

    token: str = "123456:TEST-TOKEN"
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[Any] = field(default_factory=deque)
    requests: int = 0

    def __post_init__(self) -> None:
        stub = self

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
