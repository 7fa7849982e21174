"""A queue worker, run as its own process so that it can really be killed mid-job.

    python _queue_worker.py URL NAME {plain,reliable} PREFIX

Deliberately standalone (it imports only redis-py): a worker starts in a fraction of a second.
Each job is JSON ``{"id": ..., "work_s": ...}``. The worker records ``started`` and ``done``
ids in lists, so that a test can count what was lost or processed twice.

* plain: ``BRPOP`` the job off the queue, work, record it. Killed mid-job, the job is gone.
* reliable: ``BLMOVE`` it into ``PREFIX:processing:NAME``, work, record it, then ``LREM`` it
  (the acknowledgement). Killed mid-job, the job waits in the processing list for recovery.
  A heartbeat key with a short TTL says the worker is alive.
"""
import json
import sys
import time

import redis


def main(url, name, mode, prefix):
    r = redis.Redis.from_url(url, decode_responses=True)
    queue = f"{prefix}:jobs"
    processing = f"{prefix}:processing:{name}"
    heartbeat = f"{prefix}:alive:{name}"
    while not r.exists(f"{prefix}:stop"):
        r.set(heartbeat, "1", px=1500)
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
            r.set(heartbeat, "1", px=1500)
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        r.rpush(f"{prefix}:done", job["id"])
        if mode == "reliable":
            r.lrem(processing, 1, raw)           # acknowledge: the job is finished
    r.delete(heartbeat)


if __name__ == "__main__":
    main(*sys.argv[1:5])
