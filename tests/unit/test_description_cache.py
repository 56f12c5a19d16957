"""The supervisor's cache of module descriptions by sha256 stays within its bounds."""

from __future__ import annotations

from wasmfleet.supervisor.fetching import DescriptionCache


def test_least_recently_used_goes_first_when_entries_run_out() -> None:
    cache = DescriptionCache(entries=2, size=1000)
    cache.put("a", {"a": 1}, 10)
    cache.put("b", {"b": 1}, 10)
    assert cache.get("a") == {"a": 1}  # now b is the least recently used
    cache.put("c", {"c": 1}, 10)
    assert cache.get("b") is None
    assert cache.get("a") == {"a": 1} and cache.get("c") == {"c": 1}
    assert cache.stats() == {"entries": 2, "hits": 3, "misses": 1}


def test_size_bound_counts_the_downloaded_bytes() -> None:
    cache = DescriptionCache(entries=10, size=100)
    cache.put("big", {"x": 1}, 101)  # larger than the whole cache: not kept
    assert cache.get("big") is None
    cache.put("a", {"a": 1}, 60)
    cache.put("b", {"b": 1}, 60)  # 120 > 100: a goes
    assert cache.get("a") is None and cache.get("b") == {"b": 1}
    cache.put("b", {"b": 2}, 30)  # replacing an entry counts its new size only
    cache.put("c", {"c": 1}, 70)
    assert cache.get("b") == {"b": 2} and cache.get("c") == {"c": 1}
