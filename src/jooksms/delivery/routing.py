"""Which connector carries a message: the first route whose filters all match.

As in Jasmin's routing tables, a route is a connector plus filters, tried in order,
first match wins. A message that matches no route fails with a clear error; it is
never dropped in silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Route:
    """A connector and the messages it takes. An empty filter matches everything."""

    connector: str
    account_id: int | None = None
    senders: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def matches(self, *, account_id: int, sender: str, destination: str) -> bool:
        return (
            (self.account_id is None or self.account_id == account_id)
            and (not self.senders or sender in self.senders)
            and (not self.prefixes or destination.startswith(self.prefixes))
        )


class NoRoute(LookupError):
    """No connector takes this message; the message fails with this text."""

    def __init__(self, *, account_id: int, sender: str, destination: str) -> None:
        super().__init__(
            f"no connector routes messages of account {account_id} from {sender} to {destination}"
        )


class RoutingTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: Sequence[Route] = tuple(routes)

    @property
    def routes(self) -> Sequence[Route]:
        return self._routes

    def pick(self, *, account_id: int, sender: str, destination: str) -> Route:
        for route in self._routes:
            if route.matches(account_id=account_id, sender=sender, destination=destination):
                return route
        raise NoRoute(account_id=account_id, sender=sender, destination=destination)
