"""Cache-aside for real: the seed article's ``get_user`` against a real whiteboard and filing room.

Every request is recorded in the same table shape as :func:`simlab.simulate`, so a notebook
can plot the live run over the simulation without glue code.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from ..results import OUTCOMES
from ..workloads import GET, OP_NAMES, Workload
from .client import key as course_key


class CacheAside:
    """Read through the whiteboard, fill it on a miss, delete on write.

    Parameters
    ----------
    client : redis client
        From :func:`simlab.connect` (fakeredis or real).
    room : FilingRoom
        From :func:`simlab.filing_room`.
    ttl : float, optional
        Seconds a cached user stays on the whiteboard (``None``: until evicted or deleted).
    verbose : bool
        Print each step (GET, SELECT, SET) with its time: the traced walk-through of notebook 03.
    """

    def __init__(self, client, room, *, ttl: float | None = 300, verbose: bool = False):
        if ttl is not None and not (isinstance(ttl, (int, float)) and ttl > 0):
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
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
            self._record(start, user_id, "get", "hit", got - start, 0.0, got - start)
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
        self._record(start, user_id, "get", "miss", (got - start) + (done - read), read - got,
                     done - start)
        self._say(f"MISS: answered from the filing room in {(done - start) * 1e3:.3f} ms")
        return user

    def update_user(self, user_id: int, **fields) -> None:
        """Write to the filing room, then delete the whiteboard's copy."""
        start = time.perf_counter()
        self.room.update_user(user_id, **fields)
        written = time.perf_counter()
        self.r.delete(course_key("user", user_id))
        done = time.perf_counter()
        self._record(start, user_id, "set", "write", done - written, written - start,
                     done - start)

    def _record(self, start, user_id, op, outcome, wb, db, total):
        self._rows.append((start - self._t0, str(user_id), op, outcome, wb, db, total))

    def table(self) -> pd.DataFrame:
        """Every request so far, in the simulation's table shape."""
        rows = self._rows
        df = pd.DataFrame(rows, columns=["time", "key", "op", "outcome", "whiteboard_latency",
                                         "filing_room_latency", "latency"])
        df["key"] = df["key"].astype("category")
        df["op"] = pd.Categorical(df["op"], categories=OP_NAMES)
        df["outcome"] = pd.Categorical(df["outcome"], categories=OUTCOMES)
        df["inflight"] = False
        df["expired"] = False
        df.attrs.update({"source": "live", "whiteboard": self.r.backend,
                         "filing_room": self.room.backend, "ttl": self.ttl})
        return df

    def run(self, workload: Workload, *, progress: bool = False) -> pd.DataFrame:
        """Replay ``workload`` for real, one request after another; return the table.

        Key id ``k`` is user ``k % n_users + 1``. Arrival times are ignored: live requests
        are served back to back (the sequential model of the simulation).
        """
        if not isinstance(workload, Workload):
            raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
        self._rows = []
        self._t0 = time.perf_counter()
        users = (workload.keys % self.room.n_users + 1).tolist()
        ops = workload.ops.tolist()
        iterator = range(len(users))
        if progress:
            from tqdm.auto import tqdm
            iterator = tqdm(iterator, desc="live requests", unit="req")
        verbose, self.verbose = self.verbose, False
        try:
            for i in iterator:
                if ops[i] == GET:
                    self.get_user(users[i])
                else:
                    self.update_user(users[i], plan="pro")
        finally:
            self.verbose = verbose
        df = self.table()
        df.attrs["workload"] = dict(workload.params)
        df.attrs["seed"] = workload.params.get("seed")
        return df


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
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
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
