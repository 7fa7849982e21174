"""Checks for lesson 07 (queues)."""
from __future__ import annotations

import numpy as np

from ._common import Verdict, _verdict, _missing


def check_pool_size(workers, arrival_rate: float, service_mean: float,
                    target_p95: float = 1.0, seed: int = 7) -> Verdict:
    """07: the smallest number of workers whose 95th-percentile wait is under ``target_p95``
    (checked by simulating 50,000 jobs with ``seed``)."""
    from ..queueing import queue_summary, simulate_queue
    missing = _missing(workers, "workers")
    if missing is not None:
        return missing
    if not isinstance(workers, (int, np.integer)) or workers <= 0:
        return _verdict(False, "", f"workers should be a positive whole number; got {workers!r}.")

    def p95(c):
        if arrival_rate * service_mean >= c:
            return float("inf")
        return queue_summary(simulate_queue(arrival_rate=arrival_rate, service_mean=service_mean,
                                            workers=int(c), jobs=50_000, seed=seed))["p95_wait_s"]

    mine = p95(workers)
    if mine >= target_p95:
        return _verdict(False, "", f"with {workers} workers the p95 wait is "
                        f"{'unbounded' if mine == float('inf') else f'{mine:.2f} s'}.",
                        "more workers: the load is arrival_rate * service_mean workers' worth.")
    fewer = p95(workers - 1) if workers > 1 else float("inf")
    if fewer < target_p95:
        return _verdict(False, "", f"{workers} workers work ({mine:.2f} s), but "
                        f"{workers - 1} do too ({fewer:.2f} s).", "find the smallest pool.")
    return _verdict(True, f"{workers} workers: p95 wait {mine:.2f} s; with {workers - 1} it "
                    f"would be {'unbounded' if fewer == float('inf') else f'{fewer:.2f} s'}.")


def check_crash_safe_take(take) -> Verdict:
    """07: ``take(r, queue, processing)`` must move a job atomically into the processing list
    (so a crash cannot lose it) and return it, or None when the queue is empty."""
    missing = _missing(take, "take")
    if missing is not None:
        return missing
    import fakeredis
    r = fakeredis.FakeRedis(decode_responses=True)
    r.lpush("q", "job-1", "job-2")
    try:
        job = take(r, "q", "q:processing:w1")
        empty_after = None
        if job is not None:
            r.lpush("q:other", "x")
            take(r, "q", "q:processing:w1")
            empty_after = take(r, "q", "q:processing:w1")
    except Exception as exc:
        return _verdict(False, "", f"take raised {type(exc).__name__}: {exc}")
    if job != "job-1":
        return _verdict(False, "", f"take returned {job!r}; the oldest job is 'job-1'.",
                        "LPUSH adds on the left, so take from the right (RIGHT -> LEFT).")
    held = r.lrange("q:processing:w1", 0, -1)
    if "job-1" not in held:
        return _verdict(False, "", "the job is not in the processing list: if the worker "
                        "crashes now, it is lost.", "use LMOVE/BLMOVE, which moves it in one "
                        "atomic step.")
    if empty_after is not None:
        return _verdict(False, "", f"on an empty queue take returned {empty_after!r}, "
                        "not None.", "BLMOVE with a small timeout returns None when empty.")
    # the worker "crashes" (no acknowledgement); recovery puts the jobs back
    while r.lmove("q:processing:w1", "q", "RIGHT", "RIGHT"):
        pass
    return _verdict(r.llen("q") == 2, "Crash-safe: the job waits in the processing list "
                    "until it is acknowledged, and recovery puts it back.",
                    "after recovery the jobs should be back in the queue.")
