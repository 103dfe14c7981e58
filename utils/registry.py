"""A name → object registry filled by a decorator; a miss lists the valid names."""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from utils.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps CLI names to builders, so families (backbones, datasets, losses) need no if/elif chains."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (names are unique)."""

        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.family} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, or raise a UserError naming the valid choices."""
        if name not in self._items:
            hint = difflib.get_close_matches(name, self._items, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise UserError(
                f"unknown {self.family} '{name}'{suggestion}; choose one of: {', '.join(self.names())}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        """Every registered name, sorted (for --help and error messages)."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is registered."""
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        """The registered names, sorted."""
        return iter(self.names())
