"""First matching route wins; no match is an error, never a silent drop."""

from __future__ import annotations

import pytest

from jooksms.delivery.routing import NoRoute, Route, RoutingTable

TABLE = RoutingTable(
    [
        Route("vip", account_id=7),
        Route("panama", prefixes=("+507",)),
        Route("by-sender", senders=frozenset({"+50672004393"})),
        Route("us-or-ca", prefixes=("+1",), account_id=3),
    ]
)


@pytest.mark.parametrize(
    ("account_id", "sender", "destination", "expected"),
    [
        (7, "+15550000000", "+50768819519", "vip"),  # account filter first
        (1, "+15550000000", "+50768819519", "panama"),
        (1, "+50672004393", "+447700900000", "by-sender"),
        (3, "+15550000000", "+14155550100", "us-or-ca"),
        (1, "+50672004393", "+50768819519", "panama"),  # order decides
    ],
)
def test_first_match_wins(account_id: int, sender: str, destination: str, expected: str) -> None:
    route = TABLE.pick(account_id=account_id, sender=sender, destination=destination)
    assert route.connector == expected


def test_no_match_is_an_error_naming_the_message() -> None:
    with pytest.raises(NoRoute, match=r"account 4 from \+15550000000 to \+447700900000"):
        TABLE.pick(account_id=4, sender="+15550000000", destination="+447700900000")


def test_empty_filters_match_everything() -> None:
    table = RoutingTable([Route("default")])
    assert table.pick(account_id=1, sender="+1", destination="+2").connector == "default"
    with pytest.raises(NoRoute):
        RoutingTable([]).pick(account_id=1, sender="+1", destination="+2")
