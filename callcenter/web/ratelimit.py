"""Per-client rate limits for the public pages and APIs (token buckets kept in this process).

A bucket holds ``capacity`` tokens and refills at ``capacity / period`` tokens a second, so a
burst of ``capacity`` requests passes at once and then one more each ``period / capacity``.
The limits are generous on purpose: many citizens on one mobile network share an address,
and a real person never files ten problems in ten minutes.

State is in memory and per process: behind several app instances a client gets each
instance's allowance, which is still a hard bound on abuse and needs no shared store.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

Clock = Callable[[], float]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key (a client address, a ticket number, an API key)."""

    def __init__(
        self, capacity: int, period_seconds: float, *, max_keys: int = 100_000, clock: Clock = time.monotonic
    ) -> None:
        if capacity <= 0 or period_seconds <= 0:
            raise ValueError("capacity and period must be positive")
        self.capacity = capacity
        self.period_seconds = period_seconds
        self._rate = capacity / period_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        # Handlers run on one loop, but benchmarks and executors may share a limiter.
        self._lock = threading.Lock()

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.capacity), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                # The least recently seen key goes: it would have refilled by now anyway.
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from the key's bucket; False (and nothing taken) if there are too few."""
        with self._lock:
            bucket = self._refilled(key, self._clock())
            if bucket.tokens + 1e-9 < cost:
                return False
            bucket.tokens -= cost
            return True

    def would_allow(self, key: str, cost: float = 1.0) -> bool:
        """Whether ``allow`` would pass now, without taking anything."""
        with self._lock:
            return self._refilled(key, self._clock()).tokens + 1e-9 >= cost

    def retry_after(self, key: str, cost: float = 1.0) -> int:
        """Whole seconds until ``cost`` tokens are back (at least 1)."""
        with self._lock:
            bucket = self._refilled(key, self._clock())
            missing = max(0.0, cost - bucket.tokens)
        return max(1, math.ceil(missing / self._rate))


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses or networks from settings (``10.0.0.1``, ``10.1.0.0/16``)."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: web.Request, trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    untrusted address in X-Forwarded-For (read right to left, so a client cannot forge it)."""
    peer = request.remote or "unknown"
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from the client side: fall back to the proxy's view
    return hops[0] if hops else peer
