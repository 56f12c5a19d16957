"""Bounded request history: the most recent calls, oldest dropped first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from wasmfleet.core.protocol import HistoryEntry


class RequestHistory:
    """Keeps at most ``capacity`` entries, addressable by ``request_id``.

    Request ids follow wasmiot: ``<deployment>:<module>:<function>:<n>`` with ``n``
    counting calls of that function since the supervisor started.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, HistoryEntry] = OrderedDict()
        self._counters: dict[tuple[str, str, str], int] = {}

    def next_id(self, deployment: str, module: str, function: str) -> str:
        """A new request id for a call of that function."""
        key = (deployment, module, function)
        n = self._counters.get(key, 0) + 1
        self._counters[key] = n
        return f"{deployment}:{module}:{function}:{n}"

    def add(self, entry: HistoryEntry) -> None:
        """Record an entry (it must carry ``request_id``), dropping the oldest if full."""
        entries = self._entries
        entries[entry["request_id"]] = entry
        if len(entries) > self.capacity:
            entries.popitem(last=False)

    def get(self, request_id: str) -> HistoryEntry | None:
        """The entry with that id, if it is still kept."""
        return self._entries.get(request_id)

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
