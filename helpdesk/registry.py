"""Named extension points: a lower app declares a registry, higher apps
register into it from their `AppConfig.ready()`.

A registry holds code (templates, loaders, labels), never tenant data: it is
filled once at start-up in every process and read on every request. Each
item has a unique `name` (a duplicate is an error at start-up, so two apps
cannot silently replace each other's part) and an `order`; iterating a
registry gives its items by order, then name, so a page composed from it
always draws the same way. The registries themselves, and what each item
receives and returns, are documented where they are declared:
`helpdesk.extensions` and `tickets.extensions`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from django.core.exceptions import ImproperlyConfigured


class Named(Protocol):
    name: str
    order: int


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Items of one kind, looked up by name and drawn by order."""

    def __init__(self, name: str, item_type: type) -> None:
        self.name = name
        self.item_type = item_type
        self._items: dict[str, T] = {}

    def __repr__(self) -> str:
        return f"<Registry {self.name}: {', '.join(self._items) or 'empty'}>"

    def register(self, item: T) -> T:
        """Add `item`; a second item of the same name is refused."""
        if not isinstance(item, self.item_type):
            raise TypeError(f"{self.name} takes {self.item_type.__name__}, not {item!r}")
        if item.name in self._items:
            raise ImproperlyConfigured(
                f"{self.name}: {item.name!r} is registered twice "
                f"({self._items[item.name]!r} and {item!r})."
            )
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    @contextmanager
    def temporarily(self, *items: T) -> Iterator[None]:
        """Register `items` for the length of a `with` block (tests)."""
        for item in items:
            self.register(item)
        try:
            yield
        finally:
            for item in items:
                self.unregister(item.name)

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(sorted(self._items.values(), key=lambda item: (item.order, item.name)))

    def __len__(self) -> int:
        return len(self._items)
