"""Section ownership: an article listed by several sections belongs to the first
section in sections.yaml order, whatever order the listings arrive in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from crawler.admission import Listed

T = TypeVar("T", bound=Listed)


class OrderedListings(Generic[T]):
    """Buffers each section's entries until every earlier section is complete."""

    def __init__(self, section_ids: Sequence[str]) -> None:
        self._order = list(section_ids)
        self._pending: dict[str, list[T]] = {section_id: [] for section_id in self._order}
        self._complete: set[str] = set()
        self._released = 0  # sections [0, _released) have been handed out
        self.owner: dict[str, str] = {}  # publishid -> section id
        self.duplicates = 0

    def add(self, section_id: str, entries: Iterable[T]) -> None:
        self._pending[section_id].extend(entries)

    def complete(self, section_id: str) -> list[tuple[str, T]]:
        """Mark a section's listing complete; returns what can now be fetched."""
        self._complete.add(section_id)
        released: list[tuple[str, T]] = []
        while self._released < len(self._order) and self._order[self._released] in self._complete:
            current = self._order[self._released]
            for entry in self._pending.pop(current):
                if entry.publishid in self.owner:
                    self.duplicates += 1
                    continue
                self.owner[entry.publishid] = current
                released.append((current, entry))
            self._released += 1
        return released

    @property
    def finished(self) -> bool:
        return self._released == len(self._order)
