"""Checks for lesson 07 (queues)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ._common import (Verdict, _verdict, _missing, _function, _number, _raised, _short,
                      RAISED)
from ._race import WRITES, RaceLab, describe_race, read_then_write


def check_pool_size(workers, arrival_rate: float, service_mean: float,
                    target_p95: float = 1.0) -> Verdict:
    """07: the smallest number of workers whose 95th-percentile wait is under ``target_p95``
    in the long run (Erlang C: M/M/c, the queue the lesson simulates). Judged by the theory,
    not by one simulated run: near the line, one run of 50,000 jobs can fall on either side
    (for 13 workers of the lesson's numbers the long-run p95 is 1.16 s; runs give 0.97-1.44)."""
    from ..queueing import erlang_c, erlang_c_wait_quantile
    missing = _missing(workers, "workers")
    if missing is not None:
        return missing
    given = workers
    if isinstance(workers, str):          # "14": a number written as text, as elsewhere
        value, problem = _number(workers, "workers")
        if problem is not None:
            return problem
        if value == float("inf"):
            return _verdict(False, "", "that many workers is far more than this load needs.",
                            "the load is arrival_rate * service_mean workers' worth: start "
                            "there.")
        workers = int(value) if value.is_integer() else value
    if isinstance(workers, (float, np.floating)) and float(workers).is_integer():
        workers = int(workers)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers <= 0:
        return _verdict(False, "", f"workers should be a positive whole number; got "
                        f"{_short(given)}.")
    workers = int(workers)
    if workers > MAX_WORKERS:
        said = f"{workers:,} workers is" if workers < 10 ** 15 else "that many workers is"
        return _verdict(False, "", f"{said} far more than this load needs.",
                        "the load is arrival_rate * service_mean workers' worth: start there.")

    def p95(c):
        return erlang_c_wait_quantile(arrival_rate, service_mean, c, 0.95)

    mine = p95(workers)
    if mine >= target_p95:
        if mine == float("inf"):
            return _verdict(False, "", f"with {workers} worker{'s' * (workers != 1)} the queue "
                            "grows without end: "
                            "jobs arrive faster than they are done.", "more workers: the load "
                            "is arrival_rate * service_mean workers' worth.")
        load = arrival_rate * service_mean
        late = erlang_c(workers, load) * np.exp(-(workers / service_mean - arrival_rate)
                                                * target_p95)
        return _verdict(False, "", f"with {workers} workers, {late:.1%} of jobs wait over "
                        f"{target_p95:g} s in the long run (p95 wait {mine:.2f} s).",
                        "more workers. A single simulated run can land under the line by luck "
                        "when the answer is close: check with several seeds, or with Erlang "
                        "C's tail, P(wait > t) = C(c, a) * exp(-(c/mean - rate) * t).")
    fewer = p95(workers - 1) if workers > 1 else float("inf")
    if fewer < target_p95:
        return _verdict(False, "", f"{workers} workers keep the p95 wait under "
                        f"{target_p95:g} s ({mine:.2f} s), but a smaller pool does too.",
                        "try fewer workers until the p95 wait crosses the target: the smallest "
                        "pool that stays under it is the answer.")
    return _verdict(True, f"{workers} workers: p95 wait {mine:.2f} s in the long run; with "
                    f"{workers - 1} it would be "
                    f"{'unbounded' if fewer == float('inf') else f'{fewer:.2f} s'}.")


def _jobs_kept(jobs, lists):
    """A probe: every job must be in one of ``lists`` between any two round trips."""
    def probe(admin, last):
        held = set()
        for name in lists:
            held.update(admin.lrange(name, 0, -1))
        lost = [job for job in jobs if job not in held]
        if lost:
            after = f"after `{last}`" if last is not None else "at that moment"
            return (f"{after}, {lost[0]} was in neither {lists[0]} nor {lists[1]}: a worker "
                    "that crashes right there loses it")
        return None
    return probe


_MOVES = frozenset({"LMOVE", "BLMOVE", "RPOPLPUSH", "BRPOPLPUSH"})
_STUCK = object()
_BLOCKING = {"BLMOVE", "BRPOPLPUSH", "BRPOP", "BLPOP"}


def _seconds(text):
    try:
        return float(text)
    except ValueError:
        return None

_PATIENCE = 3.0
MAX_WORKERS = 10_000   # a pool size past this is refused before any formula runs
MAX_WAIT = 1.0      # seconds a take may block on an empty queue (the exercise asks for 0.1)
MIN_WAIT = 0.05     # seconds a take that sends no blocking command must wait there, at least


def _take_from_empty(lab, take):
    """``take`` on the empty queue ``q``: ``(what it returned, seconds it took, whether it sent
    a blocking command with a timeout)``; what it returned is ``_STUCK`` if it is still
    waiting after ``_PATIENCE`` seconds (a job pushed then wakes it, so no thread is left
    blocked)."""
    import threading
    import time
    out = {}
    first = len(lab.trips)

    def run():
        tic = time.perf_counter()
        try:
            out["job"] = lab.call(take, "q", "q:processing:w1")
        except RAISED as exc:  # re-raised in the check's thread, reported in one line
            out["error"] = exc
        out["seconds"] = time.perf_counter() - tic

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(_PATIENCE)
    if thread.is_alive():
        lab.admin.lpush("q", "wake-up")
        thread.join(_PATIENCE)
        return _STUCK, _PATIENCE, True
    if "error" in out:
        raise out["error"]
    blocks = any(c[0] in _BLOCKING and (_seconds(c[-1]) or 0) > 0
                 for t in lab.trips[first:] for c in t.commands)
    return out.get("job"), out["seconds"], blocks


def _is_job(value) -> bool:
    """What a take may return: a job (text) or None. Anything else is named before the check
    compares it (an array's ``!=`` or truth value raises)."""
    return value is None or isinstance(value, (str, bytes))


def _not_a_job(value) -> Verdict:
    return _verdict(False, "", f"take returned {_short(value)}; it should return the job it "
                    "took (a string), or None.", "return what BLMOVE answers, as it is.")


def check_crash_safe_take(take) -> Verdict:
    """07: ``take(r, queue, processing)`` must move a job atomically into the processing list
    (so a crash cannot lose it) and return it, or None when the queue stays empty for 0.1 s:
    on an empty queue it must wait, with a blocking command's timeout (BLMOVE, BRPOPLPUSH) or
    at least :data:`MIN_WAIT` seconds by the clock, or a worker calling it in a loop spins.

    The check runs it on a private server. Between any two of its round trips (where a worker
    could crash) every job must be in the queue or the processing list; and eight workers
    taking at once, in turns command by command, must each get different jobs, none lost.
    """
    problem = _function(take, "take")
    if problem is not None:
        return problem
    with RaceLab() as lab:
        lab.admin.lpush("q", "job-1", "job-2")
        lab.probe = _jobs_kept(["job-1", "job-2"], ["q", "q:processing:w1"])
        try:
            job = lab.call(take, "q", "q:processing:w1")
            job_ok = _is_job(job)   # compared below only if it is a job (or None)
            held = lab.admin.lrange("q:processing:w1", 0, -1)
            findings = list(lab.probe_findings)
            empty_after, waited, blocks = None, None, True
            if job_ok and job is not None and not findings:
                lab.call(take, "q", "q:processing:w1")
                lab.probe = None
                empty_after, waited, blocks = _take_from_empty(lab, take)
                if empty_after is None and not blocks and waited >= MIN_WAIT:
                    # a wait measured without a blocking command: measured again, so that
                    # one call slowed by a busy machine does not pass a take that never waits
                    again, seconds, blocks = _take_from_empty(lab, take)
                    if again is None:
                        waited = min(waited, seconds)
                    else:
                        empty_after, waited = again, seconds
            lab.probe = None
            sequential = len(lab.trips)
            jobs = [f"job-{i}" for i in range(1, 17)]
            lab.admin.lpush("many", *jobs)
            taken = [job for batch in lab.run(
                lambda c: take(c, "many", f"many:processing:w{lab.current_client()}"), 8, 2)
                for job in batch]
        except RAISED as exc:
            return _raised("take", exc)
        odd = [j for j in taken if not _is_job(j)]
        processing = [j for name in lab.keys("many:processing:*")
                      for j in lab.admin.lrange(name, 0, -1)]
        left = lab.admin.lrange("many", 0, -1)
        # A read before an atomic move (LLEN, then BLMOVE) is no race: the move takes
        # whatever is there, or nothing; only writes a job read earlier could go into count.
        race = read_then_write(lab.trips[sequential:], writes=WRITES - _MOVES)
    if not sequential:
        return _verdict(False, "", "take sent no command to the r it was given.",
                        "use the r parameter of take (the check passes its own client).")
    if findings:
        return _verdict(False, "", findings[0] + ".", "use LMOVE/BLMOVE, which moves the job "
                        "from one list to the other in one atomic step.")
    if not job_ok or job != "job-1":
        if "job-1" in held:          # moved the right job, returned something else
            return _verdict(False, "", f"take moved job-1 into the processing list but "
                            f"returned {_short(job)}.", "return the job itself: BLMOVE "
                            "answers with it (or None when the queue stayed empty).")
        if not job_ok:
            return _not_a_job(job)
        return _verdict(False, "", f"take returned {_short(job)}; the oldest job is 'job-1'.",
                        "LPUSH adds on the left, so take from the right (RIGHT -> LEFT).")
    if "job-1" not in held:
        return _verdict(False, "", "the job is not in the processing list: if the worker "
                        "crashes now, it is lost.", "use LMOVE/BLMOVE, which moves it in one "
                        "atomic step.")
    waits = [(t, _seconds(t.commands[0][-1])) for t in lab.trips if t.names[0] in _BLOCKING]
    forever = next((t for t, s in waits if s == 0), None)
    if empty_after is _STUCK or forever is not None:
        said = f"`{forever}` waits forever on an empty queue" if forever is not None else \
            f"on an empty queue take was still waiting after {_PATIENCE:g} s"
        return _verdict(False, "", said + "; take should give up after 0.1 s.",
                        "a timeout of 0 means wait forever: give BLMOVE a small timeout.")
    # A long timeout: judged from the command sent (an in-process server may answer a
    # blocking move on an empty list at once, so waiting for it proves nothing).
    long_wait = next(((t, s) for t, s in waits if s is not None and s > MAX_WAIT), None)
    if long_wait is not None:
        return _verdict(False, "", f"`{long_wait[0]}` waits up to {long_wait[1]:g} s on an "
                        "empty queue; take should give up after 0.1 s.", "BLMOVE's last "
                        "argument is the timeout in seconds (a float is fine: 0.1).")
    if empty_after is not None:
        return _verdict(False, "", f"on an empty queue take returned {_short(empty_after)}, "
                        "not None.", "BLMOVE with a small timeout returns None when empty.")
    if odd:
        return _not_a_job(odd[0])
    twice = sorted({j for j in taken if j is not None and taken.count(j) > 1}, key=repr)
    lost = [j for j in jobs if j not in processing and j not in left]
    if race or twice or lost or Counter(taken) != Counter(processing):
        how = describe_race(race, "worker") if race else (
            f"{twice[0]} was handed to two workers" if twice else
            f"{lost[0]} vanished" if lost else "what take returned is not what it moved")
        return _verdict(False, "", f"8 workers taking at once: {how}.", "one atomic command "
                        "both takes the job and files it: LMOVE/BLMOVE.")
    # Last: a take that never waits is atomic and safe, but a worker calling it in a loop
    # spins on an empty queue
    if not blocks and waited < MIN_WAIT:
        return _verdict(False, "", "on an empty queue take returned None at once; it should "
                        "wait up to 0.1 s for a job first.", "BLMOVE with a timeout of 0.1 "
                        "waits for a job, and returns None only if none comes.")
    return _verdict(True, "Crash-safe: between any two commands every job is in the queue or "
                    "a processing list, and eight workers at once never share or lose one.")
