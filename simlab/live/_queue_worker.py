"""A queue worker, run as its own process so that it can really be killed mid-job.

    SIMLAB_WORKER_REDIS_URL=URL SIMLAB_WORKER_OWNER=PID \
        python _queue_worker.py NAME {plain,reliable} PREFIX

The URL comes from the environment, never the command line: ``ps`` shows every process's
argv to every user, and a URL may carry a password. ``SIMLAB_WORKER_OWNER`` is the pid of the
process that started the worker; the worker exits as soon as its parent is not that process
any more (the owner died), checking between polls and during the work.

Deliberately standalone (it imports only redis-py): a worker starts in a fraction of a second.
Each job is JSON ``{"id": ..., "work_s": ...}``. The worker records ``started`` and ``done``
ids in lists, so that a test can count what was lost or processed twice.

* plain: ``BRPOP`` the job off the queue, work, record it. Killed mid-job, the job is gone.
* reliable: ``BLMOVE`` it into ``PREFIX:processing:NAME``, work, record it, then ``LREM`` it
  (the acknowledgement). Killed mid-job, the job waits in the processing list for recovery.
  A heartbeat key with a short TTL says the worker is alive.

A worker first claims its name (the heartbeat key, set only if absent: it waits up to 5 s for a
dead predecessor's heartbeat to lapse, and exits with status 3 if a live worker holds the
name); its first act after that is to put back on the queue whatever its processing list still
holds, the jobs of a worker of the same name that died before ``recover()`` ran.
"""
import json
import os
import sys
import time

import redis

HEARTBEAT_MS = 1500
CLAIM_S = 5.0


def owner_gone(owner):
    return owner is not None and os.getppid() != owner


def claim(r, heartbeat, token, owner) -> bool:
    """Take the worker's name: set the heartbeat only if no live worker holds it."""
    deadline = time.monotonic() + CLAIM_S
    while not r.set(heartbeat, token, nx=True, px=HEARTBEAT_MS):
        if owner_gone(owner) or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def requeue_own(r, processing, queue) -> int:
    """Put back the jobs a dead worker of this name left in its processing list."""
    moved = 0
    while r.lmove(processing, queue, "RIGHT", "RIGHT") is not None:
        moved += 1
    return moved


def main(name, mode, prefix):
    url = os.environ.get("SIMLAB_WORKER_REDIS_URL")
    if not url:
        print("worker: SIMLAB_WORKER_REDIS_URL is not set (the server's URL goes through the "
              "environment, never the command line)", file=sys.stderr)
        return 2
    owner = os.environ.get("SIMLAB_WORKER_OWNER")
    owner = int(owner) if owner else None
    r = redis.Redis.from_url(url, decode_responses=True)
    queue = f"{prefix}:jobs"
    processing = f"{prefix}:processing:{name}"
    heartbeat = f"{prefix}:alive:{name}"
    token = str(os.getpid())
    if not claim(r, heartbeat, token, owner):
        if not owner_gone(owner):
            print(f"worker {name}: another live worker holds that name", file=sys.stderr)
        return 3
    if mode == "reliable":
        requeue_own(r, processing, queue)
    while not r.exists(f"{prefix}:stop") and not owner_gone(owner):
        r.set(heartbeat, token, px=HEARTBEAT_MS)
        if mode == "reliable":
            raw = r.blmove(queue, processing, 0.5, "RIGHT", "LEFT")
        else:
            item = r.brpop([queue], timeout=0.5)
            raw = item[1] if item else None
        if raw is None:
            r.set(f"{prefix}:idle:{name}", "1")   # an empty poll: this worker holds no job
            continue
        job = json.loads(raw)
        r.rpush(f"{prefix}:started", job["id"])
        deadline = time.monotonic() + job["work_s"]
        while time.monotonic() < deadline:       # the slow work, keeping the heartbeat up
            if owner_gone(owner):
                return 1                         # like a crash: the job stays unacknowledged
            r.set(heartbeat, token, px=HEARTBEAT_MS)
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        r.rpush(f"{prefix}:done", job["id"])
        if mode == "reliable":
            r.lrem(processing, 1, raw)           # acknowledge: the job is finished
    r.delete(heartbeat)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
