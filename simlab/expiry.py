"""How Redis removes expired keys: lazily, and with an active cycle. Model and real server.

A key past its deadline is removed when a command touches it (lazy expiry). Keys nobody
touches are found by the active cycle (``expire.c`` ``activeExpireCycle``, Redis 7): on every
cron tick (``hz`` times a second) it walks the expires table with a cursor, 20 keys per loop,
deleting the expired ones, and loops again while more than 10% of the keys it looked at had
expired, within a budget of 25% of a tick (25 ms at ``hz`` 10). Between ticks, "fast" cycles
of at most 1 ms run when the server wakes up, if the last slow cycle ran out of time or the
estimated share of stale keys is high.

So expired keys linger: while less than about 10-40% of the sampled keys have expired, a loop
usually finds too few to go on, and the backlog grows until it does. ``DBSIZE`` counts them
until they are removed; fakeredis never counts them (it expires lazily and hides them).

The model needs the CPU cost of looking at a key and of deleting one, which the source does not
fix; the defaults are calibrated once against a private server (see ``KEY_COST`` and
``EXPIRE_COST``). :func:`expiry_experiment` is written once against a redis-py client and runs
on ``model://`` (whose server runs the slow cycle with these costs), on a private real server,
or both; :class:`ActiveExpiry` is the cycle alone, fast cycles included, without a server.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import _validate as v
from ._random import generator
from .redis_cache import HashTable

KEYS_PER_LOOP = 20
ACCEPTABLE_STALE = 10          # percent
SLOW_TIME_PERC = 25
FAST_DURATION = 1e-3           # seconds
# Calibrated on redis-server 7.0.15 here (100,000 keys expiring over 1 s beside 200,000
# persistent ones; see tests/test_expiry.py): CPU seconds to look at one key and to delete one.
KEY_COST = 0.2e-6
EXPIRE_COST = 1.2e-6


class ActiveExpiry:
    """The expires table of one database, and the active expire cycle over it, fast cycles
    included, without a server.

    ``seed``: an int seeds the run's ``"expiry"`` stream (:func:`simlab._random.generator`),
    a ``numpy.random.Generator`` is drawn from as it is, None draws fresh entropy; the draws
    are the keys' hashes, which place them in the table's buckets.
    """

    def __init__(self, *, hz: int = 10, effort: int = 1, key_cost: float = KEY_COST,
                 expire_cost: float = EXPIRE_COST, seed=0):
        self.hz = v.positive_int("hz", hz)
        effort = v.positive_int("effort", effort)
        if effort > 10:
            raise ValueError(f"effort must be between 1 and 10, got {effort}")
        e = effort - 1
        self.keys_per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP // 4 * e
        self.fast_duration = FAST_DURATION + FAST_DURATION / 4 * e
        self.slow_budget = (SLOW_TIME_PERC + 2 * e) / 100 / self.hz
        self.acceptable_stale = ACCEPTABLE_STALE - e
        self.key_cost = v.positive_real("key_cost", key_cost)
        self.expire_cost = v.positive_real("expire_cost", expire_cost)
        self._rng = generator(seed, "expiry")   # the dict's hash seed, as siphash's key
        self._hashes = np.empty(0, dtype=np.uint64)
        self._table = HashTable()
        self._deadline: dict = {}
        self._cursor = 0
        self.stale_perc = 0.0          # server.stat_expired_stale_perc
        self._timelimit_exit = False
        self._last_fast = -np.inf
        self.expired = 0

    def _hash(self) -> int:
        """A key's 64-bit hash (drawn, 4,096 at a time)."""
        if not len(self._hashes):
            self._hashes = self._rng.integers(0, 1 << 64, size=4096, dtype=np.uint64)
        h, self._hashes = int(self._hashes[-1]), self._hashes[:-1]
        return h

    def add(self, key, deadline: float) -> None:
        self._deadline[key] = deadline
        self._table.add(key, self._hash())

    def __len__(self):
        return len(self._deadline)

    def cycle(self, now: float, fast: bool) -> None:
        """One active expire cycle at time ``now`` (``fast``: from the event loop)."""
        if fast:
            if not self._timelimit_exit and self.stale_perc < self.acceptable_stale / 100:
                return
            if now < self._last_fast + 2 * self.fast_duration:
                return
            self._last_fast = now
        budget = self.fast_duration if fast else self.slow_budget
        spent = 0.0
        iteration = 0
        total_sampled = total_expired = 0
        self._timelimit_exit = False
        table = self._table
        while True:
            iteration += 1
            n = len(self._deadline)
            if n == 0:
                break
            if table.size > 4 and n * 100 / table.size < 1:
                break
            num = min(n, self.keys_per_loop)
            sampled = expired = checked = 0
            mask = table.size - 1
            while sampled < num and checked < num * 20:
                chain = table.buckets[self._cursor & mask]
                for key, h in list(chain):
                    sampled += 1
                    if now > self._deadline[key]:
                        del self._deadline[key]
                        table.remove(key, h)
                        expired += 1
                self._cursor = (self._cursor + 1) & mask
                checked += 1
            spent += sampled * self.key_cost + expired * self.expire_cost
            total_sampled += sampled
            total_expired += expired
            if iteration % 16 == 0 and spent > budget:
                self._timelimit_exit = True
                break
            if not (sampled == 0 or expired * 100 // sampled > self.acceptable_stale):
                break
        self.expired += total_expired
        current = total_expired / total_sampled if total_sampled else 0.0
        self.stale_perc = current * 0.05 + self.stale_perc * 0.95

    def run(self, start: float, end: float, *, wakeups_per_second: float = 50.0,
            sample_every: float = 0.02) -> pd.DataFrame:
        """Run cron ticks and event-loop wake-ups from ``start`` to ``end``; return how many
        keys remain every ``sample_every`` seconds."""
        tick = 1.0 / self.hz
        events = [(t, False) for t in np.arange(start, end, tick)]
        if wakeups_per_second > 0:
            events += [(t, True) for t in np.arange(start, end, 1.0 / wakeups_per_second)]
        events.sort()
        rows = []
        next_sample = start
        for t, fast in events:
            while next_sample <= t:
                rows.append((next_sample, len(self._deadline)))
                next_sample += sample_every
            self.cycle(t, fast)
            if not fast:   # serverCron: a sparse table shrinks
                self._table.shrink_if_sparse()
        return pd.DataFrame(rows, columns=["time", "ttl_keys_present"])


def _with_backlog(frame: pd.DataFrame, deadlines: np.ndarray, t0: float) -> pd.DataFrame:
    deadlines = np.sort(deadlines)
    due = np.searchsorted(deadlines, frame["time"].to_numpy() + t0, side="left")
    frame = frame.copy()
    frame["expired_present"] = frame["ttl_keys_present"] - (len(deadlines) - due)
    frame["expired_share"] = frame["expired_present"] / frame["ttl_keys_present"].where(
        frame["ttl_keys_present"] > 0)
    return frame


def _expiry(r, clock, *, offsets, order, persistent_keys, spread, previous=None):
    """The experiment's body, the same on ``model://`` (virtual clock) and a real server."""
    value = b"x" * 10

    def fill(names, **kwargs):
        pipe = r.pipeline(transaction=False)
        for j, name in enumerate(names):
            pipe.set(name, value, **({k: f(j) for k, f in kwargs.items()}))
            if j % 5000 == 4999:
                pipe.execute()
        pipe.execute()

    timed = max(persistent_keys, 2000)     # at least 2,000 writes to time them
    tic = clock.now()
    fill([f"p:{i:08d}" for i in range(timed)])
    per_key = (clock.now() - tic) / timed
    if persistent_keys < timed:
        r.delete(*[f"p:{i:08d}" for i in range(persistent_keys, timed)])
    # the TTL keys must all be written before the first deadline: allow three times the write
    # time just measured (a busy machine writes slower), plus 0.5 s (on the virtual clock
    # writing takes no time: 0.5 s)
    t0 = clock.now() + 0.5 + 3 * per_key * len(order)
    fill([f"t:{i:08d}" for i in order],
         pxat=lambda j: int((t0 + offsets[order[j]]) * 1000))
    if clock.now() > t0 - 0.2:
        raise RuntimeError("writing the keys took longer than planned; the first deadlines "
                           "passed before measuring began")
    clock.sleep(max(0.0, t0 - 0.2 - clock.now()))
    rows = []
    while clock.now() < t0 + spread + 1.0:
        now = clock.now()
        rows.append((round(now - t0, 6), r.dbsize() - persistent_keys))
        clock.sleep(0.02)
    return pd.DataFrame(rows, columns=["time", "ttl_keys_present"])


def expiry_experiment(*, ttl_keys: int = 100_000, persistent_keys: int = 200_000,
                      spread: float = 1.0, source: str = "model", seed: int = 0) -> pd.DataFrame:
    """``ttl_keys`` keys whose deadlines fall evenly over ``spread`` seconds, beside
    ``persistent_keys`` keys without a TTL; nobody reads them. Every 20 ms: how many TTL keys
    are still in memory (``DBSIZE``), and how many of those have already expired.

    ``source``: ``"model"`` (``model://`` on a virtual clock), ``"real"`` (a private
    redis-server, in real time: a few seconds) or ``"both"``. Time 0 is the first deadline.

    Returns
    -------
    DataFrame
        One row per source and poll: ``source``, ``time``, ``ttl_keys_present``,
        ``expired_present``, ``expired_share``.
    """
    from .eviction import run_on

    ttl_keys = v.positive_int("ttl_keys", ttl_keys)
    persistent_keys = v.nonnegative_int("persistent_keys", persistent_keys)
    spread = v.positive_real("spread", spread)
    offsets = np.arange(ttl_keys) * spread / ttl_keys
    order = generator(seed, "keys").permutation(ttl_keys)
    table = run_on(source, _expiry, seed=seed, offsets=offsets, order=order,
                   persistent_keys=persistent_keys, spread=spread)
    return _with_backlog(table, offsets, 0.0)
