"""Credential sets (exchanges/credentials.py): read from the environment by name, never in a
repr, and scrubbed from any text."""

from __future__ import annotations

import pytest

from trading_platform.exchanges.credentials import CredentialsError, load_credentials, scrub


def test_credentials_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("TRADING_CREDENTIALS_MAIN_API_KEY", "key-AAA111")
    with pytest.raises(CredentialsError) as error:
        load_credentials("MAIN")
    assert "TRADING_CREDENTIALS_MAIN_SECRET" in str(error.value)
    monkeypatch.setenv("TRADING_CREDENTIALS_MAIN_SECRET", "secret-BBB222")
    credentials = load_credentials("main")
    assert (credentials.api_key, credentials.secret) == ("key-AAA111", "secret-BBB222")
    assert "AAA111" not in repr(credentials) and "BBB222" not in repr(credentials)
    assert scrub("apiKey=key-AAA111&s=secret-BBB222", credentials) == "apiKey=<main>&s=<main>"
