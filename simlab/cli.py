"""The ``simlab`` command line: ``doctor``, ``simulate``, ``mrc``, ``with-server``.

Bad arguments exit with status 2 and one line naming the argument and the rule.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time


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


def _sizes(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers, got {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}")
    return sizes


def _add_workload_args(p):
    p.add_argument("--trace", metavar="PATH",
                   help="a trace: one key per line, or a CSV with key[,t,op,size,ttl]")
    p.add_argument("--zipf", type=nonneg_float, metavar="ALPHA", default=1.0,
                   help="Zipf skew of the synthetic workload (default 1.0; 0 is uniform)")
    p.add_argument("--keys", type=positive_int, metavar="N", default=100_000,
                   help="number of distinct keys (default 100000)")
    p.add_argument("--requests", type=positive_int, metavar="R", default=1_000_000,
                   help="number of requests (default 1000000)")
    p.add_argument("--seed", type=nonneg_int, metavar="S", default=None,
                   help="seed for every random draw (default: fresh, reported in the output)")


def _workload(args, *, rate=None, read_fraction=1.0, ttl=None):
    from . import read_trace, zipf
    from ._random import resolve_seed

    args.seed = resolve_seed(args.seed)
    if args.trace:
        return read_trace(args.trace)
    return zipf(args.keys, args.zipf, args.requests, rate=rate, read_fraction=read_fraction,
                ttl=ttl, seed=args.seed)


def _with_trace_overrides(workload, args):
    """Apply --rate and --ttl to a trace that does not carry its own."""
    import dataclasses

    import numpy as np

    from .workloads import poisson_arrivals
    from ._random import stream
    changes = {}
    if args.rate is not None and workload.times is None:
        changes["times"] = poisson_arrivals(len(workload), args.rate, stream(args.seed, "arrivals"))
    if args.ttl is not None and np.all(np.isnan(workload.ttls)):
        changes["ttls"] = np.full(len(workload), args.ttl)
    return dataclasses.replace(workload, **changes) if changes else workload


def cmd_simulate(args):
    from . import simulate, summarize

    workload = _workload(args, rate=args.rate, read_fraction=args.read_fraction, ttl=args.ttl)
    if args.trace:
        workload = _with_trace_overrides(workload, args)
    filing = args.db_latency if args.db_latency is not None else "postgres-indexed"
    tic = time.perf_counter()
    df = simulate(workload, policy=args.policy, cache_size=args.cache_size, filing_room=filing,
                  seed=args.seed)
    summary = summarize(df)
    elapsed = time.perf_counter() - tic
    out = {
        "requests": summary["requests"], "hits": summary["hits"], "misses": summary["misses"],
        "hit_ratio": summary["hit_ratio"],
        "hit_ratio_after_warmup": summary["hit_ratio_after_warmup"],
        "p50_ms": summary["p50_ms"], "p95_ms": summary["p95_ms"], "p99_ms": summary["p99_ms"],
        "db_qps_with_cache": summary["db_qps_with_cache"],
        "db_qps_without_cache": summary["db_qps_without_cache"],
        "inflight_misses": df.attrs["inflight_misses"],
        "expired_misses": int(df["expired"].sum()),
        "evictions": df.attrs["evictions"], "keys_at_end": df.attrs["keys_at_end"],
        "policy": args.policy, "cache_size": args.cache_size,
        "timing": "sequential" if workload.times is None else "arrivals",
        "seed": args.seed, "elapsed_s": elapsed,
    }
    _emit(out, args.json)


def cmd_mrc(args):
    from .analysis import lru_curve, log_sizes

    workload = _workload(args)
    tic = time.perf_counter()
    sizes = args.sizes or log_sizes(workload.unique_keys)
    curve = lru_curve(workload, sizes)
    elapsed = time.perf_counter() - tic
    out = {"sizes": curve["size"].tolist(), "hits": curve["hits"].tolist(),
           "hit_ratio": curve["hit_ratio"].tolist(), "requests": int(curve.attrs["reads"]),
           "unique_keys": workload.unique_keys, "seed": args.seed, "elapsed_s": elapsed}
    _emit(out, args.json)


def _emit(out, as_json):
    if as_json:
        print(json.dumps(out))
        return
    for name, value in out.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, list) and len(value) > 12:
            value = f"[{', '.join(map(str, value[:6]))}, ... {len(value)} values]"
        print(f"{name:>24}: {value}")


def cmd_doctor(args):
    """Which backends and binaries this machine has."""
    import platform

    from . import __version__
    from ._kernels import HAVE_NUMBA
    from .live import server

    rows = [("python", platform.python_version()), ("simlab", __version__),
            ("fast engine", "numba " + _version("numba") if HAVE_NUMBA
             else "pure Python (install numba for speed)")]
    rows.append(("redis-py", _version("redis") or "missing: pip install redis"))
    rows.append(("fakeredis", _version("fakeredis") or "missing: pip install fakeredis"))
    binary = server.redis_server_binary()
    rows.append(("redis-server binary", f"{binary} (v{server.redis_server_version(binary)})"
                 if binary else f"not found: {server.HOW_TO_INSTALL}"))
    url = os.environ.get("REDIS_URL")
    if url:
        from .live.client import RedisUnavailable, connect
        try:
            rows.append(("REDIS_URL", connect(url).backend))
        except RedisUnavailable as exc:
            rows.append(("REDIS_URL", f"NOT ANSWERING: {exc}"))
    else:
        rows.append(("REDIS_URL", "unset: notebooks use fakeredis in-process"))
    from .live.filing_room import default_data_dir
    data = default_data_dir() / "users.sqlite"
    rows.append(("SQLite filing room", f"{data}" + ("" if data.exists()
                                                    else " (built on first use)")))
    db_url = os.environ.get("DATABASE_URL")
    if db_url:
        try:
            from .live.filing_room import FilingRoom
            rows.append(("DATABASE_URL", FilingRoom.postgres(db_url).backend))
        except Exception as exc:  # report, never crash the doctor
            rows.append(("DATABASE_URL", f"NOT USABLE: {exc}"))
    else:
        rows.append(("DATABASE_URL", "unset: the filing room is SQLite"))
    rows.append(("libcachesim (tests)", _version("libcachesim") or "not installed (dev extra)"))
    rows.append(("simpy (benchmarks)", _version("simpy") or "not installed (bench extra)"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:>{width}}  {value}")


def _version(dist):
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def cmd_with_server(args):
    """Start a private redis-server, run a command with REDIS_URL pointing at it, stop it."""
    from .live.server import PrivateRedis, RedisServerNotFound

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("simlab with-server: error: give a command to run, e.g. "
              "simlab with-server -- pytest", file=sys.stderr)
        return 2
    try:
        server = PrivateRedis().start()
    except RedisServerNotFound as exc:
        print(f"simlab with-server: {exc}", file=sys.stderr)
        return 3
    try:
        env = dict(os.environ, REDIS_URL=server.url)
        print(f"simlab with-server: REDIS_URL={server.url}", file=sys.stderr)
        return subprocess.call(command, env=env)
    finally:
        server.stop()


def build_parser():
    from .caches import POLICIES

    parser = _Parser(prog="simlab", description="The Whiteboard's simulation lab.")
    sub = parser.add_subparsers(dest="command_name", required=True, parser_class=_Parser)

    p = sub.add_parser("doctor", help="which backends and binaries are available")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("simulate", help="cache-aside in virtual time")
    _add_workload_args(p)
    p.add_argument("--rate", type=positive_float, metavar="RPS",
                   help="Poisson arrivals at RPS requests/s (default: one after another)")
    p.add_argument("--policy", choices=POLICIES, default="lru")
    p.add_argument("--cache-size", type=positive_int, metavar="KEYS", required=True)
    p.add_argument("--ttl", type=positive_float, metavar="SECONDS")
    p.add_argument("--read-fraction", type=share, default=1.0, metavar="SHARE",
                   help="share of requests that are reads (default 1)")
    p.add_argument("--db-latency", type=nonneg_float, metavar="SECONDS",
                   help="constant filing-room latency (0: a miss fills at once)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("mrc", help="exact LRU hit-ratio curve, every size in one pass")
    _add_workload_args(p)
    p.add_argument("--sizes", type=_sizes, metavar="N,N,...",
                   help="cache sizes in keys (default: log-spaced up to the unique keys)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_mrc)

    p = sub.add_parser("with-server", help="run a command beside a private redis-server")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_with_server)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except FileNotFoundError as exc:
        parser.exit(2, f"simlab {args.command_name}: error: argument --trace: {exc}\n")
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"simlab {args.command_name}: error: {exc}\n")
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
