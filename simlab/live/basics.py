"""Live demonstrations for notebook 01: counters under concurrency, pub/sub, SCAN."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from .. import _validate as v
from .client import key as course_key


def run_clients(fn, clients: int) -> list:
    """Run ``fn()`` in ``clients`` threads at once, like that many clients of one server;
    return their results. The first exception any of them raised is raised here."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(fn) for _ in range(clients)]
        return [f.result() for f in futures]


def counter_race(r, *, method: str = "get_set", workers: int = 4, per_worker: int = 200,
                 gap: float = 0.0) -> dict:
    """Several threads add 1 to one counter ``per_worker`` times each.

    ``method="get_set"`` reads the value, adds one in Python and writes it back: two commands,
    with a gap between them in which another client can act (``gap`` seconds of sleep; even 0
    hands the thread over, as the network round trip does). ``method="incr"`` uses INCR, one
    atomic command. Returns the expected and actual totals and the lost updates.

    The counter is a key of this learner's own (:func:`simlab.key`, with a fresh suffix per
    race), so learners sharing a server cannot touch it; a counter that vanishes anyway (a
    cleanup elsewhere) counts as 0 rather than crashing the race.
    """
    v.choice("method", method, ("get_set", "incr"))
    workers = v.positive_int("workers", workers)
    per_worker = v.positive_int("per_worker", per_worker)
    name = course_key("counter", method, uuid.uuid4().hex[:8])
    r.set(name, 0)

    def work():
        for _ in range(per_worker):
            if method == "incr":
                r.incr(name)
            else:
                current = int(r.get(name) or 0)
                time.sleep(gap)
                r.set(name, current + 1)

    tic = time.perf_counter()
    run_clients(work, workers)
    elapsed = time.perf_counter() - tic
    actual = int(r.get(name) or 0)
    r.delete(name)
    expected = workers * per_worker
    return {"method": method, "expected": expected, "actual": actual,
            "lost_updates": expected - actual, "elapsed_s": elapsed}


def pubsub_demo(r, channel: str | None = None,
                messages=("cache warmed", "price changed")) -> list:
    """Subscribe, publish ``messages``, and return what the subscriber received.

    The default channel is this learner's own (``simlab.key("news")``), so learners sharing a
    server do not receive each other's messages."""
    channel = course_key("news") if channel is None else channel
    sub = r.pubsub()
    sub.subscribe(channel)
    sub.get_message(timeout=1.0)  # the subscription confirmation
    for text in messages:
        r.publish(channel, text)
    received = []
    deadline = time.monotonic() + 2.0
    while len(received) < len(messages) and time.monotonic() < deadline:
        msg = sub.get_message(timeout=0.2)
        if msg and msg["type"] == "message":
            received.append(msg["data"])
    sub.unsubscribe(channel)
    sub.close()
    return received
