"""What connector URLs share: settings in the query string, each checked against a
table of parsers, and errors that name the part of the URL that is wrong."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import unquote

#: Parameter name -> (parser, what a good value is, for the error message).
Parameters = Mapping[str, tuple[Callable[[str], object], str]]


class ConnectorUrlError(ValueError):
    """A bad connector setting. ``part`` names the URL part or field, for the user."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part}: {problem}")
        self.part = part
        self.problem = problem


def query_values(
    query: str,
    parameters: Parameters,
    *,
    error: type[ConnectorUrlError] = ConnectorUrlError,
    empty_ok: bool = False,
) -> dict[str, object]:
    """The query string's parameters, parsed; ``error`` names the first bad one."""
    values: dict[str, object] = {}
    for item in filter(None, query.split("&")):
        key, sep, raw = item.partition("=")
        # unquote, not unquote_plus: "bind=transmitter+receiver" means a literal "+".
        key, raw = unquote(key), unquote(raw)
        if key not in parameters:
            known = ", ".join(parameters)
            raise error(key, f"unknown parameter; expected one of {known}")
        if key in values:
            raise error(key, "given more than once")
        parse, expected = parameters[key]
        if not sep or not (raw or empty_ok):
            raise error(key, f"no value; expected {expected}")
        try:
            values[key] = parse(raw)
        except (ValueError, KeyError):
            raise error(key, f"{raw!r} is not {expected}") from None
    return values
