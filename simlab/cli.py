"""The ``simlab`` command line: ``doctor``, ``clean``, ``simulate``, ``mrc``, ``with-server``.

Bad arguments exit with status 2 and one line naming the argument and the rule.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block, no traceback
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(kind, rule, check):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value
    return parse


positive_int = _number(int, "a positive integer", lambda x: x > 0)
nonneg_int = _number(int, "a non-negative integer", lambda x: x >= 0)
positive_float = _number(float, "a positive number", lambda x: x > 0 and math.isfinite(x))
nonneg_float = _number(float, "a non-negative number", lambda x: x >= 0 and math.isfinite(x))
share = _number(float, "a number between 0 and 1", lambda x: 0 <= x <= 1)
samples_int = _number(int, "an integer from 1 to 64", lambda x: 1 <= x <= 64)
keys_int = _number(int, "a positive integer up to 2**53", lambda x: 0 < x <= 2 ** 53)
seconds = _number(float, "a number of seconds from 0 to 1e9",
                  lambda x: 0 <= x <= 1e9)
positive_seconds = _number(float, "a positive number of seconds up to 1e9",
                           lambda x: 0 < x <= 1e9)
value_bytes = _number(int, "a whole number of bytes from 1 to 536870912 (512 MB, the largest "
                      "string Redis keeps)", lambda x: 1 <= x <= 512 * 1024 ** 2)

# Defaults applied after the contradiction checks, so that those know what the user typed.
_DEFAULTS = {"zipf": 1.0, "keys": 100_000, "requests": 1_000_000, "samples": 5,
             "lfu_log_factor": 10.0, "lfu_decay_time": 1.0, "ttl_mode": "fixed",
             "read_fraction": 1.0}


def _flag(dest):
    return "--" + dest.replace("_", "-")


def _note_given(args):
    """Record which options the user gave (``args.given``), then fill in the defaults."""
    args.given = {name for name, value in vars(args).items()
                  if value is not None and value is not False and name not in
                  ("func", "command_name", "command", "json")}
    for name, value in _DEFAULTS.items():
        if getattr(args, name, False) is None:
            setattr(args, name, value)


def _refuse(args, names, why):
    for name in names:
        if name in args.given:
            raise ValueError(f"argument {_flag(name)}: {why}")


def _refuse_contradictions(args, redis_policy):
    """Flags that the chosen policy or trace would silently ignore are refused by name."""
    from .redis_cache import REDIS_POLICIES

    if redis_policy:
        _refuse(args, ["cache_size"], f"counts keys for the textbook policies; the Redis "
                f"policy {args.policy} limits bytes: use --maxmemory BYTES")
        if not args.policy.endswith("-lfu"):
            _refuse(args, ["lfu_log_factor", "lfu_decay_time"], "applies to allkeys-lfu and "
                    f"volatile-lfu, not {args.policy}")
        if args.policy in ("noeviction", "allkeys-random", "volatile-random"):
            _refuse(args, ["samples"], f"applies to the policies that sample (lru, lfu, ttl); "
                    f"{args.policy} does not")
    else:
        _refuse(args, ["samples", "value_size", "lfu_log_factor", "lfu_decay_time"],
                f"applies to the Redis policies ({', '.join(REDIS_POLICIES)}), "
                f"not {args.policy}")
    if args.trace:
        _refuse(args, ["read_fraction"], "the trace says which requests are reads (its 'op' "
                "column); give --trace or --read-fraction, not both")


def _sizes(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers, got {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}")
    return sizes


def trace_path(text):
    """``--trace``: a path, never empty (``--trace "$TRACE"`` with TRACE unset would run the
    synthetic workload instead, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give the trace file's path (a shell "
                                         "variable that is not set?)")
    return text


def _add_workload_args(p):
    p.add_argument("--trace", type=trace_path, metavar="PATH",
                   help="a trace: one key per line, or a CSV with key[,t,op,size,ttl]")
    p.add_argument("--zipf", type=nonneg_float, metavar="ALPHA",
                   help="Zipf skew of the synthetic workload (default 1.0; 0 is uniform)")
    p.add_argument("--keys", type=keys_int, metavar="N",
                   help="number of distinct keys (default 100000; any number up to 2**53)")
    p.add_argument("--requests", type=positive_int, metavar="R",
                   help="number of requests (default 1000000)")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None,
                   help="seed for every random draw (default: fresh, reported in the output)")


def _workload(args, *, rate=None, read_fraction=1.0, ttl=None, value_size=100):
    from .workloads import read_trace, zipf
    from ._random import resolve_seed

    args.seed = resolve_seed(args.seed)
    if args.trace:
        _refuse(args, ["keys", "zipf", "requests"], "the trace sets the keys and requests; "
                "give --trace or the synthetic workload's flags, not both")
        try:
            return read_trace(args.trace)
        except ValueError as exc:      # TraceError, BudgetError: one line naming the flag
            raise ValueError(f"argument --trace: {_one_line(exc)}") from None
    _check_budget(args)
    return zipf(args.keys, args.zipf, args.requests, rate=rate, read_fraction=read_fraction,
                ttl=ttl, value_size=value_size, seed=args.seed)


def _check_budget(args):
    """Refuse, before anything is drawn, a workload and table this machine cannot hold."""
    from . import _validate as v
    from .redis_cache import REDIS_POLICIES
    from .workloads import check_workload_memory

    if args.command_name == "mrc":
        extra, purpose = v.CURVE_BYTES_PER_READ, "the workload and its stack distances"
        advice = "use fewer requests"
    else:
        redis = args.policy in REDIS_POLICIES
        extra = v.REDIS_MODEL_BYTES_PER_REQUEST if redis else v.TABLE_BYTES_PER_REQUEST
        purpose = "the workload and the per-request table"
        advice = "use `simlab mrc` (no per-request table) or fewer requests"
    check_workload_memory(args.keys, args.requests, names=("--keys ", "--requests "),
                          extra_per_request=extra, purpose=purpose, advice=advice)


def _with_trace_overrides(workload, args):
    """Apply --rate and --ttl to a trace that does not carry its own."""
    import dataclasses

    import numpy as np

    from .workloads import poisson_arrivals
    from ._random import stream
    changes = {}
    columns = workload.params.get("columns", ())
    if args.rate is not None and "t" in columns:
        raise ValueError("argument --rate: the trace has a 't' column (its own arrival "
                         "times); use one or the other")
    if args.ttl is not None and "ttl" in columns:
        raise ValueError("argument --ttl: the trace has a 'ttl' column; use one or the other")
    if args.rate is not None and workload.times is None:
        changes["times"] = poisson_arrivals(len(workload), args.rate, stream(args.seed, "arrivals"))
    if args.ttl is not None and np.all(np.isnan(workload.ttls)):
        changes["ttls"] = np.full(len(workload), args.ttl)
    if args.value_size is not None:
        if "size" in workload.params.get("columns", ()):
            raise ValueError("argument --value-size: the trace has a 'size' column; use one "
                             "or the other")
        changes["sizes"] = np.full(len(workload), args.value_size, dtype=np.int64)
    elif "size" not in workload.params.get("columns", ()):
        changes["sizes"] = np.full(len(workload), 100, dtype=np.int64)
    return dataclasses.replace(workload, **changes) if changes else workload


def _load_kernels(run, workload, requests=16):
    """Seconds taken by ``run`` on the first ``requests`` requests of ``workload``.

    The first call of a compiled kernel loads it: from the module compiled ahead of time
    (:mod:`simlab._aot`, built by ``python -m simlab.warmup``: milliseconds, no Numba), else
    from Numba's on-disk cache (about 0.3 s; on a first run ever, compiles it). Running the same code on a few requests of the same
    workload, with the same types, does that before the timed section, so that ``elapsed_s``
    is the engine's time and the load is reported apart as ``startup_s``.
    """
    import dataclasses

    n = min(requests, len(workload))
    head = dataclasses.replace(
        workload, keys=workload.keys[:n], ops=workload.ops[:n], sizes=workload.sizes[:n],
        ttls=workload.ttls[:n], times=None if workload.times is None else workload.times[:n])
    tic = time.perf_counter()
    with _numba_without_scipy_check():
        run(head)
    return time.perf_counter() - tic


def _numba_without_scipy_check():
    """While the kernels load, make Numba's one-time check for SciPy's BLAS find none.

    Numba's first compile or cache load in a process imports ``numba.np.arraymath``, which
    imports ``scipy.linalg`` (0.15 s here, a tenth of a ``simulate`` command) only to note whether
    ``np.dot`` may call BLAS. simlab's kernels do no linear algebra, so the command skips it:
    a ``None`` in ``sys.modules`` makes that import fail, and is removed afterwards (Numba's
    linear algebra still imports SciPy itself when a kernel uses it)."""
    import contextlib

    name = "scipy.linalg.cython_blas"
    if name in sys.modules or "numba.np.arraymath" in sys.modules:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def blocked():
        sys.modules[name] = None
        try:
            yield
        finally:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return blocked()


def cmd_simulate(args):
    import numpy as np

    from .engine import simulate
    from .redis_cache import REDIS_POLICIES
    from .results import Flag, summarize

    redis_policy = args.policy in REDIS_POLICIES
    _refuse_contradictions(args, redis_policy)
    if redis_policy and args.maxmemory is None:
        raise ValueError(f"argument --maxmemory: the Redis policy {args.policy} needs a "
                         "memory limit in bytes (--maxmemory BYTES)")
    if not redis_policy and args.cache_size is None:
        raise ValueError(f"argument --cache-size: the policy {args.policy} needs a size in keys "
                         "(--cache-size KEYS); for a limit in bytes use a Redis policy such as "
                         "allkeys-lru with --maxmemory")
    if redis_policy and args.ttl_mode != "fixed":
        raise ValueError("argument --ttl-mode: sliding TTLs are simulated for the textbook "
                         "policies; the Redis model keeps each key's TTL from its SET")
    if not redis_policy and args.maxmemory is not None:
        raise ValueError(f"argument --maxmemory: applies to the Redis policies "
                         f"({', '.join(REDIS_POLICIES)}), not {args.policy}")
    value_size = args.value_size if args.value_size is not None else 100
    workload = _workload(args, rate=args.rate, read_fraction=args.read_fraction, ttl=args.ttl,
                         value_size=value_size)
    if args.trace:
        workload = _with_trace_overrides(workload, args)
    filing = args.db_latency if args.db_latency is not None else "postgres-indexed"
    board = (args.whiteboard_latency if args.whiteboard_latency is not None
             else "redis-loopback")
    atomic = True if args.atomic else None   # None: atomic exactly when --db-latency is 0
    redis_only = (dict(maxmemory=args.maxmemory, samples=args.samples,
                       lfu_log_factor=args.lfu_log_factor, lfu_decay_time=args.lfu_decay_time)
                  if redis_policy else {})

    def run(w):      # the run as arrays: no table, no pandas
        return simulate(w, policy=args.policy, cache_size=args.cache_size, filing_room=filing,
                        whiteboard=board, atomic=atomic, ttl_mode=args.ttl_mode, seed=args.seed,
                        table=False, **redis_only)
    startup = _load_kernels(run, workload)
    tic = time.perf_counter()
    result = run(workload)
    summary = summarize(result)
    elapsed = time.perf_counter() - tic
    attrs = result.attrs
    out = {
        "requests": summary["requests"], "hits": summary["hits"], "misses": summary["misses"],
        "hit_ratio": summary["hit_ratio"],
        "hit_ratio_after_warmup": summary["hit_ratio_after_warmup"],
        "p50_ms": summary["p50_ms"], "p95_ms": summary["p95_ms"], "p99_ms": summary["p99_ms"],
        "db_qps_with_cache": summary["db_qps_with_cache"],
        "db_qps_without_cache": summary["db_qps_without_cache"],
        "inflight_misses": attrs["inflight_misses"],
        "expired_misses": int(np.count_nonzero(result.flags & Flag.EXPIRED)),
        "evictions": attrs["evictions"], "oom_errors": attrs.get("oom_errors") or 0,
        "keys_at_end": attrs["keys_at_end"], "bytes_at_end": attrs.get("bytes_at_end"),
        "policy": args.policy, "cache_size": args.cache_size, "maxmemory": args.maxmemory,
        "ttl": args.ttl, "ttl_mode": args.ttl_mode,
        "timing": "sequential" if workload.times is None else "arrivals",
        "db_latency": args.db_latency if args.db_latency is not None else "postgres-indexed",
        "whiteboard_latency": (args.whiteboard_latency if args.whiteboard_latency is not None
                               else "redis-loopback"),
        "atomic": attrs["atomic"],
        "seed": args.seed, "elapsed_s": elapsed, "startup_s": startup,
    }
    _emit(out, args.json)


def cmd_mrc(args):
    from .curves import lru_curve, log_sizes

    workload = _workload(args)
    startup = _load_kernels(lambda w: lru_curve(w, [1]), workload)
    tic = time.perf_counter()
    sizes = args.sizes or log_sizes(workload.unique_keys)
    # a whiteboard larger than the key space holds every key: computed as the key space
    curve = lru_curve(workload, [min(size, workload.n_keys) for size in sizes])
    elapsed = time.perf_counter() - tic
    out = {"sizes": [int(size) for size in sizes], "hits": curve["hits"].tolist(),
           "hit_ratio": curve["hit_ratio"].tolist(), "requests": int(curve.attrs["reads"]),
           "unique_keys": workload.unique_keys, "seed": args.seed, "elapsed_s": elapsed,
           "startup_s": startup}
    _emit(out, args.json)


def cmd_ratelimit(args):
    from .ratelimit import simulate_ratelimit

    tic = time.perf_counter()
    out = simulate_ratelimit(args.algorithm, limit=args.limit, window=args.window,
                             rate=args.rate, duration=args.duration, pattern=args.pattern,
                             seed=args.seed)
    elapsed = time.perf_counter() - tic
    out = {k: val for k, val in out.items() if k not in ("times", "decisions")}
    out["elapsed_s"] = elapsed
    _emit(out, args.json)


def cmd_queue(args):
    from .queueing import queue_summary, simulate_queue

    tic = time.perf_counter()
    df = simulate_queue(arrival_rate=args.arrival_rate, service_mean=args.service_mean,
                        workers=args.workers, jobs=args.jobs, crash_rate=args.crash_rate,
                        reliable=args.reliable, seed=args.seed)
    out = queue_summary(df)
    out.update({"workers": args.workers, "arrival_rate": args.arrival_rate,
                "service_mean": args.service_mean, "reliable": args.reliable,
                "crash_rate": args.crash_rate, "seed": df.attrs["seed"],
                "elapsed_s": time.perf_counter() - tic})
    _emit(out, args.json)


def cmd_stampede(args):
    from .stampede import simulate_stampede

    tic = time.perf_counter()
    run = simulate_stampede(rate=args.rate, recompute=args.recompute, ttl=args.ttl,
                            duration=args.duration, strategy=args.strategy, beta=args.beta,
                            clients=args.clients, seed=args.seed)
    full = run.summary()
    keys = ("requests", "recomputations", "max_concurrent_recomputations",
            "db_queries_per_s_peak", "stale_reads", "p99_ms", "seed")
    out = {"strategy": args.strategy, **{k: full[k] for k in keys},
           "elapsed_s": time.perf_counter() - tic}
    _emit(out, args.json)


def cmd_cluster(args):
    from ._random import resolve_seed
    from .sharding import shard_table

    if args.draw is not None:
        args.seed = resolve_seed(args.seed)     # drawn requests: the seed is reported
    tic = time.perf_counter()
    row = shard_table([args.shards], n_keys=args.keys, alpha=args.zipf,
                      keys_per_tag=args.keys_per_tag, hash_tags=args.hash_tags,
                      near_cache=args.near_cache,
                      n_requests=args.draw, seed=args.seed).iloc[0]
    out = {"shards": args.shards, "keys_per_shard_max": int(row["keys_per_shard_max"]),
           "keys_per_shard_mean": float(row["keys_per_shard_mean"]),
           "load_max_over_mean": float(row["load_max_over_mean"]),
           "hottest_shard_share": float(row["hottest_shard_share"])}
    if args.near_cache:
        out["near_cache_hit_ratio"] = float(row["near_cache_share"])
    out.update({"seed": args.seed, "elapsed_s": time.perf_counter() - tic})
    _emit(out, args.json)


def cmd_durability(args):
    from .live import durability as live

    try:
        out = live.process_crash(args.persistence, write_rate=args.write_rate,
                                 duration=args.duration, crash_at=args.crash_at,
                                 value_size=args.value_size, seed=args.seed)
    except live.RedisServerNotFound as exc:
        print(f"simlab durability: {_one_line(exc)}", file=sys.stderr)
        return 1
    keys = ("acknowledged", "lost", "lost_ids_range", "restart_s", "write_p99_ms",
            "model_lost", "seed", "elapsed_s")
    _emit({"persistence": args.persistence, **{k: out[k] for k in keys}}, args.json)


def _emit(out, as_json):
    if as_json:   # strict JSON: NaN and infinities are written as null
        from ._validate import dumps
        print(dumps(out))
        return
    for name, value in out.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, list) and len(value) > 12:
            value = f"[{', '.join(map(str, value[:6]))}, ... {len(value)} values]"
        print(f"{name:>24}: {value}")


def cmd_doctor(args):
    """Which backends and binaries this machine has. Read-only: it creates, loads and
    changes nothing, on Redis or in a database, and shows every URL without its password."""
    import platform

    from . import __version__
    from .live import server
    from .live.filing_room import describe_sqlite

    rows = [("python", platform.python_version()), ("simlab", __version__),
            ("fast engine", "numba " + _version("numba"))]
    rows.append(("redis-py", _version("redis") or "missing: pip install redis"))
    rows.append(("fakeredis", _version("fakeredis") or "missing: pip install fakeredis"))
    binary = server.redis_server_binary()
    rows.append(("redis-server binary", f"{binary} (v{server.redis_server_version(binary)})"
                 if binary else f"not found: {server.HOW_TO_INSTALL}"))
    url = os.environ.get("REDIS_URL")
    rows.append(("REDIS_URL", _doctor_redis(url) if url
                 else "unset: notebooks use fakeredis in-process"))
    rows.append(("SQLite filing room", describe_sqlite()))
    db_url = os.environ.get("DATABASE_URL")
    if db_url:
        rows.extend(_doctor_postgres(db_url))
    else:
        rows.append(("DATABASE_URL", "unset: the filing room is SQLite"))
    rows.append(("psycopg", _version("psycopg") or "missing: pip install 'psycopg[binary]' "
                 "(needed only with DATABASE_URL)"))
    rows.append(("libcachesim (tests)", _version("libcachesim") or "not installed (dev extra)"))
    rows.append(("simpy (benchmarks)", _version("simpy") or "not installed (bench extra)"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:>{width}}  {value}")


def _doctor_redis(url):
    """One line about the Redis at ``url``: PING and INFO server, nothing else."""
    import redis

    from .live.urls import redact, scrub, unknown_option, userinfo_problem
    if url.lower().startswith("model:"):        # simlab's Redis model, in this process
        from .live import connect
        try:
            client = connect(url)
            return client.backend
        except (ValueError, TypeError) as exc:
            return f"NOT USABLE: {' '.join(str(exc).split())}"
    if userinfo_problem(url):
        return f"NOT USABLE: {userinfo_problem(url)}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        try:
            info = client.info("server")
        finally:
            client.close()
    except TypeError as exc:
        if unknown_option(exc) is None:
            raise
        return f"NOT USABLE: {unknown_option(exc)}"
    except (redis.exceptions.RedisError, ValueError, OSError) as exc:
        return (f"NOT ANSWERING: no Redis server answered at {redact(url)} "
                f"({' '.join(scrub(exc, url).split())})")
    return f"Redis {info.get('redis_version', '?')} at {redact(url)}"


def _doctor_postgres(url):
    """Rows about the PostgreSQL at ``url``, read from the catalogue in a read-only session."""
    from .live.filing_room import SIMLAB_CLEAN_HINT, describe_postgres
    from .live.urls import redact, scrub
    try:
        found = describe_postgres(url)
    except Exception as exc:  # report, never crash the doctor
        return [("DATABASE_URL", f"NOT USABLE: {' '.join(scrub(exc, url).split())}")]
    schema = found["schema"]
    if found["state"] == "absent":
        state = "absent: simlab creates it (100,000 users) on first use"
    elif found["state"] == "foreign":
        state = (f"exists and simlab did not create it ({found['why']}): simlab will not "
                 f"use it; rename it, or set SIMLAB_PG_SCHEMA={schema}_course")
    else:
        rows = "no users table" if found["rows"] is None else f"{found['rows']:,} users"
        state = (f"simlab's, {rows}, created {found['created_at']:%Y-%m-%d %H:%M}; "
                 f"{SIMLAB_CLEAN_HINT}")
    return [("DATABASE_URL", f"PostgreSQL {found['server_version']} at {redact(url)}"),
            (f"schema {schema}", state)]


def cmd_clean(args):
    """Remove what simlab created: its PostgreSQL schema, its SQLite file. Asks nothing."""
    from .live.filing_room import NotOwnedError, drop_postgres, remove_sqlite

    if not (args.database or args.sqlite):
        raise ValueError("give --database (simlab's schema in DATABASE_URL's PostgreSQL), "
                         "--sqlite (the built SQLite file), or both")
    status = 0
    if args.database:
        url = os.environ.get("DATABASE_URL")
        if not url:
            raise ValueError("argument --database: DATABASE_URL is not set, so there is no "
                             "PostgreSQL database to clean")
        try:
            print(f"simlab clean: {drop_postgres(url)}")
        except (NotOwnedError, ConnectionError, RuntimeError) as exc:
            print(f"simlab clean: {exc}", file=sys.stderr)
            status = 1
    if args.sqlite:
        try:
            print(f"simlab clean: {remove_sqlite()}")
        except NotOwnedError as exc:
            print(f"simlab clean: {exc}", file=sys.stderr)
            status = 1
    return status


def _version(dist):
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def cmd_with_server(args):
    """Start a private redis-server, run a command with REDIS_URL pointing at it, stop it.

    SIGTERM, SIGHUP and SIGINT are passed on to the command (a Ctrl-C at the terminal reaches
    it directly, once, and the server, in a session of its own, not at all), and a command
    still running 5 s after a forwarded signal is killed (SIGKILL); the server is stopped
    however the command ends, and the server and the command die with this process if it is
    killed outright."""
    from .live.server import PrivateRedis, RedisServerNotFound, run_forwarding_signals
    from .live.urls import redact

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("simlab with-server: error: give a command to run, e.g. "
              "simlab with-server -- pytest", file=sys.stderr)
        return 2
    try:
        server = PrivateRedis().start()
    except (RedisServerNotFound, RuntimeError) as exc:     # none, or one that cannot start
        print(f"simlab with-server: {exc}", file=sys.stderr)
        return 3
    try:
        env = dict(os.environ, REDIS_URL=server.url)
        print(f"simlab with-server: REDIS_URL={redact(server.url)}", file=sys.stderr)
        return run_forwarding_signals(command, env)
    except OSError as exc:          # the command is not there, or not executable
        print(f"simlab with-server: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    finally:
        server.stop()


def cmd_grade(args):
    """A class's exercises at a glance: learner x exercise, as text and optionally CSV."""
    from .grading import grade, to_csv, to_text

    if args.csv is not None and args.csv.parent and not args.csv.parent.is_dir():
        raise ValueError(f"argument --csv: the folder {str(args.csv.parent)!r} does not exist")
    if args.execute:
        where = "with REDIS_URL and DATABASE_URL" if args.allow_servers else \
            "on fakeredis and SQLite (REDIS_URL and DATABASE_URL removed)"
        print(f"simlab grade: running each notebook {where}, at most {args.timeout:g} s each",
              file=sys.stderr)
    grades = grade(args.paths, execute_it=args.execute, timeout=args.timeout,
                   allow_servers=args.allow_servers,
                   progress=lambda g: print(f"  graded {g.path}", file=sys.stderr))
    print(to_text(grades), end="")
    if args.csv is not None:
        with open(args.csv, "w", newline="", encoding="utf-8") as file:
            to_csv(grades, file)
        print(f"simlab grade: wrote {args.csv}", file=sys.stderr)
    return 0


def build_parser():
    from .caches import POLICIES
    from .redis_cache import REDIS_POLICIES

    parser = _Parser(prog="simlab", description="The Whiteboard's simulation lab.")
    sub = parser.add_subparsers(dest="command_name", required=True, parser_class=_Parser)

    p = sub.add_parser("doctor", help="which backends and binaries are available (read-only)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("clean", help="remove what simlab created in your database (no questions)")
    p.add_argument("--database", action="store_true",
                   help="drop simlab's schema (whiteboard, or SIMLAB_PG_SCHEMA) from "
                        "DATABASE_URL's PostgreSQL, if its marker proves simlab made it")
    p.add_argument("--sqlite", action="store_true",
                   help="delete the built SQLite file (data/users.sqlite; rebuilt on first use)")
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser("simulate", help="cache-aside in virtual time")
    _add_workload_args(p)
    p.add_argument("--rate", type=positive_float, metavar="RPS",
                   help="Poisson arrivals at RPS requests/s (default: one after another)")
    p.add_argument("--policy", choices=POLICIES + REDIS_POLICIES, default="lru",
                   metavar="POLICY",
                   help=f"textbook ({', '.join(POLICIES)}; need --cache-size) or Redis "
                        f"({', '.join(REDIS_POLICIES)}; need --maxmemory)")
    p.add_argument("--cache-size", type=positive_int, metavar="KEYS",
                   help="whiteboard capacity in keys (textbook policies)")
    p.add_argument("--maxmemory", type=positive_int, metavar="BYTES",
                   help="bytes for the data set (Redis policies)")
    p.add_argument("--samples", type=samples_int, metavar="N",
                   help="maxmemory-samples, 1 to 64 (default 5)")
    p.add_argument("--value-size", type=value_bytes, metavar="BYTES",
                   help="bytes per value (default 100, or the trace's size column)")
    p.add_argument("--lfu-log-factor", type=nonneg_float, metavar="F",
                   help="lfu-log-factor (default 10; LFU policies)")
    p.add_argument("--lfu-decay-time", type=nonneg_float, metavar="MINUTES",
                   help="lfu-decay-time (default 1; LFU policies)")
    p.add_argument("--ttl", type=positive_seconds, metavar="SECONDS")
    p.add_argument("--ttl-mode", choices=("fixed", "sliding"),
                   help="fixed: the TTL runs from the fill; sliding: every hit restarts it")
    p.add_argument("--read-fraction", type=share, metavar="SHARE",
                   help="share of requests that are reads (default 1)")
    p.add_argument("--db-latency", type=seconds, metavar="SECONDS",
                   help="constant filing-room latency (0: a miss fills at once)")
    p.add_argument("--whiteboard-latency", type=seconds, metavar="SECONDS",
                   help="constant whiteboard round trip (default: the redis-loopback preset)")
    p.add_argument("--atomic", action="store_true",
                   help="the server does each request in one step (GET and SET on a miss, as "
                        "a Lua script): a miss fills at once whatever the latencies")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("mrc", help="exact LRU hit-ratio curve, every size in one pass")
    _add_workload_args(p)
    p.add_argument("--sizes", type=_sizes, metavar="N,N,...",
                   help="cache sizes in keys (default: log-spaced up to the unique keys)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_mrc)

    p = sub.add_parser("ratelimit", help="a rate limiter over one user's request stream")
    p.add_argument("--algorithm", required=True,
                   choices=("fixed-window", "sliding-log", "sliding-counter", "token-bucket"))
    p.add_argument("--limit", type=positive_int, required=True, metavar="N",
                   help="requests allowed per window")
    p.add_argument("--window", type=positive_seconds, required=True, metavar="SECONDS")
    p.add_argument("--rate", type=positive_float, required=True, metavar="RPS",
                   help="the user's request rate (Poisson)")
    p.add_argument("--duration", type=positive_seconds, required=True, metavar="SECONDS")
    p.add_argument("--pattern", choices=("poisson", "edge-burst"), default="poisson",
                   help="edge-burst adds 2x-limit bursts around every window edge")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_ratelimit)

    p = sub.add_parser("queue", help="jobs, a queue and c workers (that may crash)")
    p.add_argument("--arrival-rate", type=positive_float, required=True, metavar="RATE",
                   help="jobs per second (Poisson)")
    p.add_argument("--service-mean", type=positive_seconds, required=True, metavar="SECONDS",
                   help="mean service time (exponential)")
    p.add_argument("--workers", type=positive_int, required=True, metavar="C")
    p.add_argument("--jobs", type=positive_int, required=True, metavar="N")
    p.add_argument("--crash-rate", type=nonneg_float, default=0.0, metavar="R",
                   help="crashes per second of a busy worker")
    p.add_argument("--reliable", action="store_true",
                   help="BLMOVE into a processing list: a crashed worker's job is redelivered")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_queue)

    p = sub.add_parser("stampede", help="a hot key expiring under load, with a mitigation")
    p.add_argument("--rate", type=positive_float, required=True, metavar="RPS",
                   help="requests per second to the hot key (Poisson)")
    p.add_argument("--recompute", type=positive_seconds, required=True, metavar="SECONDS",
                   help="how long the filing room's query takes")
    p.add_argument("--ttl", type=positive_seconds, required=True, metavar="SECONDS")
    p.add_argument("--duration", type=positive_seconds, required=True, metavar="SECONDS")
    p.add_argument("--strategy", required=True, choices=("none", "lock", "xfetch", "swr"))
    p.add_argument("--beta", type=positive_float, default=1.0, metavar="B",
                   help="XFetch's eagerness (default 1)")
    p.add_argument("--clients", type=positive_int, default=None, metavar="N",
                   help="at most N requests in progress at once (default: no limit)")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_stampede)

    p = sub.add_parser("cluster", help="keys and load per shard of a Redis Cluster (simulated)")
    p.add_argument("--shards", type=_number(int, "an integer from 1 to 16384",
                                            lambda x: 1 <= x <= 16_384),
                   required=True, metavar="N", help="masters, each owning an even share of slots")
    p.add_argument("--zipf", type=nonneg_float, default=1.0, metavar="ALPHA",
                   help="Zipf skew of the keys' popularity (default 1.0; 0 is uniform)")
    p.add_argument("--keys", type=_number(int, "an integer from 1 to 5000000",
                                          lambda x: 1 <= x <= 5_000_000),
                   default=100_000, metavar="N", help="distinct keys item:0 ... (default 100000)")
    p.add_argument("--requests", type=_number(int, "an integer from 1 to 10**12",
                                              lambda x: 1 <= x <= 10 ** 12),
                   default=None, metavar="N", dest="draw",
                   help="draw this many requests (default: the exact expected load)")
    p.add_argument("--hash-tags", type=share, default=None, metavar="SHARE",
                   help="share of the keys (0 to 1) that carry a {hash tag}: with no "
                   "--keys-per-tag they all share one tag, so one slot on one shard (default "
                   "0: no tags; 1 with --keys-per-tag)")
    p.add_argument("--keys-per-tag", type=positive_int, default=None, metavar="K",
                   help="tagged keys that share each tag, as one user's keys would (default: "
                   "all of them one tag); alone, every key is tagged, K per tag (1: no tags)")
    p.add_argument("--near-cache", type=_number(int, "an integer from 0 to 5000000",
                                                lambda x: 0 <= x <= 5_000_000),
                   default=0, metavar="KEYS", help="keys each client keeps in a near cache")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("durability", help="kill -9 a private redis-server mid-stream, count "
                       "acknowledged writes lost")
    p.add_argument("--persistence", required=True,
                   choices=("none", "rdb", "aof-no", "aof-everysec", "aof-always"))
    p.add_argument("--write-rate", type=positive_float, required=True, metavar="RPS")
    p.add_argument("--duration", type=positive_seconds, required=True, metavar="SECONDS",
                   help="the crash comes at a random moment of its second half")
    p.add_argument("--crash-at", type=positive_seconds, default=None, metavar="SECONDS")
    p.add_argument("--value-size", type=positive_int, default=100, metavar="BYTES")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_durability)

    p = sub.add_parser("grade", help="learner x exercise from a folder of learners' notebooks")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="notebooks, or folders of them (the learner's name is taken from the "
                        "file name, e.g. alice_03_cache_aside.ipynb, or its folder, alice/)")
    p.add_argument("--execute", action="store_true",
                   help="run each notebook first in a fresh kernel (the files are not changed)")
    p.add_argument("--timeout", type=positive_seconds, default=600.0, metavar="SECONDS",
                   help="time limit for each notebook with --execute (default 600)")
    p.add_argument("--allow-servers", action="store_true",
                   help="keep REDIS_URL and DATABASE_URL for the notebooks run with --execute "
                        "(default: removed, so they use fakeredis and SQLite)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the table as CSV")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("with-server", help="run a command beside a private redis-server")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_with_server)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    _note_given(args)
    try:
        code = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`simlab simulate ... | head`): nothing more to say, and no
        # traceback; stdout goes to /dev/null so Python's own flush at exit cannot fail too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                     # 128 + SIGPIPE, as a shell reports a command it cut
    except FileNotFoundError as exc:
        parser.exit(2, f"simlab {args.command_name}: error: argument --trace: {exc}\n")
    except (ValueError, TypeError, OverflowError) as exc:
        parser.exit(2, f"simlab {args.command_name}: error: {_one_line(exc)}\n")
    except MemoryError:
        parser.exit(2, f"simlab {args.command_name}: error: this run ran out of memory; "
                       "use fewer requests or keys\n")
    return code or 0


def _one_line(exc):
    """The error as one line, with no password of REDIS_URL or DATABASE_URL in it."""
    from .live.urls import scrub
    text = str(exc)
    for name in ("REDIS_URL", "DATABASE_URL"):
        text = scrub(text, os.environ.get(name))
    return " ".join(text.split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
