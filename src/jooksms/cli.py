"""The ``jooksms`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import alembic.util
import typer
from sqlalchemy.ext.asyncio import AsyncSession

# Typer ships its own copy of Click; its usage errors are these, not click's.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from jooksms import log_redaction, secret_box
from jooksms.config import ConfigError, Settings, load_settings
from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.errors import JookSMSError, ValidationFailed
from jooksms.services import accounts, connectors

app = typer.Typer(help="JookSMS: a self-hosted SMS platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
number_app = typer.Typer(help="Phone numbers an account owns.", no_args_is_help=True)
client_app = typer.Typer(help="API clients (OAuth client credentials).", no_args_is_help=True)
connector_app = typer.Typer(help="Carrier connections and their routes.", no_args_is_help=True)
secrets_app = typer.Typer(help="The key that seals carrier credentials.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(number_app, name="number")
app.add_typer(client_app, name="client")
app.add_typer(connector_app, name="connector")
app.add_typer(secrets_app, name="secrets")

T = TypeVar("T")
log = logging.getLogger("jooksms")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _open_secret_box(settings: Settings) -> None:
    """Read (on the first start, make) the key that seals carrier credentials now, so
    that a missing or unreadable key stops the process at start."""
    try:
        secret_box.box_for(settings.database_url)
    except secret_box.SecretKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _in_transaction(
    work: Callable[[AsyncSession], Awaitable[T]], *, arguments: dict[str, str] | None = None
) -> T:
    """Run one write transaction against the configured database, migrated first.
    A field the services refuse is an input error naming its option (``--field``, or
    what ``arguments`` maps the field to): status 2. Other refusals (no such account,
    a name taken) are about the database's state: status 1."""
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
    except ValidationFailed as exc:
        field, problem = next(iter(exc.fields.items()), ("", exc.message))
        option = (arguments or {}).get(field, "--" + field.replace("_", "-"))
        typer.echo(f"error: {option}: {problem}" if field else f"error: {problem}", err=True)
        raise typer.Exit(2) from None
    except JookSMSError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except secret_box.SecretKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
) -> None:
    """Serve the API (applies pending migrations on SQLite first)."""
    from jooksms.server import run_server

    settings = _settings(host=host, port=port)
    _open_secret_box(settings)
    run_server(settings)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="The revision to reach.")] = "head",
) -> None:
    """Apply migrations up to REVISION."""
    settings = _settings()
    try:
        upgrade(settings.database_url, revision)
    except alembic.util.CommandError as exc:
        typer.echo(f"error: --revision: {exc}", err=True)
        raise typer.Exit(2) from None
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

    _print(_in_transaction(work, arguments={"number": "NUMBER"}))


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


@connector_app.command("add")
def connector_add(
    name: Annotated[str, typer.Option(help="A name for the connector.")],
    url: Annotated[
        str,
        typer.Option(help="smpp://SYSTEM_ID:PASSWORD@HOST:PORT?window=32&bind=transceiver"),
    ],
    account: Annotated[int | None, typer.Option(help="Only this account's messages.")] = None,
    number: Annotated[
        list[str] | None, typer.Option(help="Only messages sent from this number.")
    ] = None,
    prefix: Annotated[
        list[str] | None, typer.Option(help="Only destinations starting with this (+507).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="At most this many messages/s.")] = None,
) -> None:
    """Add a carrier connection. Routes are tried in the order connectors were added."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        view = await connectors.add_connector(
            session,
            name=name,
            url=url,
            account_id=account,
            senders=number or [],
            prefixes=prefix or [],
            rate=rate,
        )
        return asdict(view)

    _print(_in_transaction(work))


@connector_app.command("list")
def connector_list() -> None:
    """List connectors, in routing order (passwords hidden)."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [asdict(v) for v in await connectors.list_connectors(session)]

    _print(_in_transaction(work))


@connector_app.command("remove")
def connector_remove(name: Annotated[str, typer.Argument(help="The connector's name.")]) -> None:
    """Remove a connector."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        await connectors.remove_connector(session, name=name)
        return {"removed": name}

    _print(_in_transaction(work))


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new key, for JOOKSMS_SECRET_KEY."""
    typer.echo(secret_box.new_key())


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Seal every connector's credentials under a new key. With JOOKSMS_SECRET_KEY
    set, put the new key first and the old one after a comma, run this, then drop
    the old one; without it, the data folder's secret.key gets a new key."""
    settings = _settings()
    try:
        if settings.secret_key is not None:
            box = secret_box.load_box(settings)
            if len(box.keys) < 2:
                typer.echo(
                    "error: JOOKSMS_SECRET_KEY: holds one key; put a new one first "
                    "(jooksms secrets new-key) and the old one after a comma",
                    err=True,
                )
                raise typer.Exit(2)
            resealed = _in_transaction(lambda session: connectors.reseal_all(session, box))
            _print({"resealed": resealed, "key": "the first of JOOKSMS_SECRET_KEY"})
            return
        _print({"resealed": _rotate_key_file(settings), "key": str(secret_box.key_file(settings))})
    except secret_box.SecretKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _rotate_key_file(settings: Settings) -> int:
    """A new key first in the key file, every row sealed under it, then the old key
    dropped: a process reading the file meanwhile can open every row."""
    path = secret_box.key_file(settings)
    if path is None:
        raise secret_box.SecretKeyError("an in-memory database has no key to rotate")
    upgrade(settings.database_url)  # seals plain rows under the current key first
    keys = [secret_box.new_key(), *secret_box.load_box(settings).keys]
    secret_box.write_keys(path, keys)
    box = secret_box.SecretBox(keys, source=str(path))
    resealed = _in_transaction(lambda session: connectors.reseal_all(session, box))
    secret_box.write_keys(path, keys[:1])
    return resealed


@app.command()
def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve GET /metrics on this port (at JOOKSMS_HOST)."),
    ] = None,
) -> None:
    """Deliver messages (no HTTP): claim due messages and send them through the
    configured connectors until SIGTERM or SIGINT."""
    from jooksms.delivery.runner import NoConnectors
    from jooksms.metrics import serve_metrics
    from jooksms.platform import Platform
    from jooksms.runtime import loop_factory, settle_gc

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _open_secret_box(settings)

    async def run() -> None:
        platform = Platform(settings)
        settle_gc()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, platform.stop.set)
        try:
            async with AsyncExitStack() as serving:
                if metrics_port is not None:
                    await serving.enter_async_context(
                        serve_metrics(platform.db, settings, port=metrics_port)
                    )
                await platform.run_until_stopped()
        finally:
            await platform.dispose()

    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(run())
    except NoConnectors as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except secret_box.SecretKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command(
    "smsc-sim",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def smsc_sim(ctx: typer.Context) -> None:
    """Run the SMPP 3.4 SMSC simulator (see `jooksms smsc-sim --help`)."""
    from jooksms.smsc.cli import main as simulator_main

    simulator_main(list(ctx.args))


def _redact(url: str) -> str:
    """A URL without its password, for output and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url


def main() -> None:
    """Run the command. An input error (a bad or missing option, a value the
    services refuse) is one line naming the option, and status 2. Every process
    started here (serve, worker, smsc-sim) logs through the redaction."""
    log_redaction.install()
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.format_message(), err=True)
        sys.exit(2)
    except UsageError as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()


# -- jooksms webhook ----------------------------------------------------------------
webhook_app = typer.Typer(help="Outbound webhooks of an account.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")
_WEBHOOK_OPTIONS = {"event_types": "--event-type", "webhook_id": "WEBHOOK_ID"}
AccountOption = Annotated[int, typer.Option("--account", help="The account's id.")]


def _webhook_work(work: Callable[[Any, Any], T]) -> T:
    """Run ``work(session, box)`` (a sync session) in one transaction of the CLI."""
    box = secret_box.box_for(_settings().database_url)

    async def run(session: AsyncSession) -> T:
        return await session.run_sync(lambda s: work(s, box))

    return _in_transaction(run, arguments=_WEBHOOK_OPTIONS)


@webhook_app.command("add")
def webhook_add(
    account: AccountOption,
    url: Annotated[str, typer.Option(help="Where events are POSTed (http or https).")],
    event_type: Annotated[
        list[str] | None, typer.Option(help="An event type to send (repeat); default all.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note for humans.")] = None,
    batch: Annotated[bool, typer.Option(help="POST up to 100 events at a time.")] = False,
) -> None:
    """Add a webhook; prints its secret, once."""
    from jooksms.db.types import utcnow
    from jooksms.events.types import EVENT_TYPES
    from jooksms.events.webhooks import endpoints, urls
    from jooksms.events.webhooks.endpoints import ALL

    settings = _settings()
    unknown = [t for t in event_type or [] if t not in EVENT_TYPES and t != ALL]
    problem = f"unknown event type {unknown[0]!r}" if unknown else None
    if problem is None:
        try:
            asyncio.run(urls.check_url(url, allow_private=settings.webhooks_allow_private))
        except urls.UrlRefused as exc:
            typer.echo(f"error: --url: {exc}", err=True)
            raise typer.Exit(2) from None
    else:
        typer.echo(f"error: --event-type: {problem}", err=True)
        raise typer.Exit(2)
    now = utcnow()
    endpoint, secret = _webhook_work(
        lambda s, box: endpoints.create(
            s,
            box,
            account_id=account,
            url=url,
            event_types=event_type or [],
            description=description,
            enabled=True,
            batch=batch,
            now=now,
        )
    )
    _print({**asdict(endpoint), "secret": secret})


@webhook_app.command("list")
def webhook_list(account: AccountOption) -> None:
    """List an account's webhooks."""
    from jooksms.events.webhooks import endpoints
    from jooksms.services.pagination import MAX_PER_PAGE, PageRequest

    found: list[dict[str, Any]] = []
    page = 1
    while True:
        items = _webhook_work(
            lambda s, _box, n=page: endpoints.list_page(  # type: ignore[misc]
                s, account_id=account, page=PageRequest(n, MAX_PER_PAGE)
            )
        )
        found.extend(asdict(e) for e in items.items)
        if not items.has_next:
            break
        page += 1
    _print(found)


@webhook_app.command("remove")
def webhook_remove(
    account: AccountOption,
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
) -> None:
    """Delete a webhook and its deliveries."""
    from jooksms.events.webhooks import endpoints

    _webhook_work(lambda s, _box: endpoints.remove(s, account_id=account, endpoint_id=webhook_id))
    _print({"removed": webhook_id})


@webhook_app.command("replay")
def webhook_replay(
    account: AccountOption,
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    since: Annotated[str | None, typer.Option(help="Re-send the events from this time.")] = None,
    until: Annotated[str | None, typer.Option(help="... up to this time (default now).")] = None,
    delivery: Annotated[int | None, typer.Option(help="Re-send this one delivery.")] = None,
) -> None:
    """Send a webhook one delivery again (--delivery) or the events of a range (--since)."""
    from jooksms.db.types import utcnow
    from jooksms.domain.dates import parse_datetime
    from jooksms.events.webhooks import deliveries

    if (since is None) == (delivery is None):
        typer.echo("error: --since: give --since or --delivery (one of them)", err=True)
        raise typer.Exit(2)
    now = utcnow()
    if delivery is not None:
        view = _webhook_work(
            lambda s, _box: deliveries.replay_one(
                s, account_id=account, endpoint_id=webhook_id, delivery_id=delivery, now=now
            )
        )
        _print({"replayed": 1, "delivery": view.id})
        return
    bounds: dict[str, Any] = {}
    for option, value in (("--since", since), ("--until", until)):
        try:
            bounds[option] = None if value is None else parse_datetime(value)
        except ValueError as exc:
            typer.echo(f"error: {option}: {exc}", err=True)
            raise typer.Exit(2) from None
    count = _webhook_work(
        lambda s, _box: deliveries.replay_range(
            s,
            account_id=account,
            endpoint_id=webhook_id,
            since=bounds["--since"],
            until=bounds["--until"],
            now=now,
        )
    )
    _print({"replayed": count})
