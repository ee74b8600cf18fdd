"""Where webhooks may go: an http(s) URL whose host is a public address.

A webhook URL is chosen by the account, and the POST is made from inside the
operator's network, so a URL naming ``127.0.0.1``, ``10.0.0.5`` or a cloud metadata
address (``169.254.169.254``) would let an account reach what it must not. The host is
resolved and every address checked when the URL is stored, and again at each new
connection, which is made to the very address that was checked: a name that resolved
to a public address at creation and to a private one later (DNS rebinding) is refused
then. ``JOOKSMS_WEBHOOKS_ALLOW_PRIVATE=true`` lifts the rule (tests, a LAN install).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

MAX_URL_LENGTH = 2000
#: What the OpenAPI document says of a webhook URL: http(s), a host name or IPv4
#: address, a port, then printable ASCII (anything else percent-encoded). That the
#: host is public is checked by ``check_url``.
_PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(:{_PORT})?([/?#][!-~]*)?$"
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


def check_syntax(url: str) -> str:
    """``url`` as stored: http(s), with a host, at most 2,000 characters."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"must be at most {MAX_URL_LENGTH:,} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise UrlRefused(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlRefused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise UrlRefused("must name a host")
    if any(c.isspace() for c in url):
        raise UrlRefused("must not contain spaces")
    return url


def refused_address(address: str) -> str | None:
    """Why ``address`` may not be connected to, or None when it is public."""
    ip: _Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "a reserved address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


async def resolve_public(host: str, port: int) -> list[str]:
    """The addresses of ``host``, all of them public; UrlRefused when one is not (a
    name with one private address among public ones could be steered to it)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"its host {host!r} cannot be resolved ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        why = refused_address(address)
        if why is not None:
            raise UrlRefused(
                f"its host {host!r} is {why} ({address}); webhooks go to public "
                "addresses only (JOOKSMS_WEBHOOKS_ALLOW_PRIVATE=true allows others)"
            )
    return addresses


async def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` if it may receive webhooks, else UrlRefused."""
    check_syntax(url)
    if not allow_private:
        parts = urlsplit(url)
        assert parts.hostname is not None
        default = 443 if parts.scheme.lower() == "https" else 80
        await resolve_public(parts.hostname, parts.port or default)
    return url


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to checked addresses: the check and the connection use the same
    resolution, so nothing can change the answer in between."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._allow_private:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = await resolve_public(host, port)
        except UrlRefused as exc:
            raise httpcore.ConnectError(f"refused: {exc}") from None
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not go to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(*, allow_private: bool, timeout: float) -> httpx.AsyncClient:
    """A pooled client that follows no redirect, reads no proxy from the environment
    (a proxy would make the connection, unchecked) and connects only where allowed."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend, so its pool is replaced by one with ours; the
    # transport keeps mapping the pool's errors and answers to httpx's.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(),
        max_connections=200,
        max_keepalive_connections=50,
        keepalive_expiry=5.0,
        network_backend=_GuardedBackend(allow_private=allow_private),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "JookSMS-Webhooks/1.0"},
    )
