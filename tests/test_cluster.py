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


def test_a_cluster_node_starts_on_a_free_port_above_55535(monkeypatch):
    """The bus port defaults to port + 10000: for a free port above 55535 the server refuses
    to start ("Redis port number too high"). PrivateRedis chooses the bus port too; the first
    port it is given here is certain to be that high."""
    import socket

    from simlab.live import server as live_server
    high = None
    for port in range(60000, 55535, -1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        high = port
        break
    ports = iter([high])
    real_free_port = live_server.free_port
    monkeypatch.setattr(live_server, "free_port", lambda: next(ports, None) or real_free_port())
    with PrivateRedis({"cluster-enabled": "yes"}) as server:
        assert server.port == high
        assert int(server.client().config_get("cluster-port")["cluster-port"]) <= 65535


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


def _master_with_a_replica(cluster, slot):
    nodes = cluster.nodes()
    masters = nodes[(nodes["role"] == "master") & nodes["running"] & (nodes["slots"] > 0)]
    with_replica = [m for m in masters.index
                    if ((nodes["master"] == m) & nodes["running"]).any()]
    owner = cluster.owner(slot)
    return owner if owner in with_replica else with_replica[0]


def _check_the_accounting(report, log):
    acked = log[log["acked_by_old_master"]]
    assert report["acknowledged_writes"] == len(acked) > 100
    # the offsets alone say which writes the replica had: the first n the master ran
    assert report["writes_replicated"] <= len(acked) + 1
    replicated = acked["replicated"]
    assert replicated.is_monotonic_decreasing          # a prefix, in the load's order
    # ... and exactly those writes survived the failover, the others are gone
    assert report["lost_writes_match_offsets"]
    assert (acked["survived"].astype(bool) == replicated).all()
    assert report["acknowledged_writes_lost"] == report["acknowledged_writes_not_replicated"]
    assert report["acknowledged_writes_lost"] == int((~acked["survived"].astype(bool)).sum())


def test_failover_promotes_the_replica_and_the_offsets_count_the_lost_writes(cluster):
    master = _master_with_a_replica(cluster, 5000)
    slot = next(s for s in range(16384) if cluster.owner(s) == master)
    replicas = list(cluster.nodes().query(f"master == {master}").index)
    report, log = live_cluster.failover_under_load(cluster, master, seed=2)
    assert report["promoted"] in replicas
    assert cluster.owner(slot) == report["promoted"]
    _check_the_accounting(report, log)
    # the stream between the offset in sync before the load and the new master's
    # second_repl_offset - 1 is the first n writes' RESP bytes, plus a 14-byte PING or none
    n = report["writes_replicated"]
    first = log.head(n)                         # the load only writes, one at a time
    stream = report["replica_offset_at_kill"] - report["base_offset"]
    sent = sum(len(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(str(x))}\r\n{x}\r\n")
               for k, x in zip(first["key"], first["value"]))
    assert stream - sent in (0, live_cluster.PING_BYTES)
    rc = cluster.client()                       # the application recovers
    key = sharding.keys_in_slots([slot], 1, prefix=simlab.live.namespace() + "after")[0]
    rc.set(key, "ok")
    assert rc.get(key) == "ok"
    assert log["ok"].iloc[-1]
    assert report["errors_seen_by_app"] > 0 and report["seconds_with_errors"] > 0.5


def test_a_stalled_replica_loses_exactly_the_writes_its_offset_lacks(cluster):
    master = _master_with_a_replica(cluster, 12000)
    with pytest.raises(ValueError, match="stall must be shorter than the node timeout"):
        cluster.kill_master(master, stall=1.5)
    # the replica stops reading for 0.6 s: the master keeps acknowledging 20 kB writes (some
    # 50 MB in that time), the socket buffers fill (up to about 36 MB here: 32 MB of receive
    # buffer, 4 MB of send buffer), the rest waits in the master's memory and dies with it
    report, log = live_cluster.failover_under_load(cluster, master, stall=0.6,
                                                   value_size=20_000, seed=3)
    _check_the_accounting(report, log)
    lost = report["acknowledged_writes_lost"]
    assert lost > 0 and lost == report["acknowledged_writes_not_replicated"]
    assert report["bytes_not_replicated"] > lost * 20_000
    # the quick estimate: (master offset just before the kill - the replica's at the kill)
    # over bytes per write. It misses the writes the master ran between its INFO and the
    # SIGKILL (the load still runs: usually none to a few), counted from the offset too; the
    # tolerance of one write is the rounding (key lengths vary by a few bytes around the mean)
    # and the write that failed at the kill, which may or may not have run
    after = report["writes_after_master_offset_read"]
    assert 0 <= after <= 50
    assert abs(report["writes_lost_by_offsets"] + after - lost) <= 1
    assert report["master_offset_before_kill"] > report["replica_offset_before_kill"]


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


def test_near_cache_reads_its_url_as_redis_py_does_tls_and_all():
    """rediss:// opens TLS (the password never crosses in clear text), unix:// a socket
    (never a fall-back to 127.0.0.1:6379), and a password-protected private server with its
    user and database in the URL answers."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port, got = listener.getsockname()[1], []

    def accept():
        conn, _ = listener.accept()
        conn.settimeout(2)
        try:
            got.append(conn.recv(4096))
        except OSError:
            pass
        conn.close()

    threading.Thread(target=accept, daemon=True).start()
    with pytest.raises(redis.ConnectionError):
        NearCache(f"rediss://alice:Zq9secretPW@127.0.0.1:{port}/0")
    listener.close()
    assert got and got[0][:1] == b"\x16"                 # a TLS handshake record
    assert b"Zq9secretPW" not in got[0]
    with pytest.raises(redis.ConnectionError, match="no-such.sock"):
        NearCache("unix:///tmp/simlab-test-no-such.sock")
    with pytest.raises(TypeError, match="url must be a Redis URL"):
        NearCache(6379)
    with PrivateRedis(password="p@ss/word") as server:
        url = f"redis://default:p%40ss%2Fword@127.0.0.1:{server.port}/2"
        redis.Redis(port=server.port, password="p@ss/word", db=2).set("k", "on db 2")
        with NearCache(url, owned=True) as nc:
            assert nc.get("k") == "on db 2"
