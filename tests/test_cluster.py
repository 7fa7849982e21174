"""A private Redis Cluster: key slots against the server, resharding and failover under load,
the near cache's invalidation, and nothing left behind (also when the owner is SIGKILLed)."""
import json
import os
import random
import select
import signal
import subprocess
import sys
import time

import pytest
import redis

import simlab
from simlab import sharding
from simlab.live import cluster as live_cluster
from simlab.live.guard import GuardedConnectionMixin, UnsafeCommand
from simlab.live.near_cache import NearCache
from simlab.live.server import PrivateRedis, pid_alive

pytestmark = pytest.mark.real


@pytest.fixture(autouse=True)
def _needs_redis_server():
    if not simlab.live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")


def _random_keys(n, seed=0):
    rng = random.Random(seed)
    alphabet = "ab{}{}{}z\x00é€😀"
    keys = []
    for i in range(n):
        kind = i % 3
        size = rng.randrange(0, 12)
        if kind == 0:      # text with braces in every arrangement, Unicode, NUL
            keys.append("".join(rng.choice(alphabet) for _ in range(size)).encode("utf-8"))
        elif kind == 1:    # binary
            keys.append(bytes(rng.choice(b"{}\xff\x00ab") if rng.random() < 0.5
                              else rng.randrange(256) for _ in range(size)))
        else:              # a tag somewhere, empty or not
            tag = "" if rng.random() < 0.3 else str(rng.randrange(1000))
            keys.append(f"u{rng.randrange(99)}{{{tag}}}:{rng.randrange(99)}".encode())
    return keys


def test_key_slot_equals_cluster_keyslot_for_100000_keys():
    keys = _random_keys(100_000)
    with PrivateRedis({"cluster-enabled": "yes", "cluster-port": "0"}) as server:
        r = server.client(decode_responses=False)
        got = []
        for i in range(0, len(keys), 5000):
            pipe = r.pipeline(transaction=False)
            for k in keys[i:i + 5000]:
                pipe.execute_command("CLUSTER KEYSLOT", k)
            got.extend(int(s) for s in pipe.execute())
    want = [sharding.key_slot(k) for k in keys]
    bad = [(k, g, w) for k, g, w in zip(keys, got, want) if g != w]
    assert not bad, bad[:5]
    assert any(b"{}" in k for k in keys) and any(b"\xff" in k for k in keys)


@pytest.fixture(scope="module")
def cluster():
    if not simlab.live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    with live_cluster.PrivateCluster(masters=3, replicas=1, node_timeout=1000) as c:
        yield c


def test_cluster_is_ok_and_its_client_is_guarded(cluster):
    nodes = cluster.nodes()
    assert list(nodes["role"]).count("master") == 3 and nodes["slots"].sum() == 16384
    rc = cluster.client()
    rc.set(simlab.key("c", 1), "v")
    assert rc.get(simlab.key("c", 1)) == "v"
    node = rc.get_node_from_key(simlab.key("c", 1))
    assert issubclass(node.redis_connection.connection_pool.connection_class,
                      GuardedConnectionMixin)
    # a cluster simlab did not start: every node's connections refuse what would wipe it
    foreign = live_cluster.guarded_cluster("127.0.0.1", cluster.ports[0])
    with pytest.raises(UnsafeCommand):
        foreign.flushall()
    with pytest.raises(UnsafeCommand):
        foreign.execute_command("CONFIG SET", "maxmemory", "1")
    assert rc.get(simlab.key("c", 1)) == "v"


def test_a_plain_client_sees_moved_and_the_cluster_client_follows(cluster):
    rc = cluster.client()
    key = simlab.key("moved")
    rc.set(key, "x")
    other = next(i for i in range(3) if i != cluster.owner(sharding.key_slot(key)))
    with pytest.raises(redis.exceptions.MovedError):
        cluster.node_client(other).get(key)
    assert rc.get(key) == "x"


def test_resharding_under_load_loses_nothing(cluster):
    slots = list(range(100, 400, 10))
    target = next(i for i in range(3) if i != cluster.owner(100))
    report = live_cluster.reshard_under_load(cluster, slots, target=target, per_slot=30, seed=1)
    assert report["keys_moved"] == 30 * len(slots)
    assert all(cluster.owner(s) == target for s in slots)
    assert report["acknowledged_writes_lost"] == 0
    assert report["errors_seen_by_app"] == 0
    assert report["MOVED"] + report["ASK"] > 0 and report["requests"] > 100


def test_failover_promotes_the_replica(cluster):
    master = cluster.owner(5000)
    replicas = list(cluster.nodes().query(f"master == {master}").index)
    report, log = live_cluster.failover_under_load(cluster, master, seed=2)
    assert report["promoted"] in replicas
    assert cluster.owner(5000) == report["promoted"]
    assert 0 <= report["acknowledged_writes_lost"] <= int((log["op"] == "SET").sum())
    rc = cluster.client()                       # the application recovers
    key = sharding.keys_in_slots([5000], 1, prefix=simlab.live.namespace() + "after")[0]
    rc.set(key, "ok")
    assert rc.get(key) == "ok"
    assert log["ok"].iloc[-1]


def test_teardown_leaves_nothing():
    c = live_cluster.PrivateCluster().start()
    pids = [s.pid for s in c.servers] + [s.watchdog_pid for s in c.servers]
    folders = [s.folder for s in c.servers]
    c.stop()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and (any(pid_alive(p) for p in pids[:6])
                                           or any(os.path.exists(f) for f in folders)):
        time.sleep(0.1)
    assert not [p for p in pids[:6] if pid_alive(p)]
    assert not [f for f in folders if os.path.exists(f)]


OWNER = """
import json, time
from simlab.live.cluster import PrivateCluster
c = PrivateCluster().start()
print(json.dumps({"pids": [s.pid for s in c.servers], "folders": [s.folder for s in c.servers]}),
      flush=True)
time.sleep(120)
"""


def test_nothing_outlives_a_killed_owner():
    proc = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(proc.communicate(timeout=10)[1][-2000:])
    made = json.loads(line)
    assert all(pid_alive(p) for p in made["pids"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    left = made["pids"]
    while time.monotonic() < deadline:
        left = [p for p in made["pids"] if pid_alive(p)] + [
            f for f in made["folders"] if os.path.exists(f)]
        if not left:
            break
        time.sleep(0.1)
    assert not left


def test_near_cache_never_serves_a_value_after_its_invalidation_arrived():
    with PrivateRedis() as server:
        writer = server.client()
        key = simlab.key("nc")
        writer.set(key, "v0")
        with NearCache(server.url, max_keys=10, owned=True) as nc:
            for i in range(1, 200):
                assert nc.get(key) == f"v{i - 1}"
                assert nc.get(key) == f"v{i - 1}"          # a local hit
                writer.set(key, f"v{i}")
                # wait until the invalidation is in the reader's socket, then read
                assert select.select([nc._conn._sock], [], [], 2.0)[0]
                assert nc.get(key) == f"v{i}"
            assert nc.stats["invalidations"] >= 199
            assert nc.stats["near_hits"] >= 199


def test_near_cache_hit_ratio_equals_the_lru_simulation():
    w = simlab.zipf(2000, 1.0, 3000, seed=7)
    with PrivateRedis() as server:
        server.client().mset({simlab.key("n", k): k for k in range(2000)})
        with NearCache(server.url, max_keys=100, owned=True) as nc:
            run = nc.run([simlab.key("n", k) for k in w.keys])
    exact = float(simlab.lru_curve(w, sizes=[100])["hit_ratio"].iloc[0])
    assert run["near_hit"].mean() == pytest.approx(exact, abs=1e-12)
