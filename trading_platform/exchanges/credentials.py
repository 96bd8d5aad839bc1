"""Exchange keys come from the environment, named by a credential set; never from config.

A bot's config says ``"credentials": "BINANCE_MAIN"``; the process that trades reads
``TRADING_CREDENTIALS_BINANCE_MAIN_API_KEY``, ``..._SECRET`` and, where the exchange needs
one, ``..._PASSWORD``.  Errors name the credential set and the variable, never a value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class CredentialsError(ValueError):
    pass


@dataclass(frozen=True)
class Credentials:
    name: str
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing text that might quote one."""
        return [value for value in (self.api_key, self.secret, self.password) if value]


def variable(name: str, part: str) -> str:
    return f"TRADING_CREDENTIALS_{name.upper()}_{part}"


def load_credentials(name: str, *, needs_password: bool = False) -> Credentials:
    missing = [
        variable(name, part)
        for part in ("API_KEY", "SECRET", *(("PASSWORD",) if needs_password else ()))
        if not os.environ.get(variable(name, part))
    ]
    if missing:
        raise CredentialsError(
            f"credential set {name!r} is incomplete: set {', '.join(missing)} in the environment "
            "of the Dagster code server and run workers"
        )
    return Credentials(
        name,
        os.environ[variable(name, "API_KEY")],
        os.environ[variable(name, "SECRET")],
        os.environ.get(variable(name, "PASSWORD")),
    )


def scrub(text: str, credentials: Credentials | None) -> str:
    """``text`` with every secret of ``credentials`` replaced by the credential set's name."""
    if credentials is None:
        return text
    for secret in credentials.secrets():
        text = text.replace(secret, f"<{credentials.name}>")
    return text
