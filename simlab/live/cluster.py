"""A Redis Cluster of our own: private servers in cluster mode on loopback, and experiments on it.

:class:`PrivateCluster` starts ``masters * (1 + replicas)`` :class:`~simlab.live.server.PrivateRedis`
servers with ``cluster-enabled yes`` (no persistence, ``nodes.conf`` inside each server's own
folder, a short ``cluster-node-timeout`` so a failover takes about a second), joins them into a
cluster, waits for ``cluster_state:ok`` and hands out redis-py's ``RedisCluster`` client. Every
connection that client opens goes through simlab's guard (:mod:`simlab.live.guard`): the class
it builds its per-node connections from is a guarded one (``connection_class``), marked owned
because simlab started these servers. The servers die with their owner like any PrivateRedis.

The cluster is created from Python (``CLUSTER ADDSLOTSRANGE``, ``SET-CONFIG-EPOCH``, ``MEET``,
``REPLICATE``: the steps ``redis-cli --cluster create`` takes, polled every few milliseconds
instead of its one-second waits), or with ``redis-cli`` itself (``create="redis-cli"``).
"""
from __future__ import annotations

import collections
import os
import shutil
import signal
import threading
import time

import numpy as np
import pandas as pd
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from .. import _validate as v
from ..sharding import N_SLOTS, slot_owners
from .guard import Guard, guarded_class
from .server import PrivateRedis, RedisServerNotFound, free_port, redis_server_binary

__all__ = ["PrivateCluster", "cluster_connection_class", "guarded_cluster", "LoadRunner",
           "lost_writes", "error_window", "slot_owner_array",
           "load_per_master", "reshard_under_load", "failover_under_load",
           "resp_length", "writes_in_stream", "PING_BYTES"]

HOST = "127.0.0.1"


def cluster_connection_class(guard: Guard, counts: collections.Counter | None = None) -> type:
    """A redis-py connection class for ``RedisCluster(connection_class=...)``: guarded by
    ``guard`` (RedisCluster passes only the keyword arguments it knows to its nodes, so the
    guard is bound to the class), and counting the ``MOVED``, ``ASK``, ``TRYAGAIN`` and
    ``CLUSTERDOWN`` replies it reads into ``counts``."""
    base = guarded_class(redis.connection.Connection)
    counts = counts if counts is not None else collections.Counter()
    exc = redis.exceptions

    def __init__(self, *args, simlab_guard=None, **kwargs):
        base.__init__(self, *args, simlab_guard=guard, **kwargs)

    def read_response(self, *args, **kwargs):
        try:
            return base.read_response(self, *args, **kwargs)
        except exc.MovedError:          # a subclass of AskError: first
            counts["MOVED"] += 1
            raise
        except exc.AskError:
            counts["ASK"] += 1
            raise
        except exc.TryAgainError:
            counts["TRYAGAIN"] += 1
            raise
        except exc.ClusterDownError:
            counts["CLUSTERDOWN"] += 1
            raise

    return type("SimlabClusterConnection", (base,),
                {"__init__": __init__, "read_response": read_response, "counts": counts})


def guarded_cluster(host: str, port: int, *, owned: bool = False, server=None,
                    **kwargs) -> RedisCluster:
    """redis-py's ``RedisCluster`` for the cluster that ``host:port`` belongs to, every node's
    connections guarded (``owned`` only for a cluster simlab started). The client gets
    ``redirections`` (a Counter of MOVED/ASK/... replies its connections read) and ``owned``."""
    counts = collections.Counter()
    guard = Guard(owned=owned, where=f"the Redis Cluster at {host}:{port}")
    if server is not None:          # a cluster simlab started: each connection proves it
        guard.claim(server)
    kwargs.setdefault("decode_responses", True)
    # from a URL, RedisCluster builds each node's pool from these keyword arguments, so every
    # node it discovers gets the guarded class (the other constructor drops connection_class)
    client = RedisCluster.from_url(f"redis://{host}:{int(port)}/0",
                                   connection_class=cluster_connection_class(guard, counts),
                                   **kwargs)
    client.redirections = counts
    client.owned = guard.owned
    client.simlab_guard = guard
    return client


def _ranges(owners: np.ndarray, shard: int) -> tuple[int, int]:
    slots = np.flatnonzero(owners == shard)
    return int(slots[0]), int(slots[-1])


class PrivateCluster:
    """A Redis Cluster of private servers on loopback.

    Parameters
    ----------
    masters : int
        Masters (3 or more: a cluster needs a majority of masters to agree on a failover).
    replicas : int
        Replicas per master (0 or more).
    node_timeout : int
        ``cluster-node-timeout`` in milliseconds: how long a silent master has before it is
        marked failed and its replica takes over (Redis's default is 15000).
    config : dict, optional
        Extra settings for every server.
    create : {"python", "redis-cli"}
        How to join the servers: from Python (fast), or ``redis-cli --cluster create``.

    Examples
    --------
    >>> with PrivateCluster() as cluster:            # doctest: +SKIP
    ...     rc = cluster.client()
    ...     rc.set("wb:hello", "world")
    """

    def __init__(self, masters: int = 3, replicas: int = 1, *, node_timeout: int = 1000,
                 config: dict | None = None, create: str = "python",
                 binary: str | None = None):
        self.n_masters = v.positive_int("masters", masters)
        if self.n_masters < 3:
            raise ValueError(f"masters must be at least 3 (failover needs a majority of "
                             f"masters), got {masters}")
        self.n_replicas = v.nonnegative_int("replicas", replicas)
        self.node_timeout = v.positive_int("node_timeout", node_timeout)
        self.create = v.choice("create", create, ("python", "redis-cli"))
        if create == "redis-cli" and shutil.which("redis-cli") is None:
            raise RedisServerNotFound("create='redis-cli' needs redis-cli on the PATH; use "
                                      "create='python'")
        self.binary = binary or redis_server_binary()
        if not self.binary:
            raise RedisServerNotFound("No redis-server binary on the PATH: a local cluster "
                                      "needs one (apt install redis-server, brew install redis,"
                                      " conda install -c conda-forge redis-server).")
        self.config = {"cluster-enabled": "yes", "cluster-config-file": "nodes.conf",
                       "cluster-node-timeout": str(self.node_timeout),
                       # a replica's first sync starts at once (the default waits 5 s)
                       "repl-diskless-sync-delay": "0", **(config or {})}
        self.servers: list[PrivateRedis] = []
        self.ids: list[str] = []
        self._admin: list = []
        self._clients: list = []
        self._replicas_of: dict = {}

    # --- start and stop --------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> "PrivateCluster":
        """Start the servers, join them into a cluster, wait for ``cluster_state:ok``."""
        try:
            for _ in range(self.n_masters * (1 + self.n_replicas)):
                # the bus port is chosen too: by default it is port + 10000, which may be taken,
                # or above 65535 for a free port above 55535 (the server then refuses to start)
                config = {"cluster-port": str(free_port()), **self.config}
                self.servers.append(PrivateRedis(config, binary=self.binary).start())
            self._admin = [s.client(socket_timeout=5) for s in self.servers]
            self.ids = [c.execute_command("CLUSTER MYID") for c in self._admin]
            if self.create == "redis-cli":
                self._create_with_redis_cli(timeout)
            else:
                self._create_in_python(timeout)
            self.wait_until_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _create_in_python(self, timeout):
        owners = slot_owners(self.n_masters)
        for shard, admin in enumerate(self._admin[:self.n_masters]):
            admin.execute_command("CLUSTER ADDSLOTSRANGE", *_ranges(owners, shard))
        for epoch, admin in enumerate(self._admin, start=1):
            admin.execute_command("CLUSTER SET-CONFIG-EPOCH", epoch)
        for admin in self._admin[1:]:
            admin.execute_command("CLUSTER MEET", HOST, self.servers[0].port,
                                  self.servers[0].config["cluster-port"])
        self._wait(lambda: all(len(self._known(a)) == len(self.servers) for a in self._admin),
                   timeout, "the nodes did not all meet")
        for j, admin in enumerate(self._admin[self.n_masters:]):
            admin.execute_command("CLUSTER REPLICATE", self.ids[j % self.n_masters])

    def _create_with_redis_cli(self, timeout):
        import subprocess

        nodes = [f"{HOST}:{s.port}" for s in self.servers]
        subprocess.run(["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas",
                        str(self.n_replicas), "--cluster-yes"], check=True,
                       capture_output=True, timeout=timeout)

    @staticmethod
    def _known(admin) -> dict:
        """The nodes ``admin`` knows that finished their handshake."""
        return {a: n for a, n in admin.execute_command("CLUSTER NODES").items()
                if "handshake" not in n["flags"] and "noaddr" not in n["flags"]}

    @staticmethod
    def _wait(condition, timeout, what):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout} s")
            time.sleep(0.02)

    def _healthy(self) -> bool:
        live = [a for a, s in zip(self._admin, self.servers) if s.running]
        if not all(a.cluster("INFO")["cluster_state"] == "ok" for a in live):
            return False
        want = min(self.n_replicas, 1) * len(live)
        for admin in live:         # every node sees every replica attached and its link up
            nodes = self._known(admin)
            attached = [n for n in nodes.values() if "slave" in n["flags"]
                        and "fail" not in n["flags"] and n["connected"]]
            if want and len(attached) < len(live) - self.n_masters:
                return False
        for admin in live:
            info = admin.info("replication")
            if info["role"] == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def wait_until_ok(self, timeout: float = 30.0) -> float:
        """Wait until every running node says ``cluster_state:ok`` and every replica's link is
        up; return the seconds waited."""
        tic = time.monotonic()
        self._wait(self._healthy, timeout, "the cluster did not reach cluster_state:ok")
        return time.monotonic() - tic

    def stop(self) -> None:
        """Stop every server and remove its folder (also after a failed start)."""
        for client in self._clients + self._admin:
            try:
                client.close()
            except Exception:       # a node already killed: nothing to close cleanly
                pass
        for client in self._clients:    # whatever takes these ports next is not ours
            client.simlab_guard.release()
            client.owned = False
        for server in self.servers:
            server.stop()
        self.servers, self.ids, self._admin, self._clients = [], [], [], []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        ports = ",".join(str(s.port) for s in self.servers if s.running)
        return (f"<PrivateCluster {self.n_masters} masters x {self.n_replicas} replicas "
                f"{'on ' + ports if ports else 'stopped'}>")

    # --- clients and topology --------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def client(self, **kwargs) -> RedisCluster:
        """redis-py's ``RedisCluster``, every connection guarded (owned: simlab started these
        servers) and its redirections counted in ``client.redirections``."""
        live = next(s for s in self.servers if s.running)
        kwargs.setdefault("socket_timeout", 2)
        kwargs.setdefault("socket_connect_timeout", 1)
        client = guarded_cluster(HOST, live.port, server=self, **kwargs)
        client.backend = f"private Redis Cluster on {HOST} ports {self.ports}"
        self._clients.append(client)
        return client

    def owned_pids(self) -> set:
        """The processes a client of this cluster may find answering: its running nodes'."""
        return {s.pid for s in self.servers if s.pid is not None}

    def node_client(self, index: int, **kwargs):
        """A plain (guarded, owned) client for one node: it does not follow redirections."""
        return self.servers[index].client(**kwargs)

    def nodes(self) -> pd.DataFrame:
        """The cluster as a running node sees it: one row per node with ``port``, ``role``,
        ``master`` (index of the node it replicates), ``slots``, ``flags``."""
        admin = next(a for a, s in zip(self._admin, self.servers) if s.running)
        view = admin.execute_command("CLUSTER NODES")
        index = {node_id: i for i, node_id in enumerate(self.ids)}
        rows = []
        for address, node in view.items():
            i = index[node["node_id"]]
            role = "master" if "master" in node["flags"] else "replica"
            slots = sum(int(b) - int(a) + 1 for a, *rest in node["slots"]
                        for b in [rest[0] if rest else a])
            rows.append({"node": i, "port": self.servers[i].port, "role": role,
                         "master": index.get(node["master_id"]), "slots": slots,
                         "flags": node["flags"], "running": self.servers[i].running})
        # a master replicates no one: a nullable integer column shows <NA> there, and 0, 1,
        # 2 (not 0.0, 1.0, 2.0) for the replicas
        return pd.DataFrame(rows).astype({"master": "Int64"}).set_index("node").sort_index()

    def owner(self, slot: int) -> int:
        """Index of the node serving ``slot`` now."""
        admin = next(a for a, s in zip(self._admin, self.servers) if s.running)
        for start, end, master, *_ in admin.execute_command("CLUSTER SLOTS"):
            if int(start) <= slot <= int(end):
                return self.ports.index(int(master[1]))
        raise LookupError(f"no node serves slot {slot}")

    # --- resharding and failover ------------------------------------------------------------

    def move_slots(self, slots, target: int, *, batch: int = 100) -> dict:
        """Move ``slots`` to master ``target`` the way ``redis-cli --cluster reshard`` does:
        ``SETSLOT IMPORTING`` on the target, ``MIGRATING`` on the source, ``MIGRATE`` the keys
        in batches, then ``SETSLOT NODE`` on the target, the source and the other masters.

        Returns ``{"slots": n, "keys": keys moved}``.
        """
        target = int(target)
        slots = [int(s) for s in slots]
        nodes = self.nodes()
        masters = list(nodes.index[(nodes["role"] == "master") & nodes["running"]])
        if target not in masters:
            raise ValueError(f"target must be the index of a running master {masters}, got "
                             f"{target}")
        owners = self._slot_owners()
        moved = 0
        for slot in slots:
            source = owners[slot]
            if source != target:
                moved += self._move_slot(slot, source, target, masters, batch)
        return {"slots": len(slots), "keys": moved}

    def _slot_owners(self) -> dict:
        admin = next(a for a, s in zip(self._admin, self.servers) if s.running)
        owners = {}
        for start, end, master, *_ in admin.execute_command("CLUSTER SLOTS"):
            owners.update(dict.fromkeys(range(int(start), int(end) + 1),
                                        self.ports.index(int(master[1]))))
        return owners

    def _move_slot(self, slot, source, target, masters, batch) -> int:
        src, dst = self._admin[source], self._admin[target]
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", self.ids[source])
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", self.ids[target])
        moved = 0
        while True:
            keys = src.execute_command("CLUSTER GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            src.execute_command("MIGRATE", HOST, self.servers[target].port, "", 0, 5000,
                                "KEYS", *keys)
            moved += len(keys)
        for i in [target, source] + [m for m in masters if m not in (source, target)]:
            self._admin[i].execute_command("CLUSTER SETSLOT", slot, "NODE", self.ids[target])
        return moved

    def kill_master(self, index: int, *, stall: float = 0.0) -> dict:
        """``kill -9`` master ``index``; return its ``port`` and the replication offsets just
        before, from ``INFO replication`` on both sides (bytes of the master's replication
        stream): ``offsets`` (each node's own: the master's ``master_repl_offset``, each
        replica's ``slave_repl_offset``, the bytes it had processed), ``acked`` (each replica's
        offset as the master last heard it, from its ``REPLCONF ACK`` once a second) and the
        master's ``replid``.

        With ``stall`` > 0 the replicas are stopped (``SIGSTOP``) for that many seconds before
        the kill and resumed after it, as a replica behind a congested link would be: the
        master keeps acknowledging writes its replicas do not read. Their offsets are then read
        just before they stop.
        """
        stall = v.nonnegative_real("stall", stall)
        nodes = self.nodes()
        if nodes.loc[index, "role"] != "master" or not self.servers[index].running:
            raise ValueError(f"index must be a running master, got {index}")
        if stall >= self.node_timeout / 1000:
            raise ValueError(f"stall must be shorter than the node timeout "
                             f"({self.node_timeout / 1000:g} s) or the replicas are marked "
                             f"failed, got {stall}")
        replicas = list(nodes.index[(nodes["master"] == index).fillna(False).to_numpy(bool)])
        offsets = {i: self._admin[i].info("replication")["slave_repl_offset"]
                   for i in replicas}
        pids = [self.servers[i].pid for i in replicas]
        stopped = []
        try:
            if stall:
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                time.sleep(stall)
            info = self._admin[index].info("replication")
            self._replicas_of[index] = replicas
            self.servers[index].crash()
            at = time.monotonic()
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        offsets[index] = info["master_repl_offset"]
        seen = {int(d["port"]): int(d["offset"]) for k, d in info.items()
                if k.startswith("slave") and isinstance(d, dict)}
        return {"killed": index, "replicas": replicas, "offsets": offsets,
                "acked": {i: seen.get(self.servers[i].port) for i in replicas},
                "replid": info["master_replid"], "at": at}

    def wait_for_failover(self, killed: int, timeout: float = 30.0) -> int:
        """Wait until a replica of ``killed`` is a master and the cluster is ok again; return
        the new master's index."""
        def promoted():
            nodes = self.nodes()
            new = nodes[(nodes["role"] == "master") & nodes["running"] & (nodes["slots"] > 0)]
            return len(new) == self.n_masters and killed not in new.index
        self._wait(promoted, timeout, "no replica was promoted")
        self._wait(lambda: all(a.cluster("INFO")["cluster_state"] == "ok"
                               for a, s in zip(self._admin, self.servers) if s.running),
                   timeout, "the cluster did not return to cluster_state:ok")
        nodes = self.nodes()
        return int(nodes.index[(nodes["role"] == "master") & nodes["running"]
                               & (nodes["slots"] > 0)
                               & nodes.index.isin(self._replicas_of[killed])][0])


# --- a load that runs while the cluster changes under it --------------------------------------

class LoadRunner:
    """Writes (``SET key seq``) and reads on a cluster client from a thread, every request
    logged: ``t`` and ``t_done`` (s since start, when the request was sent and when its reply
    or error came back), ``op``, ``key``, ``value``, ``ok``, ``error``.

    A write is *acknowledged* when ``ok``; :func:`lost_writes` later checks each key still holds
    its last acknowledged value (or a later one).

    Parameters
    ----------
    client : RedisCluster
    keys : list of str
        The keys the load picks from (uniformly, seeded).
    write_share : float
        Share of requests that are writes.
    fresh_keys : bool
        Write every value to a new key ``<picked key>:<seq>`` (the same slot when the picked
        key has a hash tag), so a later write never hides an earlier one: each acknowledged
        write can be checked alone.
    value_size : int, optional
        Write the sequence number zero-padded to this many bytes (default: as it is).
    """

    def __init__(self, client, keys, *, write_share: float = 0.5, fresh_keys: bool = False,
                 value_size: int | None = None, seed=None):
        self.client, self.keys = client, list(keys)
        self.write_share = v.fraction("write_share", write_share)
        self.fresh_keys = bool(fresh_keys)
        self.value_size = (None if value_size is None
                           else v.positive_int("value_size", value_size))
        self._rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log: list = []

    def start(self) -> "LoadRunner":
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def since_start(self, t: float) -> float:
        """A ``time.monotonic()`` reading on the log's clock (s since the load started)."""
        return t - self._t0

    def _run(self):
        seq = 0
        picks = self._rng.integers(0, len(self.keys), size=1 << 16)
        coins = self._rng.random(size=1 << 16) < self.write_share
        width = self.value_size or 0
        while not self._stop.is_set():
            i = seq & 0xFFFF
            key, write = self.keys[picks[i]], bool(coins[i])
            seq += 1
            if write and self.fresh_keys:
                key = f"{key}:{seq}"
            tic = time.monotonic()
            try:
                if write:
                    self.client.set(key, f"{seq:0{width}d}")
                else:
                    self.client.get(key)
                error = ""
            except redis.exceptions.RedisError as exc:
                error = type(exc).__name__
            toc = time.monotonic()
            if error:
                time.sleep(0.005)       # an application backs off a little after an error
            self._log.append((tic - self._t0, toc - self._t0, "SET" if write else "GET", key,
                              seq, not error, error))

    def stop(self) -> pd.DataFrame:
        """Stop the load and return its log."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        return pd.DataFrame(self._log, columns=["t", "t_done", "op", "key", "value", "ok",
                                                "error"])


def lost_writes(client, log: pd.DataFrame) -> int:
    """Keys whose last acknowledged write is gone (the key holds an older value or none)."""
    acked = log[(log["op"] == "SET") & log["ok"]].groupby("key")["value"].max()
    if acked.empty:
        return 0
    lost = 0
    for key, value in acked.items():
        stored = client.get(key)
        if stored is None or int(stored) < int(value):
            lost += 1
    return lost


def error_window(log: pd.DataFrame) -> float:
    """Seconds from the first failed request to the last one (0 when none failed)."""
    failed = log.loc[~log["ok"], "t"]
    return float(failed.max() - failed.min()) if len(failed) else 0.0


# --- the lesson's experiments, one call each ------------------------------------------------

def slot_owner_array(cluster: PrivateCluster) -> tuple[np.ndarray, list[int]]:
    """``(owners, masters)``: for each of the 16,384 slots the position in ``masters`` (node
    indexes of the running masters, in order) of the master that serves it."""
    owners_by_node = cluster._slot_owners()
    masters = sorted(set(owners_by_node.values()))
    position = {m: i for i, m in enumerate(masters)}
    owners = np.array([position[owners_by_node[s]] for s in range(N_SLOTS)], dtype=np.int64)
    return owners, masters


def load_per_master(cluster: PrivateCluster, key_names, batch: int = 500) -> pd.DataFrame:
    """GET every key in ``key_names`` through the cluster client (pipelined per node) and
    count, on each master, the commands it processed (``INFO stats``): the live load per
    shard. Returns one row per master: ``node``, ``requests``, ``share``."""
    _, masters = slot_owner_array(cluster)
    admins = [cluster._admin[m] for m in masters]
    before = [a.info("stats")["total_commands_processed"] for a in admins]
    rc = cluster.client()
    for i in range(0, len(key_names), batch):
        pipe = rc.pipeline(transaction=False)
        for name in key_names[i:i + batch]:
            pipe.get(name)
        pipe.execute()
    after = [a.info("stats")["total_commands_processed"] for a in admins]
    done = np.array(after) - np.array(before) - 1     # the first INFO counts itself
    table = pd.DataFrame({"node": masters, "requests": done})
    table["share"] = table["requests"] / table["requests"].sum()
    return table


def reshard_under_load(cluster: PrivateCluster, slots, target: int, *, per_slot: int = 20,
                       settle: float = 0.2, seed=None) -> dict:
    """Fill ``per_slot`` keys into each slot in ``slots``, start a load on exactly those keys,
    move the slots to master ``target`` under it, and report what the application saw."""
    from ..sharding import keys_in_slots
    from .client import namespace

    names = keys_in_slots(slots, per_slot, prefix=namespace() + "reshard")
    rc = cluster.client()
    for i in range(0, len(names), 500):
        rc.mset_nonatomic({n: 0 for n in names[i:i + 500]})
    runner = LoadRunner(cluster.client(), names, seed=seed).start()
    time.sleep(settle)
    tic = time.monotonic()
    moved = cluster.move_slots(slots, target)
    seconds = time.monotonic() - tic
    time.sleep(settle)
    log = runner.stop()
    return {"slots_moved": moved["slots"], "keys_moved": moved["keys"],
            "seconds": seconds, "requests": len(log),
            "MOVED": runner.client.redirections["MOVED"], "ASK": runner.client.redirections["ASK"],
            "errors_seen_by_app": int((~log["ok"]).sum()),
            "acknowledged_writes_lost": lost_writes(rc, log)}


# a master also sends its replicas a PING every repl-ping-replica-period seconds (10 s)
PING_BYTES = len(b"*1\r\n$4\r\nPING\r\n")


def resp_length(*args) -> int:
    """Bytes of a command as a RESP array of bulk strings: what redis-py sends, and what a
    master copies into its replication stream for a plain ``SET key value`` (str as UTF-8,
    numbers as their text)."""
    from ..sharding import _key_bytes

    total = len(f"*{len(args)}\r\n")
    for arg in args:
        n = len(_key_bytes(arg, "arg"))
        total += len(f"${n}\r\n") + n + 2
    return total


def writes_in_stream(lengths, stream_bytes: int, max_pings: int = 1) -> tuple[int, int]:
    """``(n, pings)``: how many of a master's writes, in the order it ran them and of
    ``lengths`` bytes each, make up exactly ``stream_bytes`` of its replication stream, with
    ``pings`` PINGs (14 bytes each, at most ``max_pings``) among them. A replica's processed
    offset always falls between two commands, so one ``n`` fits exactly.

    Raises
    ------
    ValueError
        If no number of writes and PINGs fits exactly: the stream held something else.
    """
    stream_bytes = v.nonnegative_int("stream_bytes", stream_bytes)
    cumulative = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
    for pings in range(v.nonnegative_int("max_pings", max_pings) + 1):
        target = stream_bytes - pings * PING_BYTES
        n = int(np.searchsorted(cumulative, target))
        if target >= 0 and n < len(cumulative) and cumulative[n] == target:
            return n, pings
    raise ValueError(f"stream_bytes must be the bytes of a prefix of the writes plus up to "
                     f"{max_pings} PINGs, got {stream_bytes} (writes total "
                     f"{int(cumulative[-1])} bytes)")


def _in_sync(master, replica, timeout: float = 10.0) -> int:
    """Wait until ``replica`` has processed all of ``master``'s replication stream; return
    that offset."""
    deadline = time.monotonic() + timeout
    while True:
        offset = master.info("replication")["master_repl_offset"]
        if replica.info("replication")["slave_repl_offset"] == offset:
            return offset
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replica did not catch up within {timeout} s")
        time.sleep(0.01)


def failover_under_load(cluster: PrivateCluster, master: int, *, n_keys: int = 2000,
                        settle: float = 0.3, stall: float = 0.0, value_size: int | None = None,
                        seed=None) -> tuple[dict, pd.DataFrame]:
    """Run a write load on keys served by ``master``, ``kill -9`` it, wait for its replica to
    take over, and account for every acknowledged write with the replication offsets.

    Each write goes to a key of its own (``LoadRunner(fresh_keys=True)``), so each can be
    checked alone. Before the load, the replica is in sync at offset ``B``. After the
    promotion, the new master's ``second_repl_offset - 1`` is exactly the offset ``R`` it had
    processed from the dead master. The master ran the writes one at a time in the load's
    order, each a ``SET`` of known RESP length, so the ``R - B`` bytes are the first ``n``
    writes (plus any 14-byte PING the master sent its replica meanwhile): the writes after the
    first ``n`` that the old master acknowledged are the ones replication should have lost.
    They are compared with the acknowledged writes actually missing afterwards.

    Parameters
    ----------
    stall : float
        Seconds the replica is stopped just before the kill (see
        :meth:`PrivateCluster.kill_master`): it falls behind, as across a congested link.
    value_size : int, optional
        Bytes per value (the sequence number zero-padded); larger values fill the socket
        buffers sooner, so a stalled replica misses more.

    Returns
    -------
    (dict, DataFrame)
        The report: ``seconds_to_promotion``, ``errors_seen_by_app``, ``seconds_with_errors``,
        the offsets read just before the kill (``master_offset_before_kill``,
        ``replica_offset_before_kill``, ``replica_acked_offset_before_kill``), ``base_offset``
        (B), ``replica_offset_at_kill`` (R), ``acknowledged_writes``,
        ``writes_replicated`` (n), ``acknowledged_writes_not_replicated`` (what the offsets
        predict is lost) and their ``bytes_not_replicated``, ``acknowledged_writes_lost``
        (missing afterwards) and ``lost_writes_match_offsets`` (the two sets of writes are the
        same). Also the quick estimate: ``writes_lost_by_offsets``, the bytes between the
        master's offset read just before the kill and ``R``, over ``bytes_per_write`` (the mean
        RESP length of a write); it misses the ``writes_after_master_offset_read``, which
        the master ran between that reading and the kill. The log gains
        ``acked_by_old_master``, ``replicated`` and ``survived``.
    """
    from ..sharding import keys_in_slots
    from .client import namespace

    owners_by_node = cluster._slot_owners()
    mine = [s for s in range(N_SLOTS) if owners_by_node[s] == master]
    names = keys_in_slots(mine[::max(1, len(mine) // 100)][:100], max(1, n_keys // 100),
                          prefix=namespace() + "failover")
    replicas = list(cluster.nodes().query(f"master == {int(master)}").index)
    if not replicas:
        raise ValueError(f"master must have a replica to fail over to, got {master}")
    rc = cluster.client()
    rc.set(names[0] + ":before", 0)       # the stream has selected db 0: from here, only SETs
    base = _in_sync(cluster._admin[master], cluster._admin[replicas[0]])
    period = int(cluster._admin[master].config_get("repl-ping-replica-period")
                 ["repl-ping-replica-period"])
    t_base = time.monotonic()
    # no retries: each write is sent once, to the node the client's slot map names, so a write
    # sent before the kill and acknowledged was acknowledged by the old master (a retry could
    # be acknowledged by the new one); after an error the client still reloads its slot map
    load_client = cluster.client(socket_timeout=0.5, socket_connect_timeout=0.2,
                                 retry=Retry(NoBackoff(), 0))
    runner = LoadRunner(load_client, names, write_share=1.0, fresh_keys=True,
                        value_size=value_size, seed=seed).start()
    time.sleep(settle)
    killed = cluster.kill_master(master, stall=stall)
    dead = runner.since_start(killed["at"])
    promoted = cluster.wait_for_failover(master)
    promotion = time.monotonic() - killed["at"]
    info = cluster._admin[promoted].info("replication")
    if info["master_replid2"] != killed["replid"]:
        raise RuntimeError("the promoted replica does not continue the dead master's stream")
    at_kill = int(info["second_repl_offset"]) - 1
    time.sleep(settle)
    log = runner.stop()

    writes = log[log["op"] == "SET"]
    acked = writes[writes["ok"] & (writes["t"] < dead)]
    # the write that failed at the kill may have run on the master all the same
    pending = writes[(writes["t"] < dead) & ~writes["ok"]].head(1)
    ran = pd.concat([acked, pending]).sort_values("value")
    width = value_size or 0
    lengths = pd.Series([resp_length("SET", k, f"{x:0{width}d}")
                         for k, x in zip(ran["key"], ran["value"])], index=ran.index)
    pings = int((killed["at"] - t_base) // period) + 1
    n, _ = writes_in_stream(lengths, at_kill - base, max_pings=pings)
    # how many the master had run when its offset was read, a moment before the kill
    ran_at_info, _ = writes_in_stream(lengths, killed["offsets"][master] - base,
                                      max_pings=pings)
    replicated = ran.index[:n]
    stored, rc = [], cluster.client()     # a client that learns the new slot map
    keys = list(acked["key"])
    for i in range(0, len(keys), 1000):
        stored.extend(rc.mget_nonatomic(keys[i:i + 1000]))
    survived = pd.Series([s == f"{x:0{width}d}" for s, x in zip(stored, acked["value"])],
                         index=acked.index, dtype=bool)
    log["acked_by_old_master"] = log.index.isin(acked.index)
    log["replicated"] = log.index.isin(replicated)
    log["survived"] = log.index.map(survived).astype(object)
    predicted = set(acked.index) - set(replicated)
    lost = set(survived.index[~survived])
    offsets, seen = killed["offsets"], killed["acked"]
    per_write = float(lengths[acked.index].mean()) if len(acked) else float("nan")
    behind = int(offsets[master]) - at_kill
    return ({"killed": master, "promoted": promoted, "seconds_to_promotion": promotion,
             "requests": len(log), "errors_seen_by_app": int((~log["ok"]).sum()),
             "seconds_with_errors": error_window(log), "replica_stall_s": stall,
             "master_offset_before_kill": int(offsets[master]),
             "replica_offset_before_kill": int(offsets[replicas[0]]),
             "replica_acked_offset_before_kill": seen[replicas[0]],
             "base_offset": int(base), "replica_offset_at_kill": at_kill,
             "acknowledged_writes": len(acked), "writes_replicated": n,
             "acknowledged_writes_not_replicated": len(predicted),
             "bytes_not_replicated": int(lengths[sorted(predicted)].sum()),
             "bytes_per_write": per_write,
             "writes_lost_by_offsets": max(0, round(behind / per_write)) if len(acked) else 0,
             "writes_after_master_offset_read": len(ran) - ran_at_info,
             "acknowledged_writes_lost": len(lost),
             "lost_writes_match_offsets": predicted == lost}, log)
