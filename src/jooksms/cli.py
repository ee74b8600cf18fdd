"""The ``jooksms`` command."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.config import ConfigError, Settings, load_settings
from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.errors import JookSMSError
from jooksms.services import accounts

app = typer.Typer(help="JookSMS: a self-hosted SMS platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
number_app = typer.Typer(help="Phone numbers an account owns.", no_args_is_help=True)
client_app = typer.Typer(help="API clients (OAuth client credentials).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(number_app, name="number")
app.add_typer(client_app, name="client")

T = TypeVar("T")
log = logging.getLogger("jooksms")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one write transaction against the configured database, migrated first."""
    settings = _settings()
    upgrade(settings.database_url)

    async def run() -> T:
        db = Database.from_settings(settings)
        try:
            async with db.write() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except JookSMSError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the API (applies pending migrations on SQLite first)."""
    from jooksms.server import run_server

    settings = _settings(host=host, port=port)
    run_server(settings)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION."""
    settings = _settings()
    upgrade(settings.database_url, revision)
    _print({"database": _redact(settings.database_url), "revision": revision})


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Option(help="The account's name.")],
    number: Annotated[list[str] | None, typer.Option(help="An E.164 number it owns.")] = None,
) -> None:
    """Create an account, optionally with the numbers it sends from."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        account = await accounts.create_account(session, name=name, numbers=number or [])
        owned = await accounts.list_numbers(session, account_id=account.id)
        return {"id": account.id, "name": account.name, "numbers": owned}

    _print(_in_transaction(work))


@number_app.command("add")
def number_add(
    number: Annotated[str, typer.Argument(help="The number, in international form.")],
    account: Annotated[int, typer.Option(help="The account id.")],
) -> None:
    """Give an account a number to send from."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        owned = await accounts.add_number(session, account_id=account, number=number)
        return {"account": account, "number": owned.number}

    _print(_in_transaction(work))


@client_app.command("create")
def client_create(
    account: Annotated[int, typer.Option(help="The account id.")],
    name: Annotated[str | None, typer.Option(help="A label for the client.")] = None,
) -> None:
    """Create an API client. The secret is shown only now."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        client = await accounts.create_client(session, account_id=account, name=name)
        return {"client_id": client.client_id, "client_secret": client.client_secret}

    _print(_in_transaction(work))


def _redact(url: str) -> str:
    """A URL without its password, for output and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url


def main() -> None:
    app()


if __name__ == "__main__":
    main()
