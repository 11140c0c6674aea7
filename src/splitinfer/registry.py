"""One generic registry, used for models, codecs and profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from splitinfer.errors import BadInput

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object map that refuses duplicates and lists what it knows on a miss.

    >>> colours: Registry[int] = Registry("colour")
    >>> colours.add("red", 1)
    >>> colours["red"]
    1
    """

    def __init__(self, kind: str, missing: type[Exception] = BadInput) -> None:
        self.kind = kind
        self._missing = missing
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            self.add(name, item)
            return item

        return deco

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise self._missing(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return sorted(self._items)
