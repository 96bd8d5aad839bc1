"""``trading-platform credentials``: which user's bots may trade with which credential set.

The keys of a set live in the environment of the run workers (never in the database); a
grant here only lets one user's bots *name* the set.  Without one, a bot naming the set is
marked ``error`` by the sensor and its run refuses to start, so a user can never trade
another user's account by writing its set's name in a config.  USER is an id or a username,
as a bot is an id or a name in ``bots``.
"""

from __future__ import annotations

import getpass

import click

from trading_platform.cli.common import PlatformError, open_engine
from trading_platform.db.grants import canonical, grant, list_grants, revoke
from trading_platform.db.models import User
from trading_platform.db.users import find_user


@click.group()
def credentials() -> None:
    """Grant, revoke and list which users may use which credential set.

    A bot whose config names a credential set runs only if its owner holds a grant for the
    set; the sensor checks every tick, so a revoke stops the user's bots that name it.
    """


def _user(ctx: click.Context, user: str) -> User:
    found = find_user(open_engine(ctx), user)
    if found is None:
        raise PlatformError(f"user: no user with id or name {user!r}")
    return found


def _set_name(name: str) -> str:
    try:
        return canonical(name)
    except ValueError as exc:
        raise PlatformError(f"credential set: {exc}") from None


@credentials.command("grant")
@click.argument("user")
@click.argument("credential_set")
@click.option("--by", "granted_by", help="who grants it (default: your login name)")
@click.pass_context
def credentials_grant(
    ctx: click.Context, user: str, credential_set: str, granted_by: str | None
) -> None:
    """Let USER's bots trade with CREDENTIAL_SET."""
    owner, name = _user(ctx, user), _set_name(credential_set)
    if grant(open_engine(ctx), owner.id, name, granted_by or getpass.getuser()):
        click.echo(f"granted {name} to user {owner.id} {owner.username!r}")
    else:
        click.echo(f"user {owner.id} {owner.username!r} already holds {name}")


@credentials.command("revoke")
@click.argument("user")
@click.argument("credential_set")
@click.pass_context
def credentials_revoke(ctx: click.Context, user: str, credential_set: str) -> None:
    """Take CREDENTIAL_SET back from USER; their bots naming it stop at the next tick."""
    owner, name = _user(ctx, user), _set_name(credential_set)
    if revoke(open_engine(ctx), owner.id, name):
        click.echo(f"revoked {name} from user {owner.id} {owner.username!r}")
    else:
        click.echo(f"user {owner.id} {owner.username!r} did not hold {name}")


@credentials.command("list")
@click.argument("user", required=False)
@click.pass_context
def credentials_list(ctx: click.Context, user: str | None) -> None:
    """Every grant, or USER's."""
    user_id = _user(ctx, user).id if user is not None else None
    grants = list_grants(open_engine(ctx), user_id)
    if not grants:
        click.echo("no credential grants")
        return
    for item in grants:
        click.echo(
            f"{item.user_id}\t{item.username}\t{item.name}\t"
            f"{item.granted_at:%Y-%m-%d %H:%M:%S}\t{item.granted_by or ''}"
        )
