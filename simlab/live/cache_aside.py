"""Cache-aside for real: the seed article's ``get_user`` against a real whiteboard and filing room.

:meth:`CacheAside.run` replays a workload and returns the table of :mod:`simlab.results`,
built by the same code as :func:`simlab.simulate`'s: the same key labels, columns, dtypes and
``attrs``, so a notebook can plot the live run over the simulation without glue code, and the
outcomes agree request by request when the simulation serves one request at a time (see
:meth:`CacheAside.run`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pandas as pd
import redis

from .. import _validate as v
from ..results import Flag, Outcome, build_table, is_synthetic, key_name
from ..workloads import GET, Workload
from .client import key as course_key
from .client import namespace

FIELD_WRITTEN = {"plan": "pro"}
"""What a write request changes in the user's row (on the filing room's private copy)."""

EXISTS_BATCH = 1000


def value_of(user: dict | None, size: int) -> str:
    """The value a live run stores for a request of ``size`` bytes: the user's JSON, cut or
    padded with spaces to exactly ``size`` bytes (the size the models charge)."""
    text = "" if user is None else json.dumps(user)
    return text[:size] if len(text) >= size else text + " " * (size - len(text))


class CacheAside:
    """Read through the whiteboard, fill it on a miss, delete on write.

    Parameters
    ----------
    client : redis client
        From :func:`simlab.connect` (fakeredis, ``model://`` or a real server).
    room : FilingRoom
        From :func:`simlab.filing_room`.
    ttl : float, optional
        Seconds a user cached by :meth:`get_user` stays on the whiteboard (``None``: until
        evicted or deleted). :meth:`run` uses the workload's own TTLs instead.
    verbose : bool
        Print each step (GET, SELECT, SET) with its time: the traced walk-through of notebook 03.
    """

    def __init__(self, client, room, *, ttl: float | None = 300, verbose: bool = False):
        if ttl is not None:
            ttl = v.seconds("ttl", ttl)
        self.r = client
        self.room = room
        self.ttl = ttl
        self.verbose = verbose
        self._rows: list = []
        self._t0 = time.perf_counter()

    def _say(self, text):
        if self.verbose:
            print(text)

    def get_user(self, user_id: int) -> dict | None:
        """The user, from the whiteboard if it is there, else from the filing room."""
        name = course_key("user", user_id)
        start = time.perf_counter()
        cached = self.r.get(name)
        got = time.perf_counter()
        self._say(f"GET {name} -> {'(nil)' if cached is None else 'found'} "
                  f"[{(got - start) * 1e3:.3f} ms]")
        if cached is not None:
            self._record(start, user_id, GET, Outcome.HIT, got - start, 0.0, got - start)
            self._say(f"HIT: served from the whiteboard in {(got - start) * 1e3:.3f} ms")
            return json.loads(cached)
        user = self.room.get_user(user_id)
        read = time.perf_counter()
        self._say(f"SELECT ... WHERE id = {user_id} on {self.room.kind} "
                  f"[{(read - got) * 1e3:.3f} ms]")
        if user is not None:
            value = json.dumps(user)
            if self.ttl is None:
                self.r.set(name, value)
            else:
                self.r.set(name, value, px=int(round(self.ttl * 1000)))
        done = time.perf_counter()
        if user is not None:
            self._say(f"SET {name} (ttl {self.ttl} s) [{(done - read) * 1e3:.3f} ms]")
        self._record(start, user_id, GET, Outcome.MISS, (got - start) + (done - read),
                     read - got, done - start)
        self._say(f"MISS: answered from the filing room in {(done - start) * 1e3:.3f} ms")
        return user

    def update_user(self, user_id: int, **fields) -> None:
        """Write to the filing room, then delete the whiteboard's copy."""
        start = time.perf_counter()
        self.room.update_user(user_id, **fields)
        written = time.perf_counter()
        self.r.delete(course_key("user", user_id))
        done = time.perf_counter()
        self._record(start, user_id, 1, Outcome.WRITE, done - written, written - start,
                     done - start)

    def _record(self, start, user_id, op, outcome, wb, db, total):
        self._rows.append((start - self._t0, str(user_id), op, int(outcome), wb, db, total))

    def table(self) -> pd.DataFrame:
        """Every :meth:`get_user` and :meth:`update_user` call so far, in the table of
        :func:`simlab.simulate` (built by the same code; ``key`` is the user id)."""
        from ..workloads import from_keys

        if not self._rows:
            raise ValueError("no request yet: call get_user or update_user first (or run a "
                             "workload with run)")
        start, labels, ops, outcome, wb, db, total = (list(c) for c in zip(*self._rows))
        w = from_keys(labels, name="live calls")
        w = dataclasses.replace(w, ops=np.asarray(ops, dtype=np.int8))
        n = len(labels)
        params = self._live_params(w, clock="back-to-back")
        # calls made by hand: nothing counted but what the rows show
        counters = (None, None, 0, None, None)
        return build_table(w, np.asarray(start, dtype=float), np.asarray(outcome, np.int8),
                           np.asarray(wb, float), np.asarray(db, float),
                           np.asarray(total, float), np.zeros(n, np.int8), counters,
                           params, float(np.sum(total)))

    # --- a whole workload ------------------------------------------------------------------

    def run(self, workload: Workload, *, pace: bool = True,
            progress: bool = False) -> pd.DataFrame:
        """Replay ``workload`` for real, one request at a time; return the table.

        Each request does what the simulation does, on the real whiteboard and filing room:

        * a read GETs the key; on a miss it SELECTs user ``k % n_users + 1`` (key id ``k``)
          and SETs the value (that user's JSON cut or padded to the request's size, see
          :func:`value_of`) with the request's TTL (``PX``, rounded to whole milliseconds;
          none where the workload's TTL is NaN);
        * a write (``set`` or ``del``) UPDATEs that user in the filing room, then DELetes the
          key.

        Keys are stored under :func:`simlab.results.key_name` (``key:%08d`` or
        ``key:<label>``) in the learner's namespace; the ``key`` column is the workload's
        label, as in the simulation.

        Arrival times (``attrs["clock"]``):

        * ``virtual``: on fakeredis (and ``model://?clock=virtual``) the server's clock is
          jumped to each request's arrival time and stands still while the request runs:
          TTLs expire exactly as in virtual time, and ``time`` is the arrival time.
        * ``paced``: on a real server (``pace=True``) each request is sent at its arrival
          time on the wall clock (it waits; a request that falls behind goes at once, its
          ``time`` shows when it really started).
        * ``back-to-back``: a sequential workload (no times), or ``pace=False`` on a real
          server: requests follow one another as fast as they can. A timed workload then runs
          compressed: TTLs span more requests than they would, so fewer keys expire (more
          hits, fewer ``expired`` misses) than the simulation of the same workload says.

        The simulation this run matches request by request is :func:`simlab.simulate` with
        ``atomic=True`` (one request at a time, a miss filled at its own start) and a
        whiteboard that does not evict (fakeredis never does): the ``outcome``, ``key``,
        ``op``, ``inflight`` and ``expired`` columns are equal; ``time`` too on the virtual
        clock; the latencies are measured here (see :data:`simlab.results.TIMING_COLUMNS`).

        Parameters
        ----------
        workload : Workload
        pace : bool
            On a real server, send each request at its arrival time (default) or back to
            back. Ignored where the clock can jump (fakeredis, ``model://`` virtual).
        progress : bool
            Show a progress bar (tqdm).
        """
        from ..clock import FakeRedisClock, is_fake

        if not isinstance(workload, Workload):
            raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
        if not isinstance(pace, bool):
            raise TypeError(f"pace must be True or False, got {pace!r}")
        r = self.r
        own_clock = getattr(r, "clock", None)      # model:// carries its server's clock
        if workload.times is None:
            mode, clock = "back-to-back", None
        elif own_clock is not None:
            controllable = getattr(own_clock, "controllable", False)
            mode = "virtual" if controllable else "paced" if pace else "back-to-back"
            clock = own_clock if controllable else None
        elif is_fake(r):
            sec, usec = r.time()      # fakeredis's time now (a clock the learner installed)
            mode, clock = "virtual", FakeRedisClock(start=sec + usec / 1e6, frozen=True)
        else:
            mode, clock = ("paced" if pace else "back-to-back"), None
        installed = isinstance(clock, FakeRedisClock)
        evicted_before = self._evicted_keys()
        if installed:
            clock.install()
        try:
            columns, counters, names, deadlines, now, elapsed = self._replay(
                workload, mode, clock, progress)
            keys_at_end = self._keys_at_end(names, deadlines, now)
        finally:
            if installed:
                clock.uninstall()
        expired, fills, oom_errors = counters
        params = self._live_params(workload, clock=mode)
        params["oom_errors"] = oom_errors
        return build_table(workload, *columns,
                           (self._evictions_since(evicted_before), expired, 0, fills,
                            keys_at_end), params, elapsed)

    def _replay(self, workload, mode, clock, progress):
        r, room = self.r, self.room
        n = len(workload)
        start = np.empty(n)
        outcome = np.empty(n, dtype=np.int8)
        wb, db, total = np.empty(n), np.empty(n), np.empty(n)
        flags = np.zeros(n, dtype=np.int8)
        keys = workload.keys.tolist()
        ops = workload.ops.tolist()
        sizes = workload.sizes.tolist()
        ttl_ms = [None if math.isnan(t) else max(1, int(round(t * 1000)))
                  for t in workload.ttls.tolist()]
        times = None if workload.times is None else workload.times.tolist()
        synthetic = is_synthetic(workload)
        labels = workload.key_names
        prefix = namespace()
        names: dict = {}                     # key id -> name on the whiteboard
        deadlines: dict = {}                 # name -> when the TTL this run set runs out
        n_users = room.n_users
        expired = fills = ooms = 0
        iterator = range(n)
        if progress:
            from tqdm.auto import tqdm
            iterator = tqdm(iterator, desc="live requests", unit="req")
        perf = time.perf_counter
        t0 = perf()
        base = clock.now() if mode == "virtual" else time.time()
        for i in iterator:
            k = keys[i]
            name = names.get(k)
            if name is None:
                name = names[k] = prefix + key_name(k if synthetic else str(labels[k]))
            user_id = k % n_users + 1
            if mode == "virtual":
                lag = base + times[i] - clock.now()
                if lag > 0:
                    clock.advance(lag)
                now, start[i] = base + times[i], times[i]
            else:
                if mode == "paced":
                    wait = t0 + times[i] - perf()
                    if wait > 0:
                        time.sleep(wait)
                start[i] = perf() - t0
                now = time.time()
            tic = perf()
            if ops[i] == GET:
                cached = r.get(name)
                got = perf()
                if cached is not None:
                    outcome[i], wb[i], db[i], total[i] = Outcome.HIT, got - tic, 0.0, got - tic
                    continue
                deadline = deadlines.pop(name, None)
                if deadline is not None and now > deadline:
                    flags[i] = Flag.EXPIRED
                    expired += 1
                user = room.get_user(user_id)
                read = perf()
                try:
                    r.set(name, value_of(user, sizes[i]), px=ttl_ms[i])
                except redis.exceptions.OutOfMemoryError:
                    ooms += 1
                else:
                    fills += 1
                    if ttl_ms[i] is not None:
                        deadlines[name] = now + ttl_ms[i] / 1000
                done = perf()
                outcome[i], wb[i], db[i] = Outcome.MISS, (got - tic) + (done - read), read - got
                total[i] = done - tic
            else:
                room.update_user(user_id, **FIELD_WRITTEN)
                written = perf()
                r.delete(name)
                deadlines.pop(name, None)
                done = perf()
                outcome[i], wb[i], db[i] = Outcome.WRITE, done - written, written - tic
                total[i] = done - tic
        elapsed = perf() - t0
        counters = (expired, fills, ooms)
        now = (base + times[-1]) if mode == "virtual" else time.time()
        return ((start, outcome, wb, db, total, flags), counters, list(names.values()),
                deadlines, now, elapsed)

    def _keys_at_end(self, names, deadlines, now) -> int:
        """``keys_at_end`` as the models count it: the run's keys the server holds (EXISTS,
        pipelined), plus those whose TTL ran out with no request touching them again (the
        models' expiry is lazy: such a key is still on their whiteboard)."""
        count = 0
        for lo in range(0, len(names), EXISTS_BATCH):
            batch = names[lo:lo + EXISTS_BATCH]
            pipe = self.r.pipeline(transaction=False)
            for name in batch:
                pipe.exists(name)
            for name, held in zip(batch, pipe.execute()):
                if held or (name in deadlines and deadlines[name] < now):
                    count += 1
        return count

    def _evicted_keys(self):
        """The server's ``evicted_keys`` (INFO stats); 0 for fakeredis, which never evicts
        and has no INFO; None when the server does not say."""
        from ..clock import is_fake

        try:
            return int(self.r.info("stats")["evicted_keys"])
        except (redis.exceptions.ResponseError, KeyError, ValueError, TypeError):
            return 0 if is_fake(self.r) else None

    def _evictions_since(self, before):
        if before is None:
            return None
        after = self._evicted_keys()
        return None if after is None else after - before

    def _server_settings(self) -> dict:
        """The server's eviction settings (CONFIG GET), None for each it does not say."""
        out = dict.fromkeys(("policy", "maxmemory", "samples", "lfu_log_factor",
                             "lfu_decay_time"))
        try:
            got = self.r.config_get("maxmemory*")
            got.update(self.r.config_get("lfu-*"))
        except (redis.exceptions.ResponseError, redis.exceptions.NoPermissionError):
            return out
        for attr, name, cast in (("policy", "maxmemory-policy", str),
                                 ("maxmemory", "maxmemory", int),
                                 ("samples", "maxmemory-samples", int),
                                 ("lfu_log_factor", "lfu-log-factor", float),
                                 ("lfu_decay_time", "lfu-decay-time", float)):
            if name in got:
                try:
                    out[attr] = cast(got[name])
                except ValueError:
                    pass
        return out

    def _live_params(self, workload, *, clock) -> dict:
        """The ``attrs`` of a live table (see :data:`simlab.results.ATTRS`)."""
        return {"source": "live", "model": "server", "engine": "live",
                "whiteboard_backend": self.r.backend, "filing_room_backend": self.room.backend,
                "whiteboard": "measured", "filing_room": "measured",
                **self._server_settings(), "cache_size": None, "ttl_mode": "fixed",
                "atomic": True, "sequential": workload.times is None, "clock": clock,
                "seed": None, "workload": dict(workload.params),
                "oom_errors": 0, "bytes_at_end": None}


def get_user(r, room, user_id: int, ttl: float = 300) -> dict | None:
    """Cache-aside: check the whiteboard first; on a miss read the filing room and keep the
    answer on the whiteboard for ``ttl`` seconds."""
    name = course_key("user", user_id)
    cached = r.get(name)
    if cached is not None:
        return json.loads(cached)
    user = room.get_user(user_id)
    if user is not None:
        r.set(name, json.dumps(user), ex=int(ttl))
    return user


def time_whiteboard_gets(r, n: int = 2000, *, value_size: int = 100, seed: int = 0) -> np.ndarray:
    """Seconds taken by ``n`` GETs of existing keys on the whiteboard (for notebook 02)."""
    n = v.positive_int("n", n)
    rng = np.random.default_rng(seed)
    names = [course_key("bench", i) for i in range(100)]
    value = "x" * value_size
    for name in names:
        r.set(name, value, ex=600)
    picks = rng.integers(len(names), size=n)
    out = np.empty(n)
    for i, p in enumerate(picks):
        tic = time.perf_counter()
        r.get(names[p])
        out[i] = time.perf_counter() - tic
    r.delete(*names)
    return out
