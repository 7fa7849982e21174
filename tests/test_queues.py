"""Live queues: worker processes, one killed mid-job, plain BRPOP against the reliable queue."""
import numpy as np
import pytest

import simlab
from simlab.live.queues import JobQueue, QueueServer, crash_experiment, user_latency


@pytest.fixture(params=[pytest.param("real", marks=pytest.mark.real), "fakeredis-tcp"])
def server(request, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    if request.param == "real":
        if not simlab.live.redis_server_binary():
            pytest.skip("no redis-server binary on the PATH")
    else:
        monkeypatch.setattr(simlab.live.server, "redis_server_binary", lambda: None)
    with QueueServer() as s:
        yield s


def test_workers_process_every_job(server):
    with JobQueue(server) as q:
        ids = [q.enqueue(0.01) for _ in range(20)]
        q.start_worker()
        q.start_worker()
        assert q.wait_until_done(timeout=20)
        report = q.report(len(ids))
    assert report["processed"] == 20 and report["lost"] == 0


def test_a_killed_worker_loses_its_job_with_brpop(server):
    out = crash_experiment(server, reliable=False, jobs=5, work_s=0.3)
    assert out["lost"] == 1 and out["processed"] == 4, out


def test_the_reliable_queue_loses_nothing(server):
    out = crash_experiment(server, reliable=True, jobs=5, work_s=0.3)
    assert out["lost"] == 0 and out["processed"] == 5, out
    assert out["recovered"] == 1, out
    # at-least-once: the killed job was started twice; the lesson on idempotency counts it
    assert out["started_twice"] == 1 and out["processed_twice"] == 0, out


def test_queueing_answers_the_user_at_once(redis_client):
    lat = user_latency(redis_client, requests=20, work_s=0.02)
    assert np.median(lat["inline"]) >= 0.02
    assert np.median(lat["queued"]) < 0.005


def test_server_choice_prefers_redis_url(private_redis, monkeypatch):
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    with QueueServer() as s:
        assert s.url == private_redis.url and s.kind == "REDIS_URL"
