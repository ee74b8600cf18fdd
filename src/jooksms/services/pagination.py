"""Page arithmetic shared by every list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from jooksms.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_PER_PAGE = 15
MAX_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @classmethod
    def parse(cls, page: str | int | None, per_page: str | int | None) -> PageRequest:
        """Read ``page`` and ``per_page`` as a client sent them; 422 names the bad one."""
        return cls(
            page=_whole(page, "page", 1, 1, 10_000_000),
            per_page=_whole(per_page, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    request: PageRequest

    @property
    def total_pages(self) -> int:
        return max(1, -(-self.total // self.request.per_page))

    @property
    def has_next(self) -> bool:
        return self.request.page < self.total_pages

    @property
    def has_previous(self) -> bool:
        return self.request.page > 1


def _whole(value: str | int | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed.field(name, f"must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ValidationFailed.field(name, f"must be between {low} and {high}, got {number}")
    return number
