"""Handing slow work to a worker, for real: a Redis list as the queue, workers as processes.

The producer (the "API") pushes a job and returns at once; workers take jobs and do the slow
work. Workers run as separate processes (see ``_queue_worker.py``) so that one can be killed
in the middle of a job, for real. They reach Redis over TCP: the server at ``REDIS_URL``, a
private redis-server, or, when neither is available, fakeredis's TCP server in this process.

Workers get the server's URL in their environment (``SIMLAB_WORKER_REDIS_URL``), never on
their command line (which ``ps`` shows to everyone), and die with the process that started
them: ``PR_SET_PDEATHSIG`` on Linux, and the worker itself polls its parent's pid.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from .client import check_name, glob_escape, key
from .server import child_options
from .urls import redact

WORKER = Path(__file__).with_name("_queue_worker.py")


class QueueServer:
    """A Redis that worker processes can reach: ``url`` and ``client()``.

    ``REDIS_URL`` if set; otherwise a private redis-server if the binary is there; otherwise
    fakeredis served over TCP from a thread of this process.
    """

    def __init__(self):
        self._private = None
        self._tcp = None
        self.url = os.environ.get("REDIS_URL")
        self.kind = "REDIS_URL"
        if self.url:
            from .client import connect
            connect(self.url).close()   # no server there: connect()'s one sentence, not a trace
        else:
            from .server import PrivateRedis, redis_server_binary
            if redis_server_binary():
                self._private = PrivateRedis().start()
                self.url, self.kind = self._private.url, "private redis-server"
            else:
                import fakeredis
                self._tcp = fakeredis.TcpFakeServer(("127.0.0.1", 0), server_type="redis")
                threading.Thread(target=self._tcp.serve_forever, daemon=True).start()
                host, port = self._tcp.server_address
                self.url, self.kind = f"redis://{host}:{port}/0", "fakeredis over TCP"

    def client(self):
        """A guarded client (see :mod:`simlab.live.guard`): owned only for the private server."""
        from .client import guarded_client
        return guarded_client(self.url, server=self._private)

    def close(self):
        if self._private:
            self._private.stop()
        if self._tcp:
            self._tcp.shutdown()
            self._tcp.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<QueueServer {self.kind} at {redact(self.url)}>"


class JobQueue:
    """A job queue under its own key prefix, with worker processes.

    Parameters
    ----------
    server : QueueServer
    reliable : bool
        Workers use BLMOVE into a processing list and acknowledge (LREM) when done, instead
        of BRPOP.
    name : str, optional
        The queue's name, 1 to 32 letters, digits, ``.``, ``_`` or ``-`` (default: random).
        Its keys are ``wb:<learner>:queue:<name>:...``, in this learner's namespace, so two
        learners using the same name never share (or delete) a queue.
    """

    def __init__(self, server: QueueServer, *, reliable: bool = False, name: str | None = None):
        self.server = server
        self.r = server.client()
        self.reliable = reliable
        name = uuid.uuid4().hex[:8] if name is None else check_name("name", name)
        self.prefix = key("queue", name)          # wb:<learner>:queue:<name>: this learner's
        self.workers: dict[str, subprocess.Popen] = {}
        self._next_id = 0

    # the producer ------------------------------------------------------------------------

    def enqueue(self, work_s: float, payload=None) -> int:
        """Push one job (``work_s`` seconds of work); return its id. Returns at once."""
        job_id = self._next_id
        self._next_id += 1
        self.r.lpush(f"{self.prefix}:jobs",
                     json.dumps({"id": job_id, "work_s": float(work_s), "payload": payload}))
        return job_id

    # workers -----------------------------------------------------------------------------

    def start_worker(self, name: str | None = None) -> str:
        """Start a worker process named ``name`` (default ``w1``, ``w2``...); return the name.

        A worker restarted under the name of a dead one first puts that one's unfinished jobs
        back on the queue (reliable mode). The URL goes through the environment, not argv.
        """
        name = name or f"w{len(self.workers) + 1}"
        old = self.workers.get(name)
        if old is not None and old.poll() is None:
            raise ValueError(f"worker {name!r} is already running; kill_worker({name!r}) "
                             "first or choose another name")
        if old is not None and old.stderr:
            old.stderr.close()
        env = dict(os.environ, SIMLAB_WORKER_REDIS_URL=self.server.url,
                   SIMLAB_WORKER_OWNER=str(os.getpid()))
        self.workers[name] = subprocess.Popen(
            [sys.executable, str(WORKER), name, "reliable" if self.reliable else "plain",
             self.prefix], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, **child_options())
        return name

    def kill_worker(self, name: str) -> None:
        """Stop a worker for real (SIGKILL): no clean-up, no chance to finish its job."""
        proc = self.workers[name]
        proc.kill()
        proc.wait(5)

    def kill_when_busy(self, name: str, timeout: float = 10.0) -> int | None:
        """Wait until ``name`` has started a job, kill it mid-job; return that job's id."""
        deadline = time.monotonic() + timeout
        seen = self.r.llen(f"{self.prefix}:started")
        while time.monotonic() < deadline:
            started = self.r.lrange(f"{self.prefix}:started", seen, -1)
            if started:
                time.sleep(0.05)                  # well inside the job's work
                self.kill_worker(name)
                return int(started[0])
            time.sleep(0.01)
        raise TimeoutError(f"worker {name} took no job within {timeout} s")

    def recover(self, *, wait: float = 2.0) -> int:
        """Move the jobs of dead workers back to the queue; return how many.

        Every processing list under this queue's prefix is found with SCAN, whoever started
        its worker. A worker is dead when its heartbeat key (a 1.5 s TTL it keeps renewing) is
        gone; waits up to ``wait`` seconds for the heartbeats of workers that hold jobs to
        lapse. (A worker restarted under a dead one's name requeues that list itself, first.)
        """
        moved = 0
        deadline = time.monotonic() + wait
        head = f"{self.prefix}:processing:"
        pending = list(self.r.scan_iter(match=f"{glob_escape(head)}*"))
        while pending:
            for name in list(pending):
                worker = name[len(head):]
                if self.r.exists(f"{self.prefix}:alive:{worker}"):
                    continue
                while self.r.lmove(name, f"{self.prefix}:jobs", "RIGHT", "RIGHT") is not None:
                    moved += 1
                pending.remove(name)
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return moved

    def wait_until_done(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or held and every live worker has come back empty-
        handed from a poll of the empty queue; True if that happened within ``timeout``.

        (With BRPOP a job in a worker's hands is invisible in Redis, so an empty queue alone
        does not mean the work is done: each worker's own "idle" report after the queue
        emptied does.)
        """
        deadline = time.monotonic() + timeout
        armed = False
        while time.monotonic() < deadline:
            held = sum(self.r.llen(k) for k in self.r.scan_iter(
                match=f"{glob_escape(self.prefix)}:processing:*"))
            if self.r.llen(f"{self.prefix}:jobs") or held:
                armed = False
            elif not armed:
                self.r.delete(*[f"{self.prefix}:idle:{n}" for n in self.workers] or ["-"])
                armed = True
            else:
                live = [n for n, proc in self.workers.items() if proc.poll() is None]
                if all(self.r.exists(f"{self.prefix}:idle:{n}") for n in live):
                    return True
            time.sleep(0.05)
        return False

    def done_ids(self) -> list[int]:
        return [int(x) for x in self.r.lrange(f"{self.prefix}:done", 0, -1)]

    def report(self, n_jobs: int) -> dict:
        """Every job id processed at least once? How many lost, how many processed twice?"""
        done = self.done_ids()
        started = [int(x) for x in self.r.lrange(f"{self.prefix}:started", 0, -1)]
        counts = np.bincount(done, minlength=n_jobs) if done else np.zeros(n_jobs, int)
        starts = np.bincount(started, minlength=n_jobs) if started else np.zeros(n_jobs, int)
        return {"jobs": n_jobs, "processed": int((counts > 0).sum()),
                "lost": int((counts == 0).sum()), "processed_twice": int((counts > 1).sum()),
                "started_twice": int((starts > 1).sum()), "reliable": self.reliable}

    def close(self) -> None:
        """Stop the workers and delete this queue's keys."""
        self.r.set(f"{self.prefix}:stop", "1")
        for proc in self.workers.values():
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(3)
            if proc.stderr:
                proc.stderr.close()
        for name in self.r.scan_iter(match=f"{glob_escape(self.prefix)}:*"):
            self.r.delete(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def crash_experiment(server: QueueServer, *, reliable: bool, jobs: int = 6,
                     work_s: float = 0.3) -> dict:
    """Queue ``jobs`` jobs, start a worker, kill it in the middle of a job, recover (reliable
    queue), let a fresh worker finish; report lost and duplicated jobs."""
    with JobQueue(server, reliable=reliable) as q:
        for _ in range(jobs):
            q.enqueue(work_s)
        first = q.start_worker("w1")
        killed_job = q.kill_when_busy(first)
        recovered = q.recover() if reliable else 0
        q.start_worker("w2")
        q.wait_until_done(timeout=jobs * work_s + 10)
        out = q.report(jobs)
        out.update({"killed_during_job": killed_job, "recovered": recovered})
        return out


def crash_experiments(server: QueueServer, *, jobs: int = 6, work_s: float = 0.3):
    """:func:`crash_experiment` for the plain and the reliable queue side by side (two queues,
    two threads, so the lesson waits for one experiment's time, not two); one row each,
    indexed by ``reliable``."""
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    def one(reliable):
        return crash_experiment(server, reliable=reliable, jobs=jobs, work_s=work_s)

    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(one, (False, True)))
    return pd.DataFrame(rows).set_index("reliable")


def user_latency(r, *, requests: int = 50, work_s: float = 0.02) -> dict:
    """What the user waits for, per request: doing ``work_s`` of work inline, or pushing a job
    to a queue and answering at once. Returns both as arrays of seconds."""
    inline = np.empty(requests)
    queued = np.empty(requests)
    name = key("queue", "latency", uuid.uuid4().hex[:6])
    for i in range(requests):
        tic = time.perf_counter()
        time.sleep(work_s)                      # the slow work itself (email, resize...)
        inline[i] = time.perf_counter() - tic
        tic = time.perf_counter()
        r.lpush(name, json.dumps({"id": i, "work_s": work_s}))
        queued[i] = time.perf_counter() - tic
    r.delete(name)
    return {"inline": inline, "queued": queued}
