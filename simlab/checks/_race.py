"""A race that can happen does happen: a private server whose clients take turns, round trip by
round trip, and a log of every command they sent.

A learner's ``count_view`` that reads with GET and writes with SET loses updates only when
another client acts between the two commands; over a fast local connection that is likely, not
certain, so a check that merely runs it in threads can be fooled. :class:`RaceLab` makes it
certain. Its clients are redis-py clients over a fakeredis server private to the lab (so the
check works the same when the learner's own ``r`` is a real server), and their connection class
holds every round trip (one command, or one pipeline) at a turnstile until every other client
has reached its next round trip too. So in each turn every client sends exactly one round trip,
and all of them have read before any of them writes: two clients that GET then SET always read
the same value, and one of the two updates is always lost.

The lab also records what was sent (:attr:`RaceLab.trips`: client, commands, replies), so a
check can name the race it saw (:func:`read_then_write`, :func:`describe_race`) and run an
invariant between round trips (``RaceLab.probe``), which is where a crash would strike: a job
in neither list, a counter with no expiry.

The clients are threads of one process, so a lock of the learner's own (``threading.Lock``
around GET and SET) makes them wait for each other one call at a time: the turns stop (the
turnstile gives up after ``turn_timeout``, :attr:`RaceLab.turns_broken`), no client acts
between two round trips of another's call, and the count comes out right, though two app
servers, each with its own lock, would still race. Truly separate clients would need separate
processes, which a notebook's function cannot be sent to everywhere; so a check reads the log
for a value read and written back (``read_then_write(..., values=True)`` sees a script that
only reads, DEL then INCRBY...), and :meth:`RaceLab.interrupt` acts as another app server in a
gap of the check's choosing, whatever locks the function holds.

Typical use in a check::

    with RaceLab() as lab:
        lab.run(lambda r: count_view(r, "page"), clients=8, calls=20)
        lost = read_then_write(lab.trips)
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import fakeredis

from ._common import _short

#: Commands that only read (a value read with one of these and written back later is a race).
READS = frozenset("""GET GETEX GETRANGE SUBSTR GETBIT BITCOUNT MGET HGET HMGET HGETALL HEXISTS
    HLEN EXISTS STRLEN LLEN LINDEX LRANGE
    SCARD SISMEMBER SMEMBERS ZCARD ZCOUNT ZRANGE ZRANGEBYSCORE ZREVRANGE ZSCORE TTL PTTL
    TYPE""".split())
#: Commands that change a key (the first argument is the key, except where noted in _written).
WRITES = frozenset("""SET SETEX PSETEX SETNX GETSET GETDEL INCR INCRBY INCRBYFLOAT DECR DECRBY
    HSET HSETNX HINCRBY HDEL HMSET LPUSH RPUSH LPOP RPOP LREM LSET LTRIM LMOVE BLMOVE RPOPLPUSH
    BRPOPLPUSH BRPOP BLPOP SADD SREM ZADD ZREM ZREMRANGEBYSCORE ZINCRBY DEL UNLINK EXPIRE PEXPIRE
    EXPIREAT PEXPIREAT PERSIST""".split())
#: Writes that set a value (which a client may have computed from what it read). A RENAME or
#: COPY writes its destination; see :data:`RELATIVE` for the ones that set a value only where
#: the key was deleted.
SETS = frozenset("""SET SETEX PSETEX GETSET HSET HMSET HSETNX LSET MSET SETRANGE RESTORE
    RENAME COPY""".split())
#: Commands that run a script: the keys it names follow the number of keys.
SCRIPTS = frozenset("EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO".split())
#: Writes that change what is there (INCRBY adds, APPEND appends) or write only where nothing
#: is (SETNX, SET ... NX): after a read they do not use the value read, unless the key was
#: deleted in between, which makes them set a value (DEL, then INCRBY by the value read + 1).
RELATIVE = frozenset("""INCR INCRBY DECR DECRBY INCRBYFLOAT APPEND SETBIT SETNX MSETNX RENAMENX
    HINCRBY HINCRBYFLOAT HSETNX""".split())
#: Commands that delete the key they name (a RENAME or MOVE takes its source away).
DELETES = frozenset("DEL UNLINK GETDEL RENAME RENAMENX MOVE".split())
#: Writes that write no value (to read_then_write(values=True), whatever ``writes`` says).
_NO_VALUE = frozenset("DEL UNLINK GETDEL MOVE EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST".split())
_HANDSHAKE = frozenset({"CLIENT", "CLIENT SETINFO", "CLIENT SETNAME", "HELLO", "SELECT", "AUTH",
                        "PING", "READONLY"})


@dataclass
class RoundTrip:
    """What one client sent in one round trip, and what came back."""

    client: int | None            # the lab's client number; None for the check's own commands
    commands: tuple               # one tuple of strings per command, name upper-cased
    replies: list = field(default_factory=list)
    call: int = 0                 # which call of the learner's function sent it
    seq: int = 0                  # its place in the lab's log (RaceLab.trips)

    @property
    def names(self) -> list:
        return [c[0] for c in self.commands]

    def __str__(self):
        return " | ".join(" ".join(c) for c in self.commands)


def _words(args) -> tuple:
    out = []
    for a in args:
        out.append(a.decode(errors="replace") if isinstance(a, (bytes, bytearray)) else str(a))
    if out:
        out[0] = out[0].upper()
    return tuple(out)


class _Turnstile:
    """A barrier for a changing number of parties: each turn opens when every client still
    running has arrived. If a turn does not open within ``timeout`` (a client waits for
    something else, like a lock of the learner's own), the turnstile opens for good, so the
    check finishes; :attr:`broken` tells it that the turns were not kept."""

    def __init__(self, parties: int, timeout: float):
        self.cond = threading.Condition()
        self.active, self.arrived, self.turn = parties, 0, 0
        self.timeout = timeout
        self.broken = False

    def wait(self):
        with self.cond:
            if self.broken:
                return
            turn = self.turn
            self.arrived += 1
            if self.arrived >= self.active:
                self._open()
                return
            if not self.cond.wait_for(lambda: self.turn != turn or self.broken, self.timeout):
                self.broken = True
                self.cond.notify_all()

    def leave(self):
        with self.cond:
            self.active -= 1
            if self.active > 0 and self.arrived >= self.active:
                self._open()

    def _open(self):
        self.arrived = 0
        self.turn += 1
        self.cond.notify_all()


class RaceLab:
    """A fakeredis server private to one check, with clients that take turns.

    Parameters
    ----------
    turn_timeout : float
        Seconds a client waits for the others at a turn before the lab stops keeping turns.

    Attributes
    ----------
    trips : list of RoundTrip
        Every round trip the lab's clients sent, in the order they were sent.
    admin : redis.Redis
        A client for the check's own setup and inspection; its commands are not recorded.
    probe : callable or None
        ``probe(admin, last)``, called while set before every recorded round trip and after
        each :meth:`call`, with the client's previous round trip ``last`` (None before its
        first): the state between two round trips, where a crash would leave it. It returns
        None, or a sentence saying what is wrong, which is kept in :attr:`probe_findings`.
    """

    def __init__(self, *, turn_timeout: float = 1.0):
        if not turn_timeout > 0:
            raise ValueError(f"turn_timeout must be a positive number of seconds, "
                             f"got {turn_timeout!r}")
        self.server = fakeredis.FakeServer()
        self.admin = fakeredis.FakeRedis(server=self.server, decode_responses=True)
        self.trips: list[RoundTrip] = []
        self.turn_timeout = turn_timeout
        self.turns_broken = False
        self.probe = None
        self.probe_findings: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._turnstile = None
        self._last: dict = {}
        self._calls = 0
        self._interrupt = None
        self._connection_class = _connection_class_for(self)

    # -- clients -----------------------------------------------------------------------------
    def client(self):
        """A new redis-py client (``decode_responses=True``) of the lab's server, recorded."""
        return fakeredis.FakeRedis(server=self.server, decode_responses=True,
                                   connection_class=self._connection_class)

    def call(self, fn, *args, client: int = 0, r=None):
        """Run ``fn(r, *args)`` in this thread as lab client ``client``, recorded."""
        r = self.client() if r is None else r
        previous = getattr(self._local, "client", None)
        self._local.client = client
        self._calls += 1
        self._local.call = self._calls
        try:
            result = fn(r, *args)
            self._probe(client)
            return result
        finally:
            self._local.client = previous

    def interrupt(self, fn, *args, act, after: int, client: int = 0):
        """Run ``fn(r, *args)`` alone as lab client ``client`` (as :meth:`call` does), and
        ``act(admin)`` once in the gap after its first ``after`` round trips, before the next:
        what another client could do there. The lab's clients are threads of one process, so
        a lock of the learner's own holds them back one call at a time, and then no turn
        falls between two round trips of a call; ``act`` runs in that gap whatever locks the
        function holds, as another app server would. So a value read and written back in
        separate round trips loses what ``act`` did, whatever commands read and write (a
        script that only reads, DEL then INCRBY...). Returns ``(result, gap)``: ``gap`` is the
        pair of round trips either side of ``act``, or None when ``fn`` sent no more than
        ``after`` round trips (and ``act`` did not run)."""
        if not isinstance(after, int) or isinstance(after, bool) or after <= 0:
            raise ValueError(f"after must be a positive integer, got {after!r}")
        first, me, done = len(self.trips), threading.get_ident(), []

        def gap():
            if not done and threading.get_ident() == me and len(self.trips) - first == after:
                done.append(True)
                act(self.admin)

        previous, self._interrupt = self._interrupt, gap
        try:
            result = self.call(fn, *args, client=client)
        finally:
            self._interrupt = previous
        if not done:
            return result, None
        return result, (self.trips[first + after - 1], self.trips[first + after])

    def current_client(self) -> int | None:
        """The lab client number of the calling thread (None outside :meth:`run`/:meth:`call`)."""
        return getattr(self._local, "client", None)

    def run(self, fn, clients: int, calls: int = 1, *, deadline: float = 60.0) -> list:
        """Run ``fn(r)`` ``calls`` times in each of ``clients`` threads, each thread a client of
        its own, taking turns round trip by round trip. Returns one list of results per client;
        the first exception a client raised is raised here, and :class:`TimeoutError` if they
        have not all finished after ``deadline`` seconds (a loop that never ends)."""
        for name, value in (("clients", clients), ("calls", calls)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self._turnstile = turnstile = _Turnstile(clients, self.turn_timeout)
        results: list = [None] * clients
        errors: list = [None] * clients
        start = threading.Barrier(clients)

        def client_thread(i):
            r = self.client()
            self._local.client = i + 1
            try:
                start.wait()
                results[i] = []
                for k in range(calls):
                    self._local.call = k
                    results[i].append(fn(r))
            except BaseException as exc:  # reported by run(), never lost in a thread
                errors[i] = exc
            finally:
                turnstile.leave()

        threads = [threading.Thread(target=client_thread, args=(i,), daemon=True)
                   for i in range(clients)]
        for t in threads:
            t.start()
        stop = time.monotonic() + deadline
        for t in threads:
            t.join(max(0.0, stop - time.monotonic()))
        if any(t.is_alive() for t in threads):
            with turnstile.cond:
                turnstile.broken = True
                turnstile.cond.notify_all()
            self._turnstile = None
            raise TimeoutError(f"the clients had not finished after {deadline:g} s")
        self.turns_broken = self.turns_broken or turnstile.broken
        self._turnstile = None
        for exc in errors:
            if exc is not None:
                raise exc
        return results

    def keys(self, pattern: str = "*") -> list:
        """The keys on the lab's server matching ``pattern``, sorted."""
        return sorted(self.admin.scan_iter(match=pattern))

    def close(self):
        self.admin.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- called by the connection ------------------------------------------------------------
    def _begin(self, commands) -> RoundTrip | None:
        client = getattr(self._local, "client", None)
        words = tuple(_words(c) for c in commands)
        if client is None:
            return None
        self._probe(client)
        if self._interrupt is not None:
            self._interrupt()
        if self._turnstile is not None:
            self._turnstile.wait()
        trip = RoundTrip(client, words, call=getattr(self._local, "call", 0))
        with self._lock:
            trip.seq = len(self.trips)
            self.trips.append(trip)
            self._last[client] = trip
        return trip

    def _probe(self, client):
        if self.probe is not None:
            finding = self.probe(self.admin, self._last.get(client))
            if finding:
                self.probe_findings.append(finding)


def _connection_class_for(lab: RaceLab):
    """A fakeredis connection class that reports each round trip to ``lab`` before sending."""

    class TurnTakingConnection(fakeredis.FakeRedisConnection):
        _lab = lab

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._trip, self._pending, self._handshake, self._single = None, None, False, False

        def on_connect_check_health(self, *args, **kwargs):
            self._handshake = True
            try:
                return super().on_connect_check_health(*args, **kwargs)
            finally:
                self._handshake = False

        def send_command(self, *args, **kwargs):
            if self._handshake or str(args[0]).upper() in _HANDSHAKE:
                return super().send_command(*args, **kwargs)
            if not self._sock:
                self.connect()
            self._trip = self._lab._begin([args])
            self._single = True
            try:
                return super().send_command(*args, **kwargs)
            finally:
                self._single = False

        def pack_commands(self, commands):
            commands = [tuple(c) for c in commands]
            self._pending = commands
            return super().pack_commands(commands)

        def send_packed_command(self, command, check_health=True):
            if self._pending is not None and not self._single and not self._handshake:
                pending, self._pending = self._pending, None
                if not self._sock:
                    self.connect()
                self._trip = self._lab._begin(pending)
            return super().send_packed_command(command, check_health)

        def read_response(self, *args, **kwargs):
            try:
                reply = super().read_response(*args, **kwargs)
            except Exception as exc:
                if self._trip is not None:
                    self._trip.replies.append(exc)
                raise
            if self._trip is not None and not self._handshake:
                self._trip.replies.append(reply)
            return reply

    return TurnTakingConnection


# -- reading the log -------------------------------------------------------------------------
@dataclass
class ReadThenWrite:
    """A client read ``key`` in one round trip and wrote it in a later one, unguarded."""

    client: int
    key: str
    read: RoundTrip
    value: object          # what the read returned
    write: RoundTrip
    read_name: str = "GET"  # the command that read it
    command: tuple = ()    # the write, when read_then_write(values=True) found it
    deleted: tuple = ()    # the command that deleted the key in between, if that made the write

    def write_command(self) -> tuple:
        if self.command:
            return self.command
        return next(c for c in self.write.commands if c[0] in WRITES and _key_of(c) == self.key)

    def how(self, words: int = 1) -> str:
        """The write by name ("SET"), or with its first words; "DEL ... and INCRBY ..." when a
        delete in between made it set a value."""
        command = self.write_command()
        if command[0] in ("MSET", "MSETNX") and self.key in command[1::2]:   # its pair
            at = command.index(self.key, 1)
            command = command[:1] + command[at:at + 2]
        write = " ".join(map(_cut, command[:words]))
        return (f"{' '.join(map(_cut, self.deleted[:min(words, 2)]))} and {write}"
                if self.deleted else write)


def _cut(word: str, limit: int = 40) -> str:
    """One word of a command, for a sentence: a long value cut short."""
    return word if len(word) <= limit else word[:limit - 3] + "..."


def _key_of(command: tuple):
    if command[0] in ("EVAL", "EVALSHA"):
        return None
    return command[1] if len(command) > 1 else None


def _script_keys(command: tuple) -> list:
    """The keys a script command names (EVAL script numkeys key... arg...)."""
    try:
        count = int(command[2])
    except (IndexError, ValueError):
        return []
    return list(command[3:3 + max(count, 0)])


def _read_keys(command: tuple) -> list:
    """The keys whose value ``command`` returns, when read_then_write(values=True) reads: a
    script's keys (a script that only reads is a GET by another name), every key of MGET, and
    the old value that GETSET, GETDEL and SET ... GET return."""
    name = command[0]
    if name in SCRIPTS:
        return _script_keys(command)
    if name in ("MGET", "EXISTS"):
        return list(command[1:])
    if name in READS or name in ("GETSET", "GETDEL") or (
            name == "SET" and "GET" in (w.upper() for w in command[3:])):
        return list(command[1:2])
    return []


def _written_keys(command: tuple) -> list:
    name = command[0]
    if name in ("MSET", "MSETNX"):
        return list(command[1::2])
    if name in ("RENAME", "RENAMENX", "COPY"):
        return list(command[2:3])
    return [] if name in SCRIPTS else list(command[1:2])


def _deleted_keys(command: tuple, read: dict) -> list:
    """The keys ``command`` deletes (``read``: the keys read so far, all gone on a FLUSHDB)."""
    name = command[0]
    if name in ("DEL", "UNLINK"):
        return list(command[1:])
    if name in DELETES:
        return list(command[1:2])
    if name in ("FLUSHDB", "FLUSHALL"):
        return list(read)
    try:                  # an expiry already past deletes the key
        when = float(command[2])
    except (IndexError, ValueError):
        return []
    past = {"EXPIRE": when <= 0, "PEXPIRE": when <= 0, "EXPIREAT": when <= time.time(),
            "PEXPIREAT": when <= time.time() * 1000}
    return list(command[1:2]) if past.get(name) else []


def _sets_only_where_deleted(command: tuple) -> bool:
    """A write that keeps what is there: it adds to it (INCRBY) or writes only where nothing is
    (SETNX, SET ... NX, COPY or RESTORE without REPLACE)."""
    name, rest = command[0], [w.upper() for w in command[3:]]
    return (name in RELATIVE or (name == "SET" and "NX" in rest)
            or (name in ("COPY", "RESTORE") and "REPLACE" not in rest))


def read_then_write(trips, keys=None, writes=WRITES, *, values=False) -> list:
    """Every place where one call of the learner's function read a key in one round trip and
    wrote the same key in a later round trip, with no ``WATCH`` guarding it (WATCH before the
    read and the write inside MULTI/EXEC is optimistic locking, and safe; a watched read
    written back outside MULTI/EXEC, or after UNWATCH, is not guarded). A read inside a
    MULTI/EXEC counts too: the transaction ends before the later write. Such a call acts on
    a value another client may have changed in between. ``keys`` limits the search to those
    keys, ``writes`` to those commands (say, only the ones that set a value: ``SETS``).

    ``values=True`` looks for a value read and written back, whatever the commands, as a
    counter's check must: a script naming the key reads it (its reply is the value read), as
    do MGET, GETSET, GETDEL; every key of a multi-key command counts (MSET, a RENAME's
    destination); and a write that keeps what is there (:data:`RELATIVE`: INCRBY, APPEND,
    SETNX...) is a write-back only when the key was deleted since the read, not in the read's
    own transaction: GET, then DEL and INCRBY by the value read + 1, sets the value like SET
    (while GET, then INCR, does not use what it read, and GETDEL, then INCRBY, takes the value
    away before putting it back, so no other client's update is lost)."""
    found = []
    by_call: dict = {}
    for trip in trips:
        if trip.client is not None:
            by_call.setdefault((trip.client, trip.call), []).append(trip)
    for (client, _), mine in by_call.items():
        read_at: dict = {}      # key -> (trip, value, command, guarded, transaction) of the read
        deleted: dict = {}      # key -> the command that deleted it since it was read
        watched: set = set()
        for trip in mine:
            in_multi, block = False, None
            for i, command in enumerate(trip.commands):
                name, key = command[0], _key_of(command)
                if name == "WATCH":
                    watched.update(command[1:])
                elif name in ("UNWATCH", "DISCARD", "EXEC"):
                    in_multi, block = False, None
                    watched.clear()             # what was read under WATCH is unguarded now
                    read_at = {k: (*r[:3], False, r[4]) for k, r in read_at.items()}
                elif name == "MULTI":
                    in_multi, block = True, (id(trip), i)
                if values:
                    _values_step(found, client, trip, i, command, keys, writes, read_at,
                                 deleted, watched, in_multi, block)
                    continue
                if key is None or (keys is not None and key not in keys):
                    continue
                if name in READS:
                    reply = _reply(trip, i) if in_multi else (
                        trip.replies[i] if i < len(trip.replies) else None)
                    read_at[key] = (trip, reply, name, key in watched and not in_multi, block)
                elif name in writes and key in read_at:
                    read_trip, value, read_name, guarded, _ = read_at.pop(key)
                    if read_trip is not trip and not (guarded and in_multi):
                        found.append(ReadThenWrite(client, key, read_trip, value, trip,
                                                   read_name))
    return found


def _values_step(found, client, trip, i, command, keys, writes, read_at, deleted, watched,
                 in_multi, block):
    """One command of read_then_write(values=True): its deletes and writes act on what was
    read before it, then what it reads is the value read."""
    name = command[0]

    def wanted(k):
        return k is not None and (keys is None or k in keys)

    for k in _deleted_keys(command, read_at):
        if wanted(k) and k in read_at and k not in deleted:
            read_trip, *_, read_block = read_at[k]
            if not (read_trip is trip and in_multi and read_block == block):
                deleted[k] = command        # deleted, but not in one step with the read
    if (name in writes or name in RELATIVE) and name not in _NO_VALUE:
        keeps = _sets_only_where_deleted(command)
        for k in _written_keys(command):
            if not wanted(k) or k not in read_at or (keeps and k not in deleted):
                continue
            read_trip, value, read_name, guarded, _ = read_at.pop(k)
            gone = deleted.pop(k, ())
            if read_trip is not trip and not (guarded and in_multi):
                found.append(ReadThenWrite(client, k, read_trip, value, trip, read_name,
                                           command, gone if keeps else ()))
    read = _read_keys(command)
    if any(wanted(k) for k in read):
        reply = _reply(trip, i) if in_multi else (
            trip.replies[i] if i < len(trip.replies) else None)
        for j, k in enumerate(read):
            if not wanted(k):
                continue
            value = reply[j] if name == "MGET" and isinstance(reply, list) and \
                j < len(reply) else reply
            read_at[k] = (trip, value, name, k in watched and not in_multi, block)
            deleted.pop(k, None)


def _reply(trip, i):
    """The reply to command ``i`` of ``trip``, queued in a MULTI: its place in EXEC's reply."""
    names = trip.names
    start = max((j for j in range(i) if names[j] == "MULTI"), default=None)
    end = next((j for j in range(i, len(names)) if names[j] == "EXEC"), None)
    if start is None or end is None or end >= len(trip.replies):
        return None
    results = trip.replies[end]
    k = i - start - 1
    return results[k] if isinstance(results, list) and k < len(results) else None


def _shown(value) -> str:
    """A value read, for a sentence: a count as digits (a long one by its size), anything
    else by its repr, cut short."""
    text = value if isinstance(value, str) else repr(value) if isinstance(value, int) and \
        value.bit_length() < 200 else None
    if text is not None and text.lstrip("-").isdigit():
        digits = len(text.lstrip("-"))
        return text if digits <= 30 else f"a number of {digits:,} digits"
    return _short(value)


#: What describe_race adds to one client's gap, by default: a lock in Python is the usual
#: answer to a race, and holds back no other app server.
PYTHON_LOCK = "(a lock in Python guards only this process, not other app servers)"


def describe_race(found, who: str = "client", *, aside: str = PYTHON_LOCK) -> str:
    """One sentence naming the first race in ``found`` (from :func:`read_then_write`), the
    earliest in the log: two clients that read the same value and both wrote, when there are
    such, else one client's gap, followed by ``aside`` ("" for none). ``who`` names the
    clients ("client", "worker")."""
    if not found:
        return ""
    groups: dict = {}
    for f in found:
        groups.setdefault((f.key, repr(f.value)), []).append(f)

    def first(group):  # a value that was there (7) reads better than a missing one (None)
        return (group[0].value is None, min(f.read.seq for f in group))

    for group in sorted(groups.values(), key=first):
        clients = sorted({f.client for f in group},
                         key=lambda c: min(f.read.seq for f in group if f.client == c))
        if len(clients) >= 2:
            a = min((f for f in group if f.client == clients[0]), key=lambda f: f.read.seq)
            b = min((f for f in group if f.client == clients[1]), key=lambda f: f.read.seq)
            wa, wb, key = a.how(3), b.how(3), a.key
            return (f"{who}s {a.client} and {b.client} both read {_shown(a.value)} from {key} "
                    f"({a.read_name}), then {who} {a.client} sent {wa} and {who} "
                    f"{b.client} sent {wb}, each unaware of the other")
    f = min(found, key=lambda f: (f.value is None, f.read.seq))
    where = f"the {f.write_command()[0]} in" if f.deleted else "in"
    return (f"{who} {f.client} read {_shown(f.value)} from {f.key} with {f.read_name}, then "
            f"wrote {f.key} with {f.how()}{',' if f.deleted else ''} {where} a separate round "
            f"trip: another {who} can act in between" + (f" {aside}" if aside else ""))
