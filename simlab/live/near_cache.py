"""A cache in the client: server-assisted client-side caching, by hand, on one RESP3 connection.

Redis remembers which keys a client with ``CLIENT TRACKING ON`` has read, and when one of them
changes it pushes ``invalidate [key]`` to that client. On a RESP3 connection the push arrives on
the same connection as the replies, after the reply that made the client cache the key, so a
client that reads every pending push before it answers from its local copy never serves a value
whose invalidation has already arrived. The window left is the trip of the invalidation itself:
:meth:`NearCache.staleness` measures it.

redis-py 5.1+ does this for you (``Redis(protocol=3, cache_config=CacheConfig(...))``) but only
against Redis 7.4 or later; :class:`NearCache` works with any server that has tracking (6.0+),
and counts what the lesson needs (local hits, invalidations).
"""
from __future__ import annotations

import collections
import time

import numpy as np
import pandas as pd
import redis

from .. import _validate as v
from .client import where_of
from .guard import Guard, guarded_class

__all__ = ["NearCache", "redis_py_cache_supported"]


def redis_py_cache_supported(server_version: str | None) -> bool:
    """Whether redis-py's own client-side cache would work here: redis-py has ``redis.cache``
    and the server is Redis 7.4 or later."""
    try:
        import redis.cache  # noqa: F401
    except ImportError:
        return False
    if not server_version:
        return False
    parts = tuple(int(p) for p in server_version.split(".")[:2] if p.isdigit())
    return parts >= (7, 4)


class NearCache:
    """A local LRU of at most ``max_keys`` values in front of a Redis server, kept valid by the
    server's invalidation messages (RESP3 ``CLIENT TRACKING``).

    Parameters
    ----------
    url : str
        The server (``redis://host:port/0``).
    max_keys : int
        Values kept locally; the least recently used one goes first.
    owned : bool
        Whether simlab started the server (the connection goes through the guard either way).

    Attributes
    ----------
    stats : Counter
        ``near_hits``, ``near_misses``, ``invalidations`` (keys invalidated).
    """

    def __init__(self, url: str, max_keys: int = 1000, *, owned: bool = False):
        self.max_keys = v.positive_int("max_keys", max_keys)
        if not isinstance(url, str):
            raise TypeError(f"url must be a Redis URL (redis://, rediss:// or unix://), got "
                            f"{type(url).__name__}")
        # redis-py reads the URL as its clients do: TLS for rediss://, a socket for unix://,
        # the ACL user, the database, a percent-encoded password
        kwargs = redis.connection.parse_url(url)
        base = kwargs.pop("connection_class", redis.connection.Connection)
        guard = Guard(owned=owned, where=where_of(kwargs))
        self._conn = guarded_class(base)(**kwargs, protocol=3, decode_responses=True,
                                         simlab_guard=guard)
        self._conn.connect()
        self._conn._parser.set_invalidation_push_handler(self._on_invalidate)
        self.local: collections.OrderedDict = collections.OrderedDict()
        self.stats = collections.Counter(near_hits=0, near_misses=0, invalidations=0)
        self.last_invalidation = 0.0
        self._command("CLIENT", "TRACKING", "ON")

    def _command(self, *args):
        self._conn.send_command(*args)
        return self._conn.read_response()

    def _on_invalidate(self, message):
        keys = message[1] if len(message) > 1 else None
        self.last_invalidation = time.perf_counter()
        if keys is None:                  # the server flushed: everything goes
            self.stats["invalidations"] += len(self.local)
            self.local.clear()
            return
        for key in keys:
            self.stats["invalidations"] += 1
            self.local.pop(key, None)

    def poll(self) -> None:
        """Read every invalidation that has arrived (without waiting for more)."""
        while self._conn.can_read(timeout=0):
            self._conn.read_response(push_request=True)

    def get(self, key):
        """The value of ``key``: from the local copy if it is still valid, else from Redis
        (which then tracks ``key`` for this client)."""
        self.poll()
        if key in self.local:
            self.local.move_to_end(key)
            self.stats["near_hits"] += 1
            return self.local[key]
        self.stats["near_misses"] += 1
        value = self._command("GET", key)
        self.local[key] = value
        if len(self.local) > self.max_keys:
            self.local.popitem(last=False)
        return value

    def run(self, keys) -> pd.DataFrame:
        """GET each key in turn; one row per request: ``key``, ``near_hit``, ``latency`` (s)."""
        n = len(keys)
        hit, latency = np.zeros(n, dtype=bool), np.zeros(n)
        for i, key in enumerate(keys):
            before = self.stats["near_hits"]
            tic = time.perf_counter()
            self.get(key)
            latency[i] = time.perf_counter() - tic
            hit[i] = self.stats["near_hits"] > before
        return pd.DataFrame({"key": list(keys), "near_hit": hit, "latency": latency})

    def staleness(self, writer, key: str, rounds: int = 50, timeout: float = 1.0) -> np.ndarray:
        """Seconds from each write's acknowledgement (``writer.set``) to the moment its
        invalidation reached this client: the window in which a local read is stale."""
        rounds = v.positive_int("rounds", rounds)
        windows = np.full(rounds, np.nan)
        for i in range(rounds):
            self.get(key)                  # cached and tracked
            writer.set(key, f"v{i}")
            acked = time.perf_counter()
            deadline = acked + timeout
            while key in self.local and time.perf_counter() < deadline:
                self.poll()
            if key not in self.local:
                windows[i] = self.last_invalidation - acked
        return windows

    def close(self) -> None:
        self._conn.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
