"""Handing slow work to workers, simulated: a queue, ``c`` workers, and workers that crash.

Jobs arrive as a Poisson stream; each takes a service time drawn from a distribution; the first
free worker takes the oldest job (first come, first served). With exponential service this is
the M/M/c queue, whose mean wait Erlang's C formula gives exactly (:func:`erlang_c_wait`).

Crashes: each busy worker crashes at ``crash_rate`` per second (exponential times). A worker
that took its job with a plain pop (``BRPOP``) loses it; with the reliable queue (``BLMOVE``
into a processing list) the job goes back to the queue after ``recovery_s`` and is redelivered.
A crashed worker restarts after ``restart_s``.
"""
from __future__ import annotations

import heapq
import math

import numpy as np
import pandas as pd

from . import _validate as v
from ._random import resolve_seed, stream
from .latency import Distribution, Exponential


def erlang_c(workers: int, offered_load: float) -> float:
    """Probability that a job has to wait (Erlang C), ``offered_load`` = arrival rate x mean
    service time, below ``workers``."""
    c = v.positive_int("workers", workers)
    a = v.positive_real("offered_load", offered_load)
    if a >= c:
        return 1.0
    # sum_{k<c} a^k/k! computed stably in log space
    terms = [math.exp(k * math.log(a) - math.lgamma(k + 1)) for k in range(c)]
    last = math.exp(c * math.log(a) - math.lgamma(c + 1)) * c / (c - a)
    return last / (sum(terms) + last)


def erlang_c_wait(arrival_rate: float, service_mean: float, workers: int) -> float:
    """Mean wait in the queue (s) of an M/M/c queue: ``C(c, a) / (c mu - lambda)``;
    ``inf`` when arrivals outrun the workers."""
    lam = v.positive_real("arrival_rate", arrival_rate)
    mean = v.positive_real("service_mean", service_mean)
    c = v.positive_int("workers", workers)
    mu = 1.0 / mean
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam * mean) / (c * mu - lam)


def erlang_c_wait_quantile(arrival_rate: float, service_mean: float, workers: int,
                           q: float = 0.95) -> float:
    """The wait (s) that a share ``q`` of jobs stays under in the long run, in an M/M/c queue:
    ``P(wait > t) = C(c, a) exp(-(c mu - lambda) t)``, so ``t = ln(C / (1 - q)) / (c mu -
    lambda)``, or 0 when fewer than ``1 - q`` of jobs wait at all; ``inf`` when arrivals
    outrun the workers.

    >>> round(erlang_c_wait_quantile(5, 2.0, 14), 3)
    0.624
    """
    lam = v.positive_real("arrival_rate", arrival_rate)
    mean = v.positive_real("service_mean", service_mean)
    c = v.positive_int("workers", workers)
    q = v.fraction("q", q)
    if not 0 < q < 1:
        raise ValueError(f"q must be a share strictly between 0 and 1, got {q!r}")
    if lam * mean >= c:
        return math.inf
    waiting = erlang_c(c, lam * mean)
    if waiting <= 1 - q:
        return 0.0
    return math.log(waiting / (1 - q)) / (c / mean - lam)


def simulate_queue(*, arrival_rate: float, service=None, service_mean: float | None = None,
                   workers: int, jobs: int, crash_rate: float = 0.0, reliable: bool = False,
                   recovery_s: float = 1.0, restart_s: float = 1.0,
                   seed: int | None = None) -> pd.DataFrame:
    """Simulate the queue; one row per job.

    Parameters
    ----------
    arrival_rate : float
        Jobs per second (Poisson).
    service : Distribution, optional
        Service time model (seconds); or give ``service_mean`` for exponential service.
    workers : int
        Number of workers ``c``.
    jobs : int
        Number of jobs.
    crash_rate : float
        Crashes per second of a busy worker (0: none).
    reliable : bool
        Jobs of a crashed worker go back to the queue (BLMOVE + recovery) instead of being lost.

    Returns
    -------
    DataFrame
        ``arrival``, ``start`` (of the final attempt), ``finish`` (NaN if lost), ``wait``
        (time to the first start), ``in_system`` (finish - arrival), ``attempts``, ``lost``;
        ``attrs`` holds the parameters and counters (``redelivered``, ``crashes``,
        ``utilisation``, ``duration_s``, ``seed``).
    """
    if service is None:
        if service_mean is None:
            raise ValueError("service or service_mean must be given (the mean service time "
                             "in seconds)")
        service = Exponential(v.seconds("service_mean", service_mean))
    if not isinstance(service, Distribution) and not hasattr(service, "sample"):
        raise TypeError(f"service must be a latency distribution, got {service!r}")
    lam = v.positive_real("arrival_rate", arrival_rate)
    c = v.positive_int("workers", workers)
    n = v.positive_int("jobs", jobs)
    crash_rate = v.nonnegative_real("crash_rate", crash_rate)
    recovery_s = v.seconds("recovery_s", recovery_s, allow_zero=True)
    restart_s = v.seconds("restart_s", restart_s, allow_zero=True)
    if not isinstance(reliable, (bool, np.bool_)):
        raise TypeError(f"reliable must be True or False, got {reliable!r}")
    check_budget(lam, n, service, crash_rate, reliable, workers=c)
    seed = resolve_seed(seed)
    arrivals = np.cumsum(stream(seed, "arrivals").exponential(1 / lam, n))
    service_rng = stream(seed, "service")
    crash_rng = stream(seed, "crashes")
    first_start = np.full(n, np.nan)
    start = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    attempts = np.zeros(n, dtype=np.int64)
    lost = np.zeros(n, dtype=bool)
    busy_time = 0.0
    crashes = redelivered = 0
    realized_service = float("nan")
    if crash_rate == 0:
        # FCFS with c servers: each job goes to the earliest free worker.
        services = service.sample(n, service_rng)
        realized_service = float(services.mean())
        free = [0.0] * c
        for i in range(n):
            t_free = heapq.heappop(free)
            s = max(arrivals[i], t_free)
            first_start[i] = start[i] = s
            finish[i] = s + services[i]
            attempts[i] = 1
            heapq.heappush(free, finish[i])
        busy_time = float(services.sum())
    else:
        # event-driven: arrivals, completions, crashes, requeues
        events: list = []                         # (time, seq, kind, job, worker)
        seq = 0
        idle = list(range(c))
        next_arrival = 0
        from collections import deque
        waiting: deque = deque()

        def push(t, kind, job, worker):
            nonlocal seq
            heapq.heappush(events, (t, seq, kind, job, worker))
            seq += 1

        def dispatch(t):
            while idle and waiting:
                w = idle.pop()
                job = waiting.popleft()
                attempts[job] += 1
                if np.isnan(first_start[job]):
                    first_start[job] = t
                start[job] = t
                s = float(service.sample(1, service_rng)[0])
                crash_in = crash_rng.exponential(1 / crash_rate)
                if crash_in < s:
                    push(t + crash_in, "crash", job, w)
                else:
                    push(t + s, "done", job, w)

        while next_arrival < n or events:
            t_arr = arrivals[next_arrival] if next_arrival < n else math.inf
            t_evt = events[0][0] if events else math.inf
            if t_arr <= t_evt:
                waiting.append(next_arrival)
                next_arrival += 1
                dispatch(t_arr)
                continue
            t, _, kind, job, w = heapq.heappop(events)
            if kind == "done":
                finish[job] = t
                busy_time += t - start[job]
                idle.append(w)
            elif kind == "crash":
                crashes += 1
                busy_time += t - start[job]
                push(t + restart_s, "restart", -1, w)
                if reliable:
                    push(t + recovery_s, "requeue", job, -1)
                else:
                    lost[job] = True
            elif kind == "restart":
                idle.append(w)
            elif kind == "requeue":
                redelivered += 1
                waiting.appendleft(job)          # RPUSH back to the consumer's end
            dispatch(t)
    df = pd.DataFrame({"arrival": arrivals, "start": start, "finish": finish,
                       "wait": first_start - arrivals, "in_system": finish - arrivals,
                       "attempts": attempts, "lost": lost})
    duration = float(np.nanmax(finish) - arrivals[0]) if np.any(~np.isnan(finish)) else 0.0
    span = float(arrivals[-1] - arrivals[0])
    with np.errstate(over="ignore"):   # arrivals 1e-308 s apart: a rate beyond float's range
        realized_rate = float(np.float64(n - 1) / span) if span > 0 else math.nan
    df.attrs.update({"arrival_rate": lam, "service": repr(service), "workers": c, "jobs": n,
                     "crash_rate": crash_rate, "reliable": reliable, "crashes": crashes,
                     "redelivered": redelivered, "seed": seed, "duration_s": duration,
                     "utilisation": busy_time / (c * duration) if duration > 0 else float("nan"),
                     "offered_load": lam * service.mean,
                     # what the random draws actually gave, for comparisons with theory
                     "realized_arrival_rate": realized_rate,
                     "realized_service_mean": realized_service})
    return df


BYTES_PER_WORKER = 40        # a slot in the free-worker heap or idle list
BYTES_PER_JOB = 160          # seven columns, the table and the service draws, rounded up


def attempts_per_job(service, crash_rate: float) -> float:
    """Mean attempts a job needs when every crash sends it back (the reliable queue):
    ``1 / P(a service ends before a crash) = 1 / E[exp(-crash_rate S)]``; exact for
    exponential service, else estimated from 10,000 draws of a private generator."""
    if crash_rate == 0:
        return 1.0
    if isinstance(service, Exponential):
        return 1.0 + crash_rate * service.mean
    draws = np.asarray(service.sample(10_000, np.random.default_rng(0)), dtype=float)
    survive = float(np.mean(np.exp(-crash_rate * draws)))
    return 1.0 / survive if survive > 0 else math.inf


def check_budget(arrival_rate, jobs, service, crash_rate=0.0, reliable=False, *,
                 workers=1) -> None:
    """Refuse, before drawing anything, a run that cannot end or cannot fit in memory."""
    v.horizon("arrival_rate", arrival_rate, jobs, arrival_rate)
    v.memory(f"jobs={jobs}", BYTES_PER_JOB * jobs, "the per-job table", "use fewer jobs")
    v.memory(f"workers={workers}", BYTES_PER_WORKER * workers, "the workers' state",
             "use fewer workers (more workers than jobs never changes a run without crashes)")
    v.events(f"workers={workers}", workers, "setting up the workers", "use fewer workers")
    attempts = attempts_per_job(service, crash_rate) if reliable else 1.0
    what = f"jobs={jobs}" if attempts < 10 else (
        f"crash_rate={crash_rate!r} with reliable=True (about {attempts:.3g} attempts a job, "
        "each crash redelivering it)")
    v.events(what, 3.0 * jobs * attempts, "the queue's events",
             "use a lower crash_rate, shorter services or fewer jobs")


def queue_summary(df: pd.DataFrame) -> dict:
    """``processed``, ``lost``, ``redelivered``, ``mean_wait_s``, ``p95_wait_s``,
    ``mean_in_system_s``, ``utilisation``, and Little's law's two sides."""
    done = df[~df["lost"] & df["finish"].notna()]
    wait = df["wait"].dropna()
    arrivals = df["arrival"].to_numpy()
    # Little's law, L = lambda W, checked from two independent measurements: L by looking at
    # the system at 20,000 moments (jobs arrived minus jobs finished), lambda from the arrivals.
    span = arrivals[-1] - arrivals[0]
    moments = np.linspace(arrivals[0] + 0.1 * span, arrivals[-1], 20_000)
    finishes = np.sort(done["finish"].to_numpy())
    in_system = (np.searchsorted(arrivals, moments, side="right")
                 - np.searchsorted(finishes, moments, side="right"))
    lam = (len(arrivals) - 1) / span if span > 0 else float("nan")
    return {"processed": int(len(done)), "lost": int(df["lost"].sum()),
            "redelivered": int(df.attrs.get("redelivered", 0)),
            "mean_wait_s": float(wait.mean()), "p95_wait_s": float(wait.quantile(0.95)),
            "mean_in_system_s": float(done["in_system"].mean()),
            "utilisation": float(df.attrs.get("utilisation", float("nan"))),
            "littles_L": float(in_system.mean()),
            "littles_lambda_W": float(lam * done["in_system"].mean())}


def queue_length(df: pd.DataFrame, points: int = 500) -> pd.DataFrame:
    """Jobs waiting (arrived, not started) at ``points`` moments."""
    t = np.linspace(df["arrival"].iloc[0], df["arrival"].iloc[-1], points)
    arrived = np.searchsorted(df["arrival"].to_numpy(), t, side="right")
    starts = np.sort(df["start"].dropna().to_numpy())
    started = np.searchsorted(starts, t, side="right")
    return pd.DataFrame({"time": t, "waiting": arrived - started})
