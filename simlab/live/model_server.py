"""``model://``: simlab's Redis model behind redis-py.

``simlab.connect("model://?maxmemory=2mb&maxmemory-policy=allkeys-lru")`` returns the same
instrumented, guarded redis-py client as for fakeredis, but its server is a
:class:`ModelServer`: fakeredis keeps the keyspace and answers every command it knows, and
beside it :class:`simlab.redis_cache.RedisCache` mirrors every key (its size in bytes, its TTL,
its LRU clock or LFU counter). The model decides, as a real server does before every command,
which keys to evict while ``used_memory`` is above ``maxmemory``; those keys are then deleted
from fakeredis and counted in ``evicted_keys``. Under ``noeviction`` (or a ``volatile-*``
policy with no key that has a TTL) a command flagged ``denyoom`` in Redis's command table
(SET, APPEND, LPUSH, HSET, SADD, ZADD, INCR...) is refused with Redis's own text, so redis-py
raises ``OutOfMemoryError``; a script is refused at its first write, as in Redis 7.

What the server adds to fakeredis: ``CONFIG GET/SET`` of ``maxmemory``, ``maxmemory-policy``,
``maxmemory-samples``, ``lfu-log-factor``, ``lfu-decay-time``, answered as redis-server 7.0.15
answers (measured case by case: its parsing of memory values and integers, its ranges and
error texts, each parameter once a call, all or nothing; Redis's other parameters are kept as
given, unchecked, and unknown ones refused); ``CONFIG RESETSTAT``; ``INFO`` (``server``,
``memory``, ``stats``, ``keyspace``); ``OBJECT FREQ`` / ``IDLETIME`` / ``ENCODING`` /
``REFCOUNT``; ``MEMORY USAGE``; ``TOUCH``; a ``DBSIZE`` that, like Redis's, counts expired keys
not yet removed; and active expiry. Each key a command looks up is one access of the model, as
in Redis (``MGET k k k`` touches ``k`` three times, so its LFU counter gets three chances to
grow).

Memory. ``INFO memory`` reports ``used_memory`` = :data:`EMPTY_USED_MEMORY` (an empty
redis-server 7.0.15 with one client, measured here) + the model's bytes for the data set, and
``maxmemory`` is compared the same way, so an experiment that computes ``base + budget`` from
``INFO`` works the same on both. A real server also counts client buffers and allocator
fragmentation, which the model does not. Strings are charged as the model charges them
(integers as strings of their digits); lists, hashes, sets and sorted sets approximately (the
bytes of their members plus a few per member).

Time. ``clock=wall`` (default) runs on the wall clock; ``clock=virtual`` on a clock that moves
only when the experiment calls ``client.clock.advance(s)`` (or ``sleep``), starting at
``start`` (seconds since the epoch; default now: the LRU clock's seconds and the LFU minutes
tick at whole seconds and minutes, so a run that must repeat exactly gives a start). Expiry
is lazy (a command that touches a key past its deadline removes it) plus Redis 7's slow
active cycle:
``hz`` 10 cron ticks, each walking the TTL keys with a cursor, 20 keys per loop, again while
more than 10% of them had expired, within 25 ms of modelled CPU (the per-key costs of
:mod:`simlab.expiry`). The ticks that fell due since the last command run when the next
command arrives (at their own times; after a long jump, only as many as it takes to walk every
TTL key once), so both clocks give the same result. The fast cycle is not modelled.

Not modelled: the queue-time OOM check inside MULTI (EXEC is refused instead, with
``EXECABORT`` and the OOM text), per-client memory, and switching the policy at run time
keeping LFU counters (the model is rebuilt in last-access order; LFU counters restart at 5).
Nor the values of Redis's other parameters: CONFIG GET shows one only once set, and the few
the model runs with (``hz`` 10, ``maxmemory-eviction-tenacity`` 10...) answer CONFIG GET
and keep their value.

Patching point: this module and :mod:`simlab.clock` are the only places that use fakeredis's
private modules (``_commands``, ``_core``, ``_socket``, ``_helpers``), tested against the
fakeredis the project pins.
"""
from __future__ import annotations

import json
import math
import re
import time as _time
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import fakeredis
from fakeredis._command_args_parsing import Int
from fakeredis._commands import Key, Signature
from fakeredis._core._database import Database, delete_keys
from fakeredis._helpers import OK, SimpleError
from fakeredis._socket import FakeSocket
from fakeredis._socket._base import BaseFakeSocket

from .. import _validate as _v
from .. import redis_memory as mem
from ..clock import RealClock
from ..expiry import ACCEPTABLE_STALE, EXPIRE_COST, KEY_COST, KEYS_PER_LOOP, SLOW_TIME_PERC
from ..redis_cache import LRU_CLOCK_MAX, OOM_ERROR, REDIS_POLICIES, RedisCache
from .urls import redact

__all__ = ["ModelServer", "ModelClock", "model_client", "parse_model_url", "server_of",
           "EMPTY_USED_MEMORY"]

EMPTY_USED_MEMORY = 963_904   # INFO used_memory of an empty redis-server 7.0.15, one client
HZ = 10
MEMORY_KEY_OVERHEAD = 24      # MEMORY USAGE counts a 24-byte dictEntry (the model: 32, allocated)
LFU_OFF = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
           "note that when switching between policies at runtime LRU and LFU data will take "
           "some time to adjust.")
LRU_OFF = ("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
           "when switching between policies at runtime LRU and LFU data will take some time to "
           "adjust.")
# read commands that count keyspace hits and misses although Redis flags them "write"
_COUNTED_WRITES = frozenset({"getdel", "getex", "getset"})
# lookups that do not touch the key's LRU/LFU data (LOOKUP_NOTOUCH in Redis)
_NOTOUCH = frozenset({"ttl", "pttl", "expiretime", "pexpiretime", "type", "exists", "object",
                      "memory", "dbsize", "info", "scan", "keys", "randomkey"})


@lru_cache(maxsize=1)
def _command_flags() -> dict:
    """Redis's command table as fakeredis ships it: name -> set of flags."""
    table = json.loads((Path(fakeredis.__file__).parent / "commands.json").read_text())
    return {name: frozenset(info[2]) for name, info in table.items()}


def _flagged(name: str, flag: str) -> bool:
    return flag in _command_flags().get(name, ())


# --- options -------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2,
          "g": 1000 ** 3, "gb": 1024 ** 3}
ULLONG_MAX = 2 ** 64 - 1
LLONG_MIN, LLONG_MAX = -2 ** 63, 2 ** 63 - 1
INT_MAX = 2 ** 31 - 1
# Redis's maxmemory_policy_enum, in its order (CONFIG SET's error lists them so)
_POLICY_ENUM = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")


def memory_value(text) -> int | None:
    """Redis's ``memtoull``: ``2mb`` is 2 * 1024**2 bytes, ``2m`` 2,000,000; None if invalid.

    As redis-server 7.0.15 reads it (measured): ASCII digits, then nothing or one unit (b, k,
    kb, m, mb, g, gb, in any case); no sign, space or point anywhere, and no digits at all
    read as 0 (``""``, ``"mb"``). The number saturates at 2**64 - 1 (``strtoull``), and the
    product with the unit wraps around modulo 2**64, so ``17179869184gb`` is 0 and
    ``99999999999999999999gb`` 2**64 - 2**30; a number of 128 digits or more does not fit
    memtoull's buffer and is invalid."""
    digits, unit = re.fullmatch(r"([0-9]*)(.*)", str(text), re.DOTALL).groups()
    if not unit.isascii() or unit.lower() not in _UNITS or len(digits) >= 128:
        return None
    number = min(int(digits or "0"), ULLONG_MAX)
    return number * _UNITS[unit.lower()] & ULLONG_MAX


def integer_value(text) -> int | None:
    """Redis's ``string2ll``: ``0`` or ``-?[1-9][0-9]*`` within 64 signed bits; None for
    anything else (a space, a ``+``, a leading zero, ``-0``, a point, a unit)."""
    text = str(text)
    if len(text) > 20 or not re.fullmatch(r"0|-?[1-9][0-9]*", text):
        return None
    value = int(text)
    return value if LLONG_MIN <= value <= LLONG_MAX else None


def policy_value(text) -> str | None:
    """A ``maxmemory-policy`` in any (ASCII) case, as ``strcasecmp`` compares; None if
    unknown."""
    text = str(text)
    return text.lower() if text.isascii() and text.lower() in _POLICY_ENUM else None


def _int_in(text, low: int, high: int) -> int | None:
    value = integer_value(text)
    return value if value is not None and low <= value <= high else None


def _real_in(text, low: float, high: float) -> float | None:
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if low <= value <= high else None   # NaN fails both comparisons


# URL options: name -> (rule for messages, parser returning None when invalid); Redis's
# parsing, with simlab's range for maxmemory-samples (the one simulate takes)
_RULES = {
    "maxmemory": ("must be a memory value (bytes, or with a unit: 100kb, 2mb, 1gb; 0: no limit)",
                  memory_value),
    "maxmemory-policy": ("must be one of " + ", ".join(REDIS_POLICIES), policy_value),
    "maxmemory-samples": (f"must be an integer from {_v.MIN_SAMPLES} to {_v.MAX_SAMPLES}",
                          lambda t: _int_in(t, _v.MIN_SAMPLES, _v.MAX_SAMPLES)),
    "lfu-log-factor": (f"must be an integer from 0 to {INT_MAX}",
                       lambda t: _int_in(t, 0, INT_MAX)),
    "lfu-decay-time": (f"must be an integer (minutes) from 0 to {INT_MAX}",
                       lambda t: _int_in(t, 0, INT_MAX)),
}
_URL_ONLY = {
    "clock": ("must be 'wall' or 'virtual'",
              lambda t: str(t).lower() if str(t).lower() in ("wall", "virtual") else None),
    "seed": ("must be a non-negative integer", lambda t: _int_in(t, 0, 2 ** 63 - 1)),
    "start": ("must be a time in seconds since the epoch, from 0 to 4102444800 (year 2100)",
              lambda t: _real_in(t, 0.0, 4_102_444_800.0)),
}
DEFAULTS = {"maxmemory": 0, "maxmemory-policy": "noeviction", "maxmemory-samples": 5,
            "lfu-log-factor": 10, "lfu-decay-time": 1, "clock": "wall", "seed": None,
            "start": None}


def parse_model_url(url: str) -> dict:
    """The options of a ``model://`` URL, checked, with the defaults filled in.

    Raises
    ------
    ValueError
        One line naming the option, the rule and the value received.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "model":
        raise ValueError(f"url must start with model://, got {redact(url)!r}")
    if parts.netloc or parts.path not in ("", "/"):
        raise ValueError("a model:// URL takes options only, after '?' (model://?maxmemory=2mb"
                         f"&maxmemory-policy=allkeys-lru), got {redact(url)!r}")
    options = dict(DEFAULTS)
    rules = {**_RULES, **_URL_ONLY}
    for name, raw in parse_qsl(parts.query, keep_blank_values=True):
        name = unquote(name).lower().replace("_", "-")
        if name not in rules:
            raise ValueError(f"model:// option {name!r} is not known; the options are "
                             f"{', '.join(rules)}")
        rule, parse = rules[name]
        value = parse(raw)
        if value is None:
            raise ValueError(f"model:// option {name} {rule}, got {raw!r}")
        options[name] = value
    if options["start"] is not None and options["clock"] != "virtual":
        raise ValueError("model:// option start sets where a virtual clock starts: it needs "
                         f"clock=virtual, got clock={options['clock']}")
    return options


# --- time ------------------------------------------------------------------------------------

class ModelClock:
    """A virtual clock for a ``model://`` server: it moves only when told to.

    Parameters
    ----------
    start : float, optional
        Virtual seconds since the epoch to start at (default: now on the wall clock).
    """

    controllable = True

    def __init__(self, start: float | None = None):
        self._now = _time.time() if start is None else float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` (>= 0) ahead; keys whose deadline passes expire."""
        from .. import _validate as v
        self._now += v.nonnegative_real("seconds", seconds)

    def sleep(self, seconds: float) -> None:
        """Virtual sleep: advances the clock without waiting."""
        self.advance(seconds)

    def __repr__(self):
        return f"ModelClock(now={self._now:.3f})"


# --- the model beside fakeredis ---------------------------------------------------------------

class _TrackedCache(RedisCache):
    """The Redis model, reporting every key it removes (evicted, expired, or overwritten) so
    that the server can delete the same keys from fakeredis."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.removed: list = []

    def _remove(self, key):
        super()._remove(key)
        self.removed.append(key)


def _value_length(value) -> int:
    """The bytes the model charges for a value: exact for strings, approximate otherwise."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, list):
        return sum(len(x) + 2 for x in value) + 7
    inner = getattr(value, "_values", None)
    if inner is None:
        inner = getattr(value, "_bylex", None)
    if isinstance(inner, dict):
        return sum(len(k) + (len(v) if isinstance(v, bytes) else 8) + 2
                   for k, v in inner.items()) + 7
    return 64


class _ModelDatabase(Database):
    """One fakeredis database that tells its server about every read, write, delete and
    expiry, and reads the server's clock."""

    def __init__(self, lock, server: "ModelServer", index: int):
        self._model_server = server
        self.index = index
        super().__init__(lock)

    time = property(lambda self: self._model_server.now, lambda self, value: None)

    def model_key(self, key: bytes):
        return key if self.index == 0 else (self.index, key)

    def __getitem__(self, key):
        item = self._dict[key]
        if self.expired(item):
            del self._dict[key]
            self._model_server._on_expired(self, key)
            raise KeyError(key)
        self._model_server._on_read(self, key)
        return item

    def __delitem__(self, key):
        del self._dict[key]
        self._model_server._on_write(self, key)

    def schedule_expiry(self, key, expireat):
        super().schedule_expiry(key, expireat)
        self._model_server._on_write(self, key)

    def clear(self):
        keys = list(self._dict)
        for key in keys:
            self.notify_watch(key)
        self._dict.clear()
        self._expiry_heap.clear()
        self._model_server._on_clear(self, keys)

    def swap(self, other):
        super().swap(other)
        self._model_server._rebuild_needed = True


class _Databases(dict):
    def __init__(self, server):
        super().__init__()
        self._server = server

    def __missing__(self, index):
        db = self[index] = _ModelDatabase(self._server.lock, self._server, index)
        return db


class ModelServer(fakeredis.FakeServer):
    """fakeredis's server with simlab's Redis model beside its keyspace (see the module).

    Parameters
    ----------
    maxmemory : int
        Bytes, as a real server's ``maxmemory`` (0: no limit); the data set gets
        ``maxmemory - EMPTY_USED_MEMORY``.
    policy, samples, lfu_log_factor, lfu_decay_time
        As in redis.conf.
    clock : {"wall", "virtual"} or a clock object with ``now()``
    seed : int, optional
        The model's sampling and LFU draws.
    """

    def __init__(self, *, maxmemory: int = 0, policy: str = "noeviction", samples: int = 5,
                 lfu_log_factor: int = 10, lfu_decay_time: int = 1, clock="wall",
                 seed: int | None = None):
        super().__init__(version=(7, 0))
        self.dbs = _Databases(self)
        if clock == "wall":
            clock = RealClock()
        elif clock == "virtual":
            clock = ModelClock()
        self.clock = clock
        self.now = clock.now()
        self.seed = seed
        self.settings = {"maxmemory": maxmemory, "maxmemory-policy": policy,
                         "maxmemory-samples": samples, "lfu-log-factor": lfu_log_factor,
                         "lfu-decay-time": lfu_decay_time}
        self.stats = dict.fromkeys(("evicted_keys", "expired_keys", "keyspace_hits",
                                    "keyspace_misses", "total_commands_processed",
                                    "rejected_oom"), 0)
        self.model = self._new_model()
        self._where: dict = {}       # model key -> (database, key): every key the model holds
        self._access: dict = {}      # model key -> time of its last access (OBJECT IDLETIME)
        self._vol: dict = {}         # model key -> deadline, for the active expire cycle
        self._vol_keys: list = []
        self._vol_pos: dict = {}
        self._cursor = 0
        self._next_tick = math.floor(self.now * HZ + 1) / HZ
        self._reads: dict = {}
        self._writes: dict = {}
        self._restored: dict = {}    # model key -> (IDLETIME, FREQ) of a RESTORE being mirrored
        self._notouch = False
        self._oom = False            # the last pre-command eviction left memory above the limit
        self._script_wrote = False
        self._rebuild_needed = False

    @classmethod
    def from_url(cls, url: str) -> "ModelServer":
        o = parse_model_url(url)
        return cls(maxmemory=o["maxmemory"], policy=o["maxmemory-policy"],
                   samples=o["maxmemory-samples"], lfu_log_factor=o["lfu-log-factor"],
                   lfu_decay_time=o["lfu-decay-time"],
                   clock=ModelClock(o["start"]) if o["clock"] == "virtual" else o["clock"],
                   seed=o["seed"])

    # --- settings ---------------------------------------------------------------------------

    def _data_limit(self):
        limit = self.settings["maxmemory"]
        return None if not limit else max(limit - EMPTY_USED_MEMORY, 0)

    def _new_model(self) -> _TrackedCache:
        s = self.settings
        model = _TrackedCache(s["maxmemory-policy"], self._data_limit(),
                              samples=min(s["maxmemory-samples"], _v.MAX_SAMPLES),
                              lfu_log_factor=s["lfu-log-factor"],
                              lfu_decay_time=s["lfu-decay-time"], rng=self.seed)
        model.samples = s["maxmemory-samples"]   # CONFIG SET takes up to 2**31 - 1, as Redis
        return model

    def configure(self, name: str, value) -> None:
        """Apply one checked setting (``CONFIG SET``)."""
        self.settings[name] = value
        if name == "maxmemory-policy":
            self._rebuild_needed = True
        elif name == "maxmemory":
            self.model.maxmemory = self._data_limit()
        elif name == "maxmemory-samples":
            self.model.samples = value
        elif name == "lfu-log-factor":
            self.model.lfu_log_factor = float(value)
        elif name == "lfu-decay-time":
            self.model.lfu_decay_time = float(value)

    @property
    def used_memory(self) -> int:
        """What ``INFO memory`` reports: an empty server's usage plus the model's data set."""
        return EMPTY_USED_MEMORY + self.model.used_memory

    def describe(self) -> str:
        s = self.settings
        limit = "no maxmemory" if not s["maxmemory"] else f"maxmemory {s['maxmemory']:,} B"
        clock = "virtual clock" if getattr(self.clock, "controllable", False) else "wall clock"
        return (f"simlab's Redis model (model://: {s['maxmemory-policy']}, {limit}, samples "
                f"{s['maxmemory-samples']}, {clock}; fakeredis {fakeredis.__version__} "
                "commands)")

    # --- hooks from the databases -------------------------------------------------------------

    def _on_read(self, db, key):
        if not self._notouch:
            mk = db.model_key(key)       # each lookup touches (MGET k k k: three LFU draws)
            self._reads[mk] = (db, key, self._reads.get(mk, (db, key, 0))[2] + 1)

    def _on_write(self, db, key):
        self._writes[db.model_key(key)] = (db, key)

    def _on_expired(self, db, key):
        mk = db.model_key(key)
        self.stats["expired_keys"] += 1
        if self._where.pop(mk, None) is not None:
            self._forget(mk)
            self.model.delete(mk, self.now)

    def _on_clear(self, db, keys):
        for key in keys:
            mk = db.model_key(key)
            if self._where.pop(mk, None) is not None:
                self._forget(mk)
                self.model.delete(mk, self.now)
        self._drain()
        self._rebuild_needed = True    # Redis frees the emptied tables: start them anew

    # --- bookkeeping ------------------------------------------------------------------------

    def _forget(self, mk):
        self._access.pop(mk, None)
        self._vol_discard(mk)

    def _vol_discard(self, mk):
        if self._vol.pop(mk, None) is None:
            return
        i = self._vol_pos.pop(mk)
        last = self._vol_keys.pop()
        if i < len(self._vol_keys):
            self._vol_keys[i] = last
            self._vol_pos[last] = i

    def _vol_set(self, mk, deadline):
        if mk not in self._vol:
            self._vol_pos[mk] = len(self._vol_keys)
            self._vol_keys.append(mk)
        self._vol[mk] = deadline

    def _drain(self):
        """Delete from fakeredis the keys the model removed on its own (evicted, or expired by
        the model's lazy check), and count them."""
        removed, self.model.removed = self.model.removed, []
        for mk in removed:
            if mk in self.model:
                continue                      # overwritten: removed, then added again
            where = self._where.pop(mk, None)
            if where is None:
                continue                      # the server removed it itself
            db, key = where
            self._forget(mk)
            item = db._dict.pop(key, None)
            if item is None:
                continue
            db.notify_watch(key)
            expired = item.expireat is not None and item.expireat < self.now
            self.stats["expired_keys" if expired else "evicted_keys"] += 1

    def _rebuild(self):
        """A new model (another policy, or SWAPDB): every key again, in last-access order."""
        self._rebuild_needed = False
        self.model = self._new_model()
        entries = []
        for db in list(self.dbs.values()):
            for key, item in db._dict.items():
                mk = db.model_key(key)
                entries.append((self._access.get(mk, self.now), mk, db, key, item))
        entries.sort(key=lambda e: e[0])
        self._where, self._access = {}, {}
        self._vol, self._vol_keys, self._vol_pos = {}, [], {}
        for when, mk, db, key, item in entries:
            self._put(mk, db, key, item, when)
        self.model.removed = []

    def _put(self, mk, db, key, item, now):
        ttl = None if item.expireat is None else item.expireat - now
        self.model.put(mk, now, ttl, _value_length(item.value), key_length=len(key),
                       in_script=True)
        self._where[mk] = (db, key)
        self._access[mk] = now
        if item.expireat is None:
            self._vol_discard(mk)
        else:
            self._vol_set(mk, item.expireat)

    # --- expiry -----------------------------------------------------------------------------

    def _tick(self, now):
        """The cron ticks that fell due since the last command: one slow cycle each."""
        if now < self._next_tick:
            return
        due = int((now - self._next_tick) * HZ) + 1
        first = self._next_tick
        self._next_tick = first + due / HZ
        # after a long jump, only as many ticks as it takes to walk every TTL key once
        needed = len(self._vol_keys) // KEYS_PER_LOOP + 1
        for i in range(max(due - needed, 0), due):
            self._expire_cycle(first + i / HZ)

    def _expire_cycle(self, t):
        """``activeExpireCycle`` (slow): 20 TTL keys a loop from a cursor, again while more
        than 10% had expired, within 25% of a tick of modelled CPU time."""
        budget = SLOW_TIME_PERC / 100 / HZ
        spent, iteration = 0.0, 0
        while self._vol_keys:
            iteration += 1
            sampled = expired = 0
            for _ in range(min(len(self._vol_keys), KEYS_PER_LOOP)):
                if not self._vol_keys:
                    break
                self._cursor %= len(self._vol_keys)
                mk = self._vol_keys[self._cursor]
                sampled += 1
                if t > self._vol[mk]:
                    self._expire(mk)          # the last key moves into this slot
                    expired += 1
                else:
                    self._cursor += 1
            spent += sampled * KEY_COST + expired * EXPIRE_COST
            if iteration % 16 == 0 and spent > budget:
                break
            if sampled == 0 or expired * 100 // sampled <= ACCEPTABLE_STALE:
                break

    def _expire(self, mk):
        db, key = self._where.pop(mk)
        self._forget(mk)
        if db._dict.pop(key, None) is not None:
            db.notify_watch(key)
        self.stats["expired_keys"] += 1
        self.model.delete(mk, self.now)

    # --- commands -----------------------------------------------------------------------------

    def _denies_oom(self, sock, name: str) -> bool:
        if name == "exec":
            queued = sock._transaction or []
            return any(_flagged(sig.name, "denyoom") for _, sig, _ in queued)
        return _flagged(name, "denyoom")

    def run(self, sock, func, sig, args):
        """One command from a client: expiry ticks, eviction, the OOM check, the command in
        fakeredis, then the model brought up to date with the keys it touched."""
        now = self.now = self.clock.now()
        self.stats["total_commands_processed"] += 1
        if self._rebuild_needed:
            self._rebuild()
        self._tick(now)
        self._oom = not self.model.make_room(now)
        self._drain()
        name = sig.name
        if self._oom and self._denies_oom(sock, name):
            self.stats["rejected_oom"] += 1
            if name == "exec":
                sock._forget_transaction()
                sock._clear_watches()
                return SimpleError("EXECABORT Transaction discarded because of: " + OOM_ERROR)
            return SimpleError(OOM_ERROR)
        self._script_wrote = False
        self._notouch = name in _NOTOUCH
        try:
            self._count(sock, sig, args)
            return BaseFakeSocket._run_command(sock, func, sig, args, False)
        finally:
            self._notouch = False
            self._sync(now)

    def run_nested(self, sock, func, sig, args, from_script: bool):
        """A command inside a script or a transaction: no eviction of its own (Redis evicted
        once, before the script); a script's first write is refused if that left memory above
        the limit (``scriptVerifyOOM``)."""
        name = sig.name
        if from_script and self._oom and not self._script_wrote and _flagged(name, "denyoom"):
            return SimpleError(OOM_ERROR)
        if _flagged(name, "write"):
            self._script_wrote = True
        outer, self._notouch = self._notouch, name in _NOTOUCH
        try:
            self._count(sock, sig, args)
            return BaseFakeSocket._run_command(sock, func, sig, args, from_script)
        finally:
            self._notouch = outer

    def _count(self, sock, sig, args):
        """``keyspace_hits`` / ``keyspace_misses``: one per key a read command looks up."""
        name = sig.name
        if not (_flagged(name, "readonly") or name in _COUNTED_WRITES) or name in (
                "object", "memory"):
            return
        fixed, repeat = sig.fixed, sig.repeat
        db = sock._db
        for i, arg in enumerate(args):
            if i < len(fixed):
                kind = fixed[i]
            elif repeat:
                kind = repeat[(i - len(fixed)) % len(repeat)]
            else:
                break
            if isinstance(kind, Key):
                self.count_lookup(db, arg)

    def count_lookup(self, db, key) -> bool:
        """Look ``key`` up as Redis's ``lookupKeyRead`` does (expiring it if due); count it."""
        outer, self._notouch = self._notouch, True     # the command's own lookup touches
        try:
            found = key in db
        finally:
            self._notouch = outer
        self.stats["keyspace_hits" if found else "keyspace_misses"] += 1
        return found

    def _sync(self, now):
        """Bring the model up to date with what the command did: deletions, then reads
        (touches), then writes (no eviction until the next command, as in Redis)."""
        reads, writes = self._reads, self._writes
        self._reads, self._writes = {}, {}
        model = self.model
        for mk, (db, key) in writes.items():
            if key not in db._dict and self._where.pop(mk, None) is not None:
                self._forget(mk)
                model.delete(mk, now)
        for mk, (db, key, lookups) in reads.items():
            if mk in writes or key not in db._dict:
                continue
            if mk in model:
                model.touch(mk, now, lookups)
                self._access[mk] = now
            else:
                writes[mk] = (db, key)        # not mirrored yet (a refused write): add it
        restored, self._restored = self._restored, {}
        for mk, (db, key) in writes.items():
            item = db._dict.get(key)
            if item is not None:
                self._put(mk, db, key, item, now)
                if mk in restored:
                    self._set_access(mk, now, *restored[mk])
        self._drain()

    def _set_access(self, mk, now, idle, freq):
        """RESTORE's IDLETIME or FREQ on a key the model has just mirrored."""
        if self.model.set_access(mk, now, idle=idle, freq=freq) and not self.model.lfu:
            self._access[mk] = now - idle

    # --- what the server reports ---------------------------------------------------------------

    def idle_seconds(self, mk) -> int:
        """``OBJECT IDLETIME``: whole seconds on the one-second LRU clock."""
        last = self._access.get(mk, self.now)
        return (RedisCache.lru_clock(self.now) - RedisCache.lru_clock(last)) & LRU_CLOCK_MAX

    def memory_usage(self, db, key) -> int | None:
        """``MEMORY USAGE``: the model's bytes for the key, counted as Redis counts them (a
        24-byte dict entry, no expires entry, no bucket share)."""
        item = db._dict.get(key)
        if item is None:
            return None
        entry = mem.entry_bytes(len(key), _value_length(item.value))
        return int(entry) - mem.DICT_ENTRY + MEMORY_KEY_OVERHEAD

    def info(self, sections) -> str:
        s = self.settings
        used = self.used_memory
        counts = [(i, len(db._dict), sum(1 for it in db._dict.values()
                                         if it.expireat is not None))
                  for i, db in sorted(self.dbs.items()) if db._dict]
        blocks = {
            "server": [("redis_version", "7.0.15"), ("redis_mode", "standalone"),
                       ("simlab_model", "1"), ("hz", HZ)],
            "memory": [("used_memory", used), ("used_memory_human", _human(used)),
                       ("used_memory_dataset", self.model.used_memory),
                       ("maxmemory", s["maxmemory"]), ("maxmemory_human", _human(s["maxmemory"])),
                       ("maxmemory_policy", s["maxmemory-policy"])],
            "stats": [(name, self.stats[name]) for name in (
                "total_commands_processed", "expired_keys", "evicted_keys", "keyspace_hits",
                "keyspace_misses", "rejected_oom")],
            "keyspace": [(f"db{i}", f"keys={n},expires={e},avg_ttl=0") for i, n, e in counts],
        }
        wanted = [w.lower() for w in sections] or ["default"]
        if any(w in ("default", "all", "everything") for w in wanted):
            wanted = list(blocks)
        lines = []
        for name in wanted:
            if name in blocks:
                lines.append(f"# {name.capitalize()}")
                lines += [f"{k}:{v}" for k, v in blocks[name]]
                lines.append("")
        return "\r\n".join(lines)


def _human(n: int) -> str:
    return f"{n / 1024 ** 2:.2f}M" if n >= 1024 ** 2 else f"{n / 1024:.2f}K"


# --- the commands fakeredis lacks or answers differently ---------------------------------------

def _config_error(name: str, rule: str) -> SimpleError:
    return SimpleError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {rule}")


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "replace")


def _memory(text: str) -> int:
    value = memory_value(text)
    if value is None:
        raise ValueError("argument must be a memory value")
    return value


def _integer(low: int, high: int):
    def parse(text: str) -> int:
        value = integer_value(text)
        if value is None:
            raise ValueError("argument couldn't be parsed into an integer")
        if not low <= value <= high:
            raise ValueError(f"argument must be between {low} and {high} inclusive")
        return value
    return parse


def _policy(text: str) -> str:
    value = policy_value(text)
    if value is None:
        raise ValueError("argument(s) must be one of the following: " + ", ".join(_POLICY_ENUM))
    return value


# CONFIG SET of what the model models: name -> parser raising ValueError in Redis 7.0's words
_CONFIG_SET = {"maxmemory": _memory, "maxmemory-policy": _policy,
               "maxmemory-samples": _integer(1, INT_MAX), "lfu-log-factor": _integer(0, INT_MAX),
               "lfu-decay-time": _integer(0, INT_MAX)}
# what the model runs with and cannot change: CONFIG SET takes that value only (a real server
# takes others, which the model would not act on); CONFIG GET answers it by name or pattern
# (a real server's maxmemory* answers maxmemory-clients and maxmemory-eviction-tenacity too)
_FIXED = {"maxmemory-clients": "0", "maxmemory-eviction-tenacity": "10", "hz": str(HZ),
          "active-expire-effort": "1", "replica-ignore-maxmemory": "yes",
          "slave-ignore-maxmemory": "yes"}
# redis-server 7.0.15's parameters that CONFIG SET refuses whatever the value (measured)
_PROTECTED = frozenset({"dir", "dbfilename"})
_IMMUTABLE = frozenset("""
aclfile always-show-logo aof_rewrite_cpulist appenddirname appendfilename bgsave_cpulist
bio_cpulist cluster-config-file cluster-enabled cluster-port daemonize databases disable-thp
enable-debug-command enable-module-command enable-protected-configs io-threads
io-threads-do-reads logfile lua-enable-deprecated-api pidfile rdbchecksum replicaof
server_cpulist set-proc-title slaveof socket-mark-id supervised syslog-enabled syslog-facility
syslog-ident tcp-backlog unixsocket unixsocketperm""".split())
# redis-server 7.0.15's other parameters (CONFIG GET *, and the hidden ones it answers by
# name): CONFIG SET keeps their value as given, unchecked, for fakeredis (requirepass,
# notify-keyspace-events) and for CONFIG GET, which shows them once set
_STORED = frozenset("""
acl-pubsub-default acllog-max-len active-defrag-cycle-max active-defrag-cycle-min
active-defrag-ignore-bytes active-defrag-max-scan-fields active-defrag-threshold-lower
active-defrag-threshold-upper activedefrag activerehashing aof-disable-auto-gc
aof-load-truncated aof-rewrite-incremental-fsync aof-timestamp-enabled aof-use-rdb-preamble
appendfsync appendonly auto-aof-rewrite-min-size auto-aof-rewrite-percentage bind
bind-source-addr busy-reply-threshold client-output-buffer-limit client-query-buffer-limit
cluster-allow-pubsubshard-when-down cluster-allow-reads-when-down
cluster-allow-replica-migration cluster-announce-bus-port cluster-announce-hostname
cluster-announce-ip cluster-announce-port cluster-announce-tls-port cluster-link-sendbuf-limit
cluster-migration-barrier cluster-node-timeout cluster-preferred-endpoint-type
cluster-replica-no-failover cluster-replica-validity-factor cluster-require-full-coverage
cluster-slave-no-failover cluster-slave-validity-factor crash-log-enabled
crash-memcheck-enabled dynamic-hz hash-max-listpack-entries hash-max-listpack-value
hash-max-ziplist-entries hash-max-ziplist-value hll-sparse-max-bytes ignore-warnings
jemalloc-bg-thread key-load-delay latency-monitor-threshold latency-tracking
latency-tracking-info-percentiles lazyfree-lazy-eviction lazyfree-lazy-expire
lazyfree-lazy-server-del lazyfree-lazy-user-del lazyfree-lazy-user-flush list-compress-depth
list-max-listpack-size list-max-ziplist-size loading-process-events-interval-bytes loglevel
lua-time-limit masterauth masteruser maxclients min-replicas-max-lag min-replicas-to-write
min-slaves-max-lag min-slaves-to-write no-appendfsync-on-rewrite notify-keyspace-events
oom-score-adj oom-score-adj-values port proc-title-template propagation-error-behavior
protected-mode proto-max-bulk-len rdb-del-sync-files rdb-key-save-delay
rdb-save-incremental-fsync rdbcompression repl-backlog-size repl-backlog-ttl
repl-disable-tcp-nodelay repl-diskless-load repl-diskless-sync repl-diskless-sync-delay
repl-diskless-sync-max-replicas repl-ping-replica-period repl-ping-slave-period repl-timeout
replica-announce-ip replica-announce-port replica-announced replica-ignore-disk-write-errors
replica-lazy-flush replica-priority replica-read-only replica-serve-stale-data requirepass
sanitize-dump-payload save set-max-intset-entries shutdown-on-sigint shutdown-on-sigterm
shutdown-timeout slave-announce-ip slave-announce-port slave-lazy-flush slave-priority
slave-read-only slave-serve-stale-data slowlog-log-slower-than slowlog-max-len
stop-writes-on-bgsave-error stream-node-max-bytes stream-node-max-entries tcp-keepalive
timeout tls-auth-clients tls-ca-cert-dir tls-ca-cert-file tls-cert-file tls-ciphers
tls-ciphersuites tls-client-cert-file tls-client-key-file tls-client-key-file-pass
tls-cluster tls-dh-params-file tls-key-file tls-key-file-pass tls-port
tls-prefer-server-ciphers tls-protocols tls-replication tls-session-cache-size
tls-session-cache-timeout tls-session-caching tracking-table-max-keys use-exit-on-panic
watchdog-period zset-max-listpack-entries zset-max-listpack-value zset-max-ziplist-entries
zset-max-ziplist-value""".split())
_KNOWN = frozenset(_CONFIG_SET) | frozenset(_FIXED) | _PROTECTED | _IMMUTABLE | _STORED


def _glob(pattern: str):
    """Redis's ``stringmatchlen`` without regard to case, as a function of the name: ``*``,
    ``?``, ``[abc]``, ``[^a-z]``, and ``\\`` quoting the next character."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":                      # to its "]", or to the end of the pattern
            i += 1
            negate = pattern.startswith("^", i)
            i += negate
            items = []
            while i < n and pattern[i] != "]":
                if pattern[i] == "\\" and i + 1 < n:
                    i += 1
                    items.append(re.escape(pattern[i]))
                elif i + 2 < n and pattern[i + 1] == "-":
                    low, high = sorted((pattern[i], pattern[i + 2]))
                    items.append(f"{re.escape(low)}-{re.escape(high)}")
                    i += 2
                else:
                    items.append(re.escape(pattern[i]))
                i += 1
            if items:
                out.append(f"[{'^' if negate else ''}{''.join(items)}]")
            else:
                out.append("." if negate else "(?!)")
        else:
            if c == "\\" and i + 1 < n:
                i += 1
            out.append(re.escape(pattern[i]))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.ASCII | re.DOTALL).fullmatch


class _ModelSocket(FakeSocket):
    """fakeredis's socket with the model's commands and the model around every command."""

    _EXTRA = {
        "info": Signature("info", "model_info", (), (bytes,)),
        "config get": Signature("config get", "model_config_get", (), (bytes,)),
        "config set": Signature("config set", "model_config_set", (), (bytes,)),
        "config resetstat": Signature("config resetstat", "model_config_resetstat", ()),
        "object": Signature("object", "model_object", (bytes,), (bytes,)),
        "memory": Signature("memory", "model_memory", (bytes,), (bytes,)),
        "dbsize": Signature("dbsize", "model_dbsize", ()),
        "touch": Signature("touch", "model_touch", (Key(),), (Key(),)),
        "restore": Signature("restore", "model_restore", (Key(), Int, bytes), (bytes,)),
    }

    def _name_to_func(self, cmd_name):
        sig = self._EXTRA.get(cmd_name)
        if sig is not None:
            return getattr(self, sig.func_name), sig
        return super()._name_to_func(cmd_name)

    def _run_command(self, func, sig, args, from_script):
        if from_script or self._in_transaction:
            return self._server.run_nested(self, func, sig, args, from_script)
        return self._server.run(self, func, sig, args)

    # INFO, CONFIG -----------------------------------------------------------------------------

    def model_info(self, *sections):
        return self._server.info([s.decode() for s in sections]).encode()

    def _config_values(self) -> dict:
        """The parameters a CONFIG GET pattern matches: name -> value (bytes)."""
        values = {name: str(value).encode() for name, value in self._server.settings.items()}
        for name, value in self._server_config.items():
            values.setdefault(_text(name), value)
        return values

    def model_config_get(self, *patterns):
        """CONFIG GET as Redis 7.0's ``configGetCommand``: a name without ``*?[`` is looked up
        in any case and answered as asked, a pattern matches in any case; each parameter once."""
        if not patterns:
            raise SimpleError("ERR wrong number of arguments for 'config|get' command")
        values = self._config_values()
        named = {**{name: value.encode() for name, value in _FIXED.items()}, **values}
        out, seen = {}, set()
        for pattern in patterns:
            text = _text(pattern)
            if not any(c in text for c in "*?["):
                name = text.lower()
                if name in named and name not in seen:
                    out[pattern] = named[name]
                    seen.add(name)
                continue
            match = _glob(text)
            for name, value in named.items():
                if name not in seen and match(name):
                    out[name.encode()] = value
                    seen.add(name)
        if self._resp_version == 3:
            return out
        return [x for pair in out.items() for x in pair]

    def model_config_set(self, *args):
        """CONFIG SET as Redis 7.0's ``configSetCommand``, all or nothing: every name known,
        settable and given once (the first that is not is reported), then every value checked
        in order (the first bad one is reported), then all applied."""
        if len(args) < 2:
            raise SimpleError("ERR wrong number of arguments for 'config|set' command")
        if len(args) % 2:
            raise SimpleError("ERR syntax error")
        given, values = args[0::2], [_text(value) for value in args[1::2]]
        names = [_text(name).lower() for name in given]
        for i, name in enumerate(names):
            if name not in _KNOWN:
                raise SimpleError("ERR Unknown option or number of arguments for CONFIG SET - "
                                  f"'{_text(given[i])}'")
            if name in _IMMUTABLE or name in _PROTECTED:
                kind = "immutable" if name in _IMMUTABLE else "protected"
                raise _config_error(_text(given[i]), f"can't set {kind} config")
            if name in names[:i]:
                raise _config_error(_text(given[i]), "duplicate parameter")
        checked = []
        for name, value, raw in zip(names, values, args[1::2]):
            if name in _CONFIG_SET:
                try:
                    checked.append((name, _CONFIG_SET[name](value)))
                except ValueError as why:
                    raise _config_error(name, str(why)) from None
            elif name in _FIXED:
                if value.lower() != _FIXED[name]:
                    raise _config_error(name, f"model:// runs with {name} {_FIXED[name]} only")
            else:
                checked.append((name, raw))
        for name, value in checked:
            if name in _CONFIG_SET:
                self._server.configure(name, value)
            else:
                self._server_config[name.encode()] = value
        return OK

    def model_config_resetstat(self):
        for name in self._server.stats:
            self._server.stats[name] = 0
        return OK

    # OBJECT, MEMORY, DBSIZE, TOUCH ------------------------------------------------------------

    def model_object(self, sub, *args):
        sub = sub.decode().upper()
        if sub == "HELP":
            return [b"OBJECT <subcommand>: FREQ, IDLETIME, ENCODING, REFCOUNT, HELP (model://)"]
        if sub not in ("FREQ", "IDLETIME", "ENCODING", "REFCOUNT") or len(args) != 1:
            raise SimpleError(f"ERR unknown subcommand or wrong number of arguments for "
                              f"'{sub}'. Try OBJECT HELP.")
        server, key = self._server, args[0]
        if not server.count_lookup(self._db, key):
            return None
        mk = self._db.model_key(key)
        if sub == "FREQ":
            if not server.model.lfu:
                raise SimpleError(LFU_OFF)
            return server.model.lfu_counter(mk, server.now)
        if sub == "IDLETIME":
            if server.model.lfu:
                raise SimpleError(LRU_OFF)
            return server.idle_seconds(mk)
        if sub == "REFCOUNT":
            return 1
        return _encoding(self._db._dict[key].value)

    def model_memory(self, sub, *args):
        sub = sub.decode().upper()
        if sub == "USAGE" and args:
            return self._server.memory_usage(self._db, args[0])
        raise SimpleError(f"ERR unknown subcommand '{sub}'. Try MEMORY HELP.")

    def model_restore(self, key, ttl, payload, *options):
        """RESTORE with Redis's options (``restoreCommand``): REPLACE, ABSTTL, and IDLETIME
        seconds or FREQ counter, which set the key's LRU age or LFU counter
        (``objectSetLRUOrLFU``: the one the policy uses; the other is ignored). fakeredis
        knows REPLACE only; the age or counter is set once the model mirrors the write."""
        replace = absttl = False
        idle = freq = None
        i = 0
        while i < len(options):
            word, more = options[i].lower(), len(options) - i - 1
            if word == b"replace":
                replace = True
            elif word == b"absttl":
                absttl = True
            elif word == b"idletime" and more and freq is None:
                i += 1
                idle = Int.decode(options[i])
                if idle < 0:
                    raise SimpleError("ERR Invalid IDLETIME value, must be >= 0")
            elif word == b"freq" and more and idle is None:
                i += 1
                freq = Int.decode(options[i])
                if not 0 <= freq <= 255:
                    raise SimpleError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            else:
                raise SimpleError("ERR syntax error")
            i += 1
        if key and not replace:
            raise SimpleError("BUSYKEY Target key name already exists.")
        if ttl < 0:
            raise SimpleError("ERR Invalid TTL value, must be >= 0")
        left = ttl - self._db.time * 1000 if absttl and ttl else ttl
        super().restore(key, max(left, 0), payload, b"REPLACE")     # checks the payload
        if left < 0 or (absttl and ttl and left == 0):      # already expired: not created
            delete_keys(key)
        elif idle is not None or freq is not None:
            self._server._restored[self._db.model_key(key.key)] = (idle, freq)
        return OK

    def model_dbsize(self):
        return len(self._db._dict)          # expired keys count until they are removed

    def model_touch(self, *keys):
        return sum(1 for key in keys if key)


def _encoding(value) -> bytes:
    if isinstance(value, bytes):
        if re.fullmatch(rb"-?[1-9]\d{0,18}|0", value):
            return b"int"
        return b"embstr" if len(value) <= mem.EMBSTR_LIMIT else b"raw"
    return {list: b"quicklist"}.get(type(value), b"listpack")


class ModelConnection(fakeredis.FakeRedisConnection):
    """fakeredis's connection, with the model's socket."""

    def _connect(self):
        if not self._server.connected:
            raise self._connection_error_class("Connection refused (model:// server stopped)")
        return _ModelSocket(self._server, client_class=self._client_class, db=self.db,
                            lua_modules=self._lua_modules, client_info=self._client_info)


# --- the client ------------------------------------------------------------------------------

def model_client(url: str, client_class, *, decode_responses: bool = True):
    """A client of ``client_class`` (a fakeredis client class, such as the instrumented one
    :func:`simlab.connect` uses) whose server is a new :class:`ModelServer` for ``url``.

    The client is ``owned`` (the server is this process's own: CONFIG SET and FLUSHDB are
    allowed) and has ``clock``, the server's clock (``advance`` it when ``clock=virtual``).
    """
    server = ModelServer.from_url(url)
    client = client_class(server=server, decode_responses=decode_responses,
                          connection_class=ModelConnection, version=(7, 0))
    client.owned = True
    client.backend = server.describe()
    client.__dict__["clock"] = server.clock
    return client


def server_of(client) -> ModelServer:
    """The :class:`ModelServer` behind a ``model://`` client (its model, stats, settings)."""
    server = client.connection_pool.connection_kwargs.get("server")
    if not isinstance(server, ModelServer):
        raise ValueError(f"client must be a model:// client, got one for {client!r}")
    return server
