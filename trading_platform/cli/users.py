"""``trading-platform users``: the people who own bots and command them.

A user owns bots (``trading_bots.user_id``), receives their notifications (``email``,
``telegram_user_id``) and commands them from Telegram; an admin (``--admin``) commands every
bot.  USER is an id or a username, as elsewhere in the CLI.
"""

from __future__ import annotations

import json

import click

from trading_platform.cli.common import PlatformError, open_engine
from trading_platform.cli.render import print_users
from trading_platform.db.users import UserExists, add_user, find_user, list_users, set_user


@click.group()
def users() -> None:
    """Add, list and change users (rows of `users`)."""


def _telegram_id(value: str | None) -> str | None:
    """A Telegram user id is a number (the chat id of a private chat); empty clears it."""
    if value is None or value == "":
        return value
    text = value.strip()
    if not text.lstrip("-").isdigit():
        raise PlatformError(f"telegram-user-id: expected a number, found {value[:40]!r}")
    return text


@users.command("add")
@click.argument("username")
@click.option("--email")
@click.option("--telegram-user-id", help="the user's Telegram id (a number)")
@click.option("--admin/--no-admin", default=False, show_default=True, help="commands every bot")
@click.pass_context
def users_add(
    ctx: click.Context,
    username: str,
    email: str | None,
    telegram_user_id: str | None,
    admin: bool,
) -> None:
    """Add a user."""
    name = username.strip()
    if not name or any(ord(c) < 32 for c in name) or len(name) > 100:
        raise PlatformError(f"username: expected 1..100 printable characters, found {username!r}")
    try:
        user_id = add_user(
            open_engine(ctx),
            name,
            email=email or None,
            telegram_user_id=_telegram_id(telegram_user_id) or None,
            is_admin=admin,
        )
    except UserExists as exc:
        raise PlatformError(str(exc)) from None
    click.echo(f"added user {user_id} {name!r}{' (admin)' if admin else ''}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Every user."""
    found = list_users(open_engine(ctx))
    if as_json:
        rows = [
            {
                "id": user.id,
                "username": user.username,
                "email": user.email,
                "telegram_user_id": user.telegram_user_id,
                "is_admin": bool(user.is_admin),
                "created_at": user.created_at,
            }
            for user in found
        ]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    print_users(found)


@users.command("set")
@click.argument("user")
@click.option("--email", help="an e-mail address ('' clears it)")
@click.option("--telegram-user-id", help="the user's Telegram id ('' clears it)")
@click.option("--admin/--no-admin", default=None, help="commands every bot, or only their own")
@click.pass_context
def users_set(
    ctx: click.Context,
    user: str,
    email: str | None,
    telegram_user_id: str | None,
    admin: bool | None,
) -> None:
    """Change a user's e-mail, Telegram id or admin flag."""
    engine = open_engine(ctx)
    found = find_user(engine, user)
    if found is None:
        raise PlatformError(f"user: no user with id or name {user!r}")
    changes = {
        "email": email,
        "telegram_user_id": _telegram_id(telegram_user_id),
        "is_admin": admin,
    }
    if all(value is None for value in changes.values()):
        raise PlatformError("nothing to change: give --email, --telegram-user-id or --admin")
    set_user(engine, found.id, **changes)
    changed = ", ".join(key for key, value in changes.items() if value is not None)
    click.echo(f"user {found.id} {found.username!r} updated: {changed}")
