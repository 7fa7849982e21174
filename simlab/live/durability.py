"""Durability, measured by crashing private redis-servers (lesson 10).

Each experiment starts its own :class:`~simlab.live.server.PrivateRedis` with persistence
settings, streams numbered writes at it (``wb:dur:<id>``), logs every write the server
acknowledged, ``kill -9`` s it, restarts it on the same folder and counts the acknowledged
writes that did not come back. Nothing touches any other server; every folder is removed at
the end (``with PrivateRedis(...)``).

Times in seconds, sizes in bytes; tables have one row per run.
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _validate as v
from .. import durability as model
from .client import guarded_client
from .server import HOW_TO_INSTALL, PrivateRedis, RedisServerNotFound, redis_server_binary

KEY = "wb:dur:"
POLICIES = model.POLICIES


def persistence_config(policy: str, *, save_seconds: int = 1) -> dict:
    """Server settings for a persistence policy (``none``, ``rdb``, ``aof-no``,
    ``aof-everysec``, ``aof-always``)."""
    v.choice("policy", policy, POLICIES)
    model.snapshot_period(save_seconds)       # validates
    config = {"save": "", "appendonly": "no", "enable-debug-command": "local"}
    if policy == "rdb":
        config["save"] = f"{save_seconds} 1"
    elif policy.startswith("aof-"):
        config.update({"appendonly": "yes", "appendfsync": policy[4:]})
    return config


def _need_server():
    if redis_server_binary() is None:
        raise RedisServerNotFound("this experiment crashes a private redis-server, and there is "
                                  f"no redis-server binary on the PATH: {HOW_TO_INSTALL}.")


def _client(server: PrivateRedis):
    return guarded_client(server.url, server=server, decode_responses=False, socket_timeout=60)


def wait_loaded(r, timeout: float = 600.0) -> float:
    """Wait until the server has loaded its data set (``loading:0``); return the seconds."""
    import redis

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            if int(r.info("persistence")["loading"]) == 0:
                return time.perf_counter() - start
        except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError):
            pass
        time.sleep(0.005)
    raise TimeoutError(f"the server was still loading after {timeout} s")


def _write_stream(r, *, write_rate, seconds, value, start_id=0):
    """SET ``wb:dur:<id>`` one after another for ``seconds`` (paced at ``write_rate`` a
    second; ``None``: as fast as the server answers). Returns acknowledged ids, their
    acknowledgement times (s since the start) and latencies (s)."""
    import redis

    n_max = int((write_rate or 200_000) * seconds) + 1
    ids = np.empty(n_max, dtype=np.int64)
    acked = np.empty(n_max)
    latency = np.empty(n_max)
    n = 0
    t0 = time.perf_counter()
    now = t0
    while n < n_max and now - t0 < seconds:
        if write_rate:
            due = t0 + n / write_rate
            if due > now:
                time.sleep(due - now)
        before = time.perf_counter()
        try:
            r.execute_command("SET", f"{KEY}{start_id + n}", value)
        except redis.exceptions.ConnectionError:
            break
        now = time.perf_counter()
        ids[n], acked[n], latency[n] = start_id + n, now - t0, now - before
        n += 1
    return ids[:n], acked[:n], latency[:n]


def _present(r, ids) -> np.ndarray:
    """Which of the ids' keys exist (MGET in chunks)."""
    found = np.zeros(len(ids), dtype=bool)
    for lo in range(0, len(ids), 2000):
        chunk = ids[lo:lo + 2000]
        values = r.mget([f"{KEY}{i}" for i in chunk])
        found[lo:lo + len(chunk)] = [x is not None for x in values]
    return found


def _p(latency, q) -> float:
    return float(np.quantile(latency, q) * 1e3) if len(latency) else float("nan")


def process_crash(policy: str, *, write_rate: float = 2000.0, duration: float = 3.0,
                  crash_at: float | None = None, value_size: int = 100, save_seconds: int = 1,
                  crash_phase: float | None = None, seed: int | None = None) -> dict:
    """Stream writes at a private server, ``kill -9`` it, restart it, count what was lost.

    Parameters
    ----------
    policy : {"none", "rdb", "aof-no", "aof-everysec", "aof-always"}
    write_rate : float
        Writes a second (paced; the machine may not keep up with ``always``).
    duration : float
        Seconds; the crash comes at a random moment in its second half unless ``crash_at``.
    crash_at : float, optional
        Seconds of writing before the crash (with ``crash_phase``: at least that many).
    crash_phase : float, optional
        In [0, 1): crash at this point of the RDB snapshot cycle, counted from the server's
        whole-second clock (``rdb_last_save_time``), so that crashes at evenly spread phases
        average over one cycle exactly.
    seed : int, optional
        Draws the crash moment.

    Returns
    -------
    dict
        ``acknowledged``, ``lost``, ``lost_ids_range`` (first and last lost id, or None),
        ``lost_are_newest`` (the lost writes are the last ones acknowledged),
        ``changes_since_save`` and ``save_in_progress`` (``INFO persistence`` just before the
        crash: with no snapshot in progress, RDB loses exactly that many), ``restart_s``,
        ``write_p50_ms``, ``write_p99_ms``, ``model_lost``, ``crash_at``, ``seed``,
        ``elapsed_s``.
    """
    v.choice("policy", policy, POLICIES)
    v.positive_real("write_rate", write_rate)
    v.positive_real("duration", duration)
    v.value_bytes("value_size", value_size)
    if crash_at is None:
        crash_at = float(np.random.default_rng(seed).uniform(duration / 2, duration))
    v.positive_real("crash_at", crash_at)
    _need_server()
    start = time.perf_counter()
    with PrivateRedis(persistence_config(policy, save_seconds=save_seconds)) as server:
        r = _client(server)
        if crash_phase is not None:
            crash_at = _seconds_to_phase(r, crash_at, crash_phase, save_seconds)
        ids, _, latency = _write_stream(r, write_rate=write_rate, seconds=crash_at,
                                        value=b"x" * value_size)
        info = r.info("persistence")
        r.close()
        server.crash()
        begin = time.perf_counter()
        server.restart()
        r = _client(server)
        wait_loaded(r)
        restart_s = time.perf_counter() - begin
        present = _present(r, ids)
        r.close()
    lost_ids = ids[~present]
    n = len(ids)
    result = {
        "policy": policy, "acknowledged": n, "lost": int(len(lost_ids)),
        "lost_ids_range": ([int(lost_ids[0]), int(lost_ids[-1])] if len(lost_ids) else None),
        "lost_are_newest": bool(np.all(present[: n - len(lost_ids)])),
        "changes_since_save": int(info.get("rdb_changes_since_last_save", -1)),
        "save_in_progress": bool(int(info.get("rdb_bgsave_in_progress", 0))),
        "restart_s": restart_s, "write_p50_ms": _p(latency, 0.5),
        "write_p99_ms": _p(latency, 0.99),
        "model_lost": model.expected_loss(policy, n / crash_at, "process", duration=crash_at,
                                          save_seconds=save_seconds),
        "crash_at": crash_at, "seed": seed, "elapsed_s": time.perf_counter() - start}
    return result


def _seconds_to_phase(r, at_least, phase, save_seconds) -> float:
    """Seconds from now to the next moment at ``phase`` of the snapshot cycle, at least
    ``at_least`` away. Snapshots start just after whole seconds last_save + k * period."""
    v.fraction("crash_phase", phase)
    period = model.snapshot_period(save_seconds)
    last = int(r.info("persistence")["rdb_last_save_time"])
    now = time.time()
    cycles = np.ceil((now + at_least - last - phase * period) / period)
    return float(last + (cycles + phase) * period - now)


def crash_table(policies=POLICIES, *, seed: int = 0, rdb_phase: float | None = None,
                **kwargs) -> pd.DataFrame:
    """:func:`process_crash` for each policy (one seeded crash moment each), as a table.

    ``rdb_phase`` (in [0, 1)): RDB's crash comes after its first snapshot, at that point of
    the snapshot cycle (a short ``duration`` would otherwise crash it before any snapshot,
    and it would lose everything, like no persistence)."""
    rng = np.random.default_rng(seed)
    if rdb_phase is not None:
        rdb_phase = v.fraction("rdb_phase", rdb_phase)
    rows = []
    for p in policies:
        moment = int(rng.integers(2**31))
        if p == "rdb" and rdb_phase is not None:
            period = model.snapshot_period(kwargs.get("save_seconds", 1))
            rdb_kwargs = {k: val for k, val in kwargs.items() if k != "duration"}
            rows.append(process_crash(p, seed=moment, crash_at=period, crash_phase=rdb_phase,
                                      **rdb_kwargs))
        else:
            rows.append(process_crash(p, seed=moment, **kwargs))
    return pd.DataFrame(rows).set_index("policy")


def rdb_crashes(n: int = 10, *, write_rate: float = 1000.0, save_seconds: int = 1,
                first_crash: float | None = None, seed: int = 0) -> pd.DataFrame:
    """``n`` RDB crashes at phases spread evenly over the snapshot cycle (after at least
    ``first_crash`` seconds of writing), so their mean is the cycle's average loss; one row each."""
    v.positive_int("n", n)
    period = model.snapshot_period(save_seconds)
    first_crash = period if first_crash is None else first_crash
    # snapshots start at a cron tick (0-0.1 s) after the whole second: centre the grid on it
    offset = model.CRON_TICK / 2 / period + 0.5 / n
    rows = [process_crash("rdb", write_rate=write_rate, crash_at=first_crash,
                          crash_phase=(offset + i / n) % 1.0, save_seconds=save_seconds,
                          seed=seed) for i in range(n)]
    return pd.DataFrame(rows)


def write_price(policy: str, *, seconds: float = 1.0, value_size: int = 100) -> dict:
    """Throughput (writes a second, one client, back to back) and write latency for a policy,
    on a private server whose files are on this machine's disk (the temporary folder)."""
    v.choice("policy", policy, POLICIES)
    v.positive_real("seconds", seconds)
    _need_server()
    with PrivateRedis(persistence_config(policy)) as server:
        r = _client(server)
        _, acked, latency = _write_stream(r, write_rate=None, seconds=seconds,
                                          value=b"x" * value_size)
        r.close()
    return {"policy": policy, "writes": len(latency),
            "writes_per_s": len(latency) / acked[-1] if len(acked) else 0.0,
            "p50_ms": _p(latency, 0.5), "p99_ms": _p(latency, 0.99)}


def price_table(policies=POLICIES, *, seconds: float = 1.0, value_size: int = 100):
    """:func:`write_price` for each policy, as a table: one private server, switched from
    policy to policy with ``CONFIG SET`` (turning the AOF on writes it first)."""
    v.positive_real("seconds", seconds)
    for policy in policies:
        v.choice("policy", policy, POLICIES)
    _need_server()
    rows = []
    with PrivateRedis(persistence_config("none")) as server:
        r = _client(server)
        for policy in policies:
            for name, value in persistence_config(policy).items():
                if name != "enable-debug-command":
                    r.config_set(name, value)
            _wait_idle(r)
            _, acked, latency = _write_stream(r, write_rate=None, seconds=seconds,
                                              value=b"x" * value_size)
            rows.append({"policy": policy, "writes": len(latency),
                         "writes_per_s": len(latency) / acked[-1] if len(acked) else 0.0,
                         "p50_ms": _p(latency, 0.5), "p99_ms": _p(latency, 0.99)})
        r.close()
    return pd.DataFrame(rows).set_index("policy")


LOADED = re.compile(r"DB loaded from (disk|append only file): ([\d.]+) seconds")


def _disk_bytes(folder: str) -> int:
    files = [p for p in Path(folder).rglob("*") if p.is_file()
             and (p.suffix in (".rdb", ".aof") or p.name.startswith("appendonly"))]
    return sum(p.stat().st_size for p in files)


def _wait_idle(r, timeout: float = 600.0):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        info = r.info("persistence")
        if not (int(info["aof_rewrite_in_progress"]) or int(info["rdb_bgsave_in_progress"])
                or int(info.get("aof_rewrite_scheduled", 0))):
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError(f"the background save or rewrite took more than {timeout} s")


def load_time(fmt: str, keys: int, *, value_size: int = 100) -> dict:
    """Fill a private server with ``keys`` keys (``DEBUG POPULATE``), persist them as ``rdb``
    or ``aof`` (commands only, no RDB preamble), crash it and time the restart.

    Returns ``keys``, ``disk_bytes``, ``load_s`` (the server's own log line) and ``ready_s``
    (from restart to ``loading:0``, process start included).
    """
    v.choice("fmt", fmt, ("rdb", "aof"))
    v.positive_int("keys", keys)
    v.value_bytes("value_size", value_size)
    _need_server()
    config = persistence_config("none")
    if fmt == "aof":
        config.update({"appendonly": "yes", "appendfsync": "no", "aof-use-rdb-preamble": "no"})
    with PrivateRedis(config) as server:
        r = _client(server)
        r.execute_command("DEBUG", "POPULATE", keys, KEY, value_size)
        if fmt == "rdb":
            r.save()
        else:
            r.bgrewriteaof()
            _wait_idle(r)
        r.close()
        size = _disk_bytes(server.folder)
        server.crash()
        begin = time.perf_counter()
        server.restart()
        r = _client(server)
        wait_loaded(r)
        ready = time.perf_counter() - begin
        r.close()
        log = Path(server.folder, "redis.log").read_text()
    found = LOADED.findall(log)
    return {"format": fmt, "keys": keys, "disk_bytes": size,
            "load_s": float(found[-1][1]) if found else float("nan"), "ready_s": ready}


def aof_rewrite(*, keys: int = 1000, updates: int = 20, value_size: int = 100) -> dict:
    """Grow an AOF with ``updates`` rewrites of each of ``keys`` keys, then ``BGREWRITEAOF``:
    the file before and after, and how long the rewrite took."""
    v.positive_int("keys", keys)
    v.positive_int("updates", updates)
    _need_server()
    config = persistence_config("aof-no")
    config["aof-use-rdb-preamble"] = "no"
    with PrivateRedis(config) as server:
        r = _client(server)
        value = b"x" * value_size
        for _ in range(updates):
            pipe = r.pipeline(transaction=False)
            for i in range(keys):
                pipe.set(f"{KEY}{i}", value)
            pipe.execute()
        before = _disk_bytes(server.folder)
        start = time.perf_counter()
        r.bgrewriteaof()
        _wait_idle(r)
        took = time.perf_counter() - start
        after = _disk_bytes(server.folder)
        r.close()
    return {"keys": keys, "writes": keys * updates, "aof_bytes_before": before,
            "aof_bytes_after": after, "rewrite_s": took}


def _resp_bytes(*parts: bytes) -> int:
    """Bytes of a command in the replication stream (RESP)."""
    return len(f"*{len(parts)}\r\n") + sum(len(f"${len(p)}\r\n") + len(p) + 2 for p in parts)


def failover(*, write_rate: float | None = None, seconds: float = 1.0, wait: bool = False,
             wait_timeout_ms: int = 1000, value_size: int = 100, lag: float = 0.0) -> dict:
    """A primary and a replica (both private, no persistence): writes to the primary, then
    ``kill -9`` the primary, promote the replica, count acknowledged writes it lacks.

    With ``wait=True`` every write is followed by ``WAIT 1 wait_timeout_ms``: acknowledged
    means "the replica has it too" (when WAIT answers 1).

    With ``lag`` > 0 the replica is stopped (``SIGSTOP``) for the last ``lag`` seconds of the
    writes and resumed after the kill, as a replica behind a congested link or in a long pause
    would be: the primary keeps acknowledging writes the replica does not read. Without it, on
    loopback, the replica keeps up within microseconds and nothing is lost. The kernel still
    buffers a few megabytes of the stream for a stopped replica (delivered after the kill), so
    the loss shows when the writes outgrow that: large values (``value_size`` 64 KB: tens of
    megabytes in 0.3 s).

    Returns ``acknowledged``, ``lost``, ``unreplicated_bytes`` (the primary's offset at the
    crash less the replica's final offset), ``bound_writes`` (those bytes in whole writes:
    the most that can be lost), ``p50_ms``, ``p99_ms`` and ``writes_per_s``, with ``wait``,
    ``lag_s`` and ``value_size``.
    """
    v.positive_real("seconds", seconds)
    lag = v.nonnegative_real("lag", lag)
    if lag >= seconds:
        raise ValueError(f"lag must be shorter than seconds ({seconds!r}), got {lag!r}")
    _need_server()
    # no 5-second wait for more replicas before the first full sync
    with PrivateRedis({**persistence_config("none"), "repl-diskless-sync-delay": 0}) as primary, \
            PrivateRedis(persistence_config("none")) as replica:
        rr = _client(replica)
        rr.execute_command("REPLICAOF", "127.0.0.1", primary.port)
        deadline = time.monotonic() + 10
        r = _client(primary)
        # The stream flowing, not only "link up" on the replica's side or "online" on the
        # primary's: after a diskless sync the primary holds the stream back until the
        # replica's first ACK (up to 1 s), so a write is confirmed by WAIT before the run.
        while not (rr.info("replication").get("master_link_status") == "up"
                   and r.info("replication").get("slave0", {}).get("state") == "online"
                   and r.set(f"{KEY}ready", 1) and r.execute_command("WAIT", 1, 100) == 1):
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not connect to the primary in 10 s")
            time.sleep(0.01)
        value = b"x" * value_size
        ids, latency, t0, n = [], [], time.perf_counter(), 0
        stopped = False
        try:
            while time.perf_counter() - t0 < seconds:
                if lag and not stopped and time.perf_counter() - t0 >= seconds - lag:
                    os.kill(replica.pid, signal.SIGSTOP)
                    stopped = True
                n = _one_write(r, n, ids, latency, value, wait, wait_timeout_ms, write_rate, t0)
                if n is None:
                    break
            elapsed = time.perf_counter() - t0
            offset = int(r.info("replication")["master_repl_offset"])
            r.close()
            primary.crash()
        finally:
            if stopped:
                os.kill(replica.pid, signal.SIGCONT)
        final = _drained_offset(rr)
        rr.execute_command("REPLICAOF", "NO", "ONE")
        ids = np.asarray(ids, dtype=np.int64)
        present = _present(rr, ids)
        rr.close()
    unreplicated = max(0, offset - final)
    # the newest writes whose first byte lies in the unreplicated tail of the stream (the
    # oldest of them may have arrived in part: received bytes, but no write)
    sizes = [_resp_bytes(b"SET", f"{KEY}{i}".encode(), value) for i in ids[::-1]]
    bound = int(np.searchsorted(np.cumsum(sizes), unreplicated, side="left") + 1
                if unreplicated else 0)
    latency = np.asarray(latency)
    return {"wait": wait, "lag_s": lag, "value_size": value_size, "acknowledged": len(ids),
            "lost": int((~present).sum()), "unreplicated_bytes": unreplicated,
            "bound_writes": min(bound, len(ids)), "writes_per_s": len(ids) / elapsed,
            "p50_ms": _p(latency, 0.5), "p99_ms": _p(latency, 0.99)}


FAILOVERS = (
    {"seconds": 0.3},
    {"seconds": 0.6, "lag": 0.3, "value_size": 65_536},
    {"seconds": 0.6, "lag": 0.3, "value_size": 65_536, "wait": True, "wait_timeout_ms": 100},
)
"""Notebook 10's failovers: a replica that keeps up; one stopped for the last 0.3 s of 64 KB
writes (a congested link), the primary killed; the same with ``WAIT 1 100`` after each write."""


def failovers() -> pd.DataFrame:
    """:func:`failover` for each of :data:`FAILOVERS`, one row each."""
    return pd.DataFrame([failover(**options) for options in FAILOVERS])


def _one_write(r, n, ids, latency, value, wait, wait_timeout_ms, write_rate, t0):
    """Write number ``n`` (paced at ``write_rate``); log it if acknowledged; the next number,
    or None once the primary is gone."""
    import redis

    if write_rate:
        due = t0 + n / write_rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
    before = time.perf_counter()
    try:
        r.execute_command("SET", f"{KEY}{n}", value)
        if wait and r.execute_command("WAIT", 1, wait_timeout_ms) < 1:
            return n + 1       # not confirmed by the replica: not counted as acknowledged
    except redis.exceptions.ConnectionError:
        return None
    latency.append(time.perf_counter() - before)
    ids.append(n)
    return n + 1


def _drained_offset(rr, settle: float = 0.05, timeout: float = 10.0) -> int:
    """The replica's offset once it has applied what reached it before the primary died (the
    stream the kernel still held for it): unchanged for ``settle`` seconds with the link
    down."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = rr.info("replication")
        offset = int(info.get("slave_repl_offset", 0))
        if offset != last:
            last, since = offset, time.monotonic()
        elif info.get("master_link_status") == "down" and time.monotonic() - since >= settle:
            break
        time.sleep(0.01)
    return last


def cold_start(policy: str, workload, room, *, window: int = 200) -> pd.DataFrame:
    """Run ``workload`` through cache-aside on a private server (warm), crash it, restart it
    (``none``: empty; ``rdb``: a snapshot taken just before the crash), and run the workload
    again: the hit ratio over time after the restart.

    Returns :func:`simlab.results.hit_ratio_over_time` of the second run, with
    ``db_queries`` (filing-room reads per window) and ``policy``.
    """
    from ..results import hit_ratio_over_time
    from .cache_aside import CacheAside

    v.choice("policy", policy, ("none", "rdb"))
    _need_server()
    with PrivateRedis(persistence_config("none")) as server:
        r = server.client()
        CacheAside(r, room, ttl=None).run(workload)
        if policy == "rdb":
            r.save()
        r.close()
        server.crash()
        server.restart()
        r = server.client()
        wait_loaded(r)
        df = CacheAside(r, room, ttl=None).run(workload)
        r.close()
    curve = hit_ratio_over_time(df, window=window)
    curve["db_queries"] = ((1 - curve["hit_ratio"]) * window).round().astype(int)
    curve["policy"] = policy
    return curve


# the reference run (data/durability_reference.json) --------------------------------------

REFERENCE_COMMAND = ".venv/bin/python -m simlab.live.durability data/durability_reference.json"
LOAD_KEYS = (100_000, 300_000, 1_000_000, 2_000_000)


def reference_run(*, load_keys=LOAD_KEYS, rdb_crash_count: int = 20) -> dict:
    """Every measurement of lesson 10, at full size: what ``data/durability_reference.json``
    holds (a few minutes)."""
    import datetime
    import os
    import platform

    from .server import redis_server_version

    _need_server()
    start = time.perf_counter()
    crashes = crash_table(write_rate=2000.0, duration=3.0, seed=0)
    rdb = rdb_crashes(rdb_crash_count, write_rate=1000.0)
    price = price_table(seconds=2.0)
    loads = [load_time(fmt, k) for k in load_keys for fmt in ("rdb", "aof")]
    return {
        "command": REFERENCE_COMMAND,
        "date": datetime.date.today().isoformat(),
        "machine": {"redis_server": redis_server_version(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg(), "platform": platform.platform(),
                    **model.kernel_writeback()},
        "process_crash": crashes.reset_index().to_dict("records"),
        "rdb_crashes": rdb[["crash_at", "acknowledged", "lost", "changes_since_save",
                            "save_in_progress", "model_lost"]].to_dict("records"),
        "price": price.reset_index().to_dict("records"),
        "load_time": loads,
        "aof_rewrite": aof_rewrite(keys=10_000, updates=20),
        "failover": failovers().to_dict("records"),
        "elapsed_s": time.perf_counter() - start,
    }


def load_reference(path=None) -> dict:
    """The reference run shipped in ``data/durability_reference.json``, with its tables as
    DataFrames (``process_crash``, ``rdb_crashes``, ``price``, ``load_time``, ``failover``)."""
    import json

    path = Path(path) if path else Path(__file__).resolve().parents[2] / "data" / \
        "durability_reference.json"
    ref = json.loads(path.read_text())
    for name in ("process_crash", "price"):
        ref[name] = pd.DataFrame(ref[name]).set_index("policy")
    for name in ("rdb_crashes", "load_time", "failover"):
        ref[name] = pd.DataFrame(ref[name])
    return ref


if __name__ == "__main__":
    import sys

    import json

    from .._validate import json_safe

    if len(sys.argv) != 2:
        sys.exit(f"usage: {REFERENCE_COMMAND}")
    Path(sys.argv[1]).write_text(json.dumps(json_safe(reference_run()), indent=1,
                                            allow_nan=False) + "\n")
    print(f"wrote {sys.argv[1]}")
