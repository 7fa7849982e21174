"""Connecting to the whiteboard: fakeredis by default, a real server when ``REDIS_URL`` is set.

The client is the real redis-py client (fakeredis keeps it and fakes only the transport), with
every command timed at redis-py's one seam, ``execute_command``. Reads record hit or miss.

Safety: course keys live under :data:`PREFIX`; the client refuses FLUSHDB, FLUSHALL and
CONFIG SET on a server simlab did not start, and :func:`cleanup` deletes only our prefix, with
SCAN.
"""
from __future__ import annotations

import os
import time

import pandas as pd
import redis

PREFIX = "wb:"
READ_COMMANDS = {"GET", "HGET", "HGETALL", "GETDEL", "GETEX", "EXISTS", "LINDEX"}
_GUARDED = {"FLUSHDB", "FLUSHALL", "CONFIG SET", "SHUTDOWN", "DEBUG"}


class RedisUnavailable(ConnectionError):
    """The Redis server named by a URL did not answer."""


class UnsafeCommand(PermissionError):
    """A destructive command aimed at a server simlab did not start."""


class _Instrumented:
    """Mixin: time every command; refuse destructive ones unless the server is ours."""

    owned = False
    backend = "redis"

    def _log(self):
        log = self.__dict__.get("_command_log")
        if log is None:
            log = self.__dict__["_command_log"] = []
            self.__dict__["_t0"] = time.perf_counter()
        return log

    def execute_command(self, *args, **options):
        words = str(args[0]).upper().split()
        name = words[0] if words else ""
        if len(words) == 1 and name in ("CONFIG",) and len(args) > 1:
            name = f"CONFIG {str(args[1]).upper()}"
        elif len(words) > 1:
            name = " ".join(words[:2])
        if name in _GUARDED and not self.owned:
            raise UnsafeCommand(
                f"simlab refuses {name} on {self.backend}: it did not start that server. "
                "Use simlab.cleanup() to delete the course's own keys, or a PrivateRedis for "
                "destructive experiments.")
        log = self._log()
        tic = time.perf_counter()
        result = super().execute_command(*args, **options)
        toc = time.perf_counter()
        key = str(args[1]) if len(args) > 1 else ""
        hit = None
        if name in READ_COMMANDS:
            hit = bool(result) if name == "EXISTS" else result not in (None, {}, [])
        log.append((tic - self.__dict__["_t0"], name, key, toc - tic, hit))
        return result

    def commands(self) -> pd.DataFrame:
        """Every command this client sent: ``time``, ``command``, ``key``, ``latency`` (s),
        ``hit`` (for reads)."""
        return pd.DataFrame(self._log(), columns=["time", "command", "key", "latency", "hit"])

    def reset_log(self) -> None:
        self.__dict__["_command_log"] = []
        self.__dict__["_t0"] = time.perf_counter()


class InstrumentedRedis(_Instrumented, redis.Redis):
    """redis-py's client, timed command by command."""


def _fake_class():
    import fakeredis

    class InstrumentedFakeRedis(_Instrumented, fakeredis.FakeRedis):
        """fakeredis's client (the real redis-py client over a fake transport), timed."""

    return InstrumentedFakeRedis


_FAKE_SERVER = None


def connect(url: str | None = None, *, decode_responses: bool = True):
    """The whiteboard for this session.

    Parameters
    ----------
    url : str, optional
        A Redis URL such as ``redis://localhost:6379/0``. Default: ``REDIS_URL`` from the
        environment; if that is unset too, fakeredis in-process (no server needed).

    Returns
    -------
    client
        A redis-py client with ``backend`` (one line saying which backend this is),
        ``commands()`` (the timed command log) and ``owned`` (whether simlab may reconfigure
        the server).

    Raises
    ------
    RedisUnavailable
        If the server at ``url`` does not answer PING; the message says what to do.
    """
    global _FAKE_SERVER
    url = url or os.environ.get("REDIS_URL") or None
    if url is None:
        import fakeredis

        if _FAKE_SERVER is None:
            _FAKE_SERVER = fakeredis.FakeServer()
        client = _fake_class()(server=_FAKE_SERVER, decode_responses=decode_responses)
        client.backend = (f"fakeredis {fakeredis.__version__} (in-process, no server needed; "
                          "set REDIS_URL to use a real Redis)")
        return client
    try:
        client = InstrumentedRedis.from_url(url, decode_responses=decode_responses,
                                            socket_connect_timeout=2, socket_timeout=5)
        info = client.info("server")
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ValueError) as exc:
        raise RedisUnavailable(
            f"No Redis server answered at {url} ({exc}). Start one there, point REDIS_URL at "
            "a running server, or unset REDIS_URL to use the in-process fakeredis.") from None
    client.backend = f"Redis {info.get('redis_version', '?')} at {url}"
    return client


def backend_banner(client=None, room=None) -> str:
    """One or two lines a notebook shows: which whiteboard and which filing room."""
    client = client if client is not None else connect()
    lines = [f"Whiteboard:   {client.backend}"]
    if room is not None:
        lines.append(f"Filing room:  {room.backend}")
    return "\n".join(lines)


def key(*parts) -> str:
    """A course key: ``key("user", 42)`` gives ``"wb:user:42"``."""
    return PREFIX + ":".join(str(p) for p in parts)


def cleanup(client, prefix: str = PREFIX) -> int:
    """Delete every key under ``prefix`` (SCAN, never KEYS or FLUSHDB); return how many."""
    if not prefix:
        raise ValueError("prefix must be non-empty, got ''; simlab deletes only its own keys")
    deleted = 0
    batch = []
    for name in client.scan_iter(match=f"{prefix}*", count=500):
        batch.append(name)
        if len(batch) >= 500:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted
