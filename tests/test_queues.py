"""Live queues: worker processes, one killed mid-job, plain BRPOP against the reliable queue."""
from pathlib import Path

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


def test_a_worker_restarted_under_its_old_name_strands_no_job(server):
    """Killed mid-job four times and restarted at once as "w1", before any recover(): each new
    w1 first puts its predecessor's unfinished job back (it used to stay in the processing
    list for good, the new heartbeat hiding it from recover())."""
    with JobQueue(server, reliable=True) as q:
        for _ in range(6):
            q.enqueue(0.3)
        q.start_worker("w1")
        for _ in range(4):
            q.kill_when_busy("w1")
            q.start_worker("w1")
        q.recover(wait=0)
        assert q.wait_until_done(timeout=30)
        report = q.report(6)
        assert q.r.llen(f"{q.prefix}:processing:w1") == 0
    assert report["lost"] == 0 and report["processed"] == 6, report


def test_recover_requeues_every_dead_workers_list(server):
    with JobQueue(server, reliable=True) as q:
        for _ in range(4):
            q.enqueue(0.3)
        q.start_worker("w1")
        q.kill_when_busy("w1")
        q.start_worker("w2")
        q.kill_when_busy("w2")
        assert q.recover(wait=3) == 2
        q.start_worker("w3")
        assert q.wait_until_done(timeout=20)
        report = q.report(4)
    assert report["lost"] == 0 and report["processed"] == 4, report


def test_a_worker_name_in_use_is_refused(server):
    with JobQueue(server) as q:
        q.start_worker("w1")
        with pytest.raises(ValueError, match="worker 'w1' is already running"):
            q.start_worker("w1")


@pytest.mark.real
def test_workers_get_the_url_from_the_environment_never_argv(monkeypatch):
    if not simlab.live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    secret = "queue-Pa55word"
    with simlab.live.PrivateRedis(password=secret) as private:
        monkeypatch.setenv("REDIS_URL", private.url)
        with QueueServer() as s, JobQueue(s) as q:
            assert secret not in repr(s)
            ids = [q.enqueue(0.01) for _ in range(5)]
            q.start_worker()
            q.start_worker()
            for proc in q.workers.values():
                argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
                assert secret not in argv and private.url not in argv
            assert q.wait_until_done(timeout=20)       # they did reach the server
            assert q.report(len(ids))["processed"] == 5


def test_queue_keys_live_in_the_learners_namespace(server, monkeypatch):
    """Two learners who both call their queue "jobs" get two queues, each in its namespace."""
    monkeypatch.setenv("WHITEBOARD_USER", "alice")
    alice = JobQueue(server, name="jobs")
    alice.enqueue(0.01)
    monkeypatch.setenv("WHITEBOARD_USER", "bob")
    with JobQueue(server, name="jobs") as bob:
        assert bob.prefix == "wb:bob:queue:jobs" and alice.prefix == "wb:alice:queue:jobs"
        bob.enqueue(0.01)
        assert alice.r.llen("wb:alice:queue:jobs:jobs") == 1
    assert alice.r.llen("wb:alice:queue:jobs:jobs") == 1     # bob's close left alice's queue
    monkeypatch.setenv("WHITEBOARD_USER", "queue")           # a learner named "queue"
    assert simlab.cleanup(alice.r) == 0
    assert alice.r.llen("wb:alice:queue:jobs:jobs") == 1
    alice.close()
    assert not list(alice.r.scan_iter(match="wb:alice:queue:*"))


@pytest.mark.parametrize("name", ["*", "a:b", "", "job?", "[a-z]*", "x" * 33, 7])
def test_a_queue_name_that_could_reach_other_keys_is_refused(name, redis_client):
    class Server:
        def client(self):
            return redis_client
    with pytest.raises(ValueError, match=r"name must be 1 to 32 letters.*got"):
        JobQueue(Server(), name=name)


def test_user_latency_keeps_to_the_learners_namespace(redis_client, monkeypatch):
    monkeypatch.setenv("WHITEBOARD_USER", "alice")
    seen = []
    real_lpush = redis_client.lpush
    monkeypatch.setattr(redis_client, "lpush", lambda k, *v: seen.append(k) or real_lpush(k, *v))
    user_latency(redis_client, requests=3, work_s=0.0)
    assert seen and all(k.startswith("wb:alice:queue:latency:") for k in seen)
