"""Every input gets an answer or one clear line (issue 9, part 7).

Two kinds of tests:

* the absurd-but-typable inputs that failed before (tracebacks, memory errors, runs without
  end, NaN in JSON, a segfault in the compiled loop), each checked directly;
* a property test (hypothesis) that feeds random arguments to every CLI command and to the
  public API, in a subprocess whose address space is capped (``RLIMIT_AS``), and asserts:
  exit 0 with strict JSON, or one line without a traceback, within a time cap.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import simlab
from simlab import _validate as v
from simlab.cli import main
from simlab.queueing import simulate_queue
from simlab.ratelimit import simulate_ratelimit
from simlab.workloads import Workload, zipf_probabilities, zipf_rejection_inversion

CAPPED = os.environ.get("SIMLAB_INPUTS_CAPPED") == "1"


def _no_constants(text):
    raise ValueError(f"not strict JSON: {text}")


def strict_json(text):
    return json.loads(text, parse_constant=_no_constants)


def run_cli(*argv):
    """``simlab.cli.main`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def assert_answer_or_one_line(code, out, err):
    if code == 0:
        if "--json" in out or out.startswith("{"):
            strict_json(out)
        return None
    assert code == 2, (code, err)
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("simlab"), err
    return err


def refused(*argv):
    code, out, err = run_cli(*argv)
    assert code == 2 and out == "", (code, out, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def answered(*argv):
    code, out, err = run_cli(*argv)
    assert code == 0, err
    return strict_json(out)


SMALL = ("--zipf", "1.0", "--keys", "1000", "--requests", "2000", "--seed", "1")


# --- the inputs that failed -----------------------------------------------------------------

def test_too_many_requests_is_refused_before_allocating_with_the_numbers():
    tic = time.perf_counter()
    err = refused("simulate", "--requests", "10000000000", "--cache-size", "10", "--json")
    assert time.perf_counter() - tic < 5
    assert "--requests 10000000000 needs about 1.44 TB for the workload and the per-request " \
        "table; this machine has" in err and "available; use `simlab mrc`" in err


def test_a_trillion_keys_are_sampled_without_a_trillion_array():
    data = answered("simulate", "--keys", str(10 ** 12), "--requests", "5000",
                    "--cache-size", "100", "--seed", "3", "--db-latency", "0", "--json")
    assert data["requests"] == 5000 and 0 <= data["hit_ratio"] <= 1


def test_a_cache_larger_than_the_key_space_is_legal_and_holds_every_key():
    big = answered("simulate", *SMALL, "--cache-size", "99999999999999999999", "--json")
    exact = answered("simulate", *SMALL, "--cache-size", "1000", "--json")
    assert big["hits"] == exact["hits"] and big["evictions"] == 0
    assert big["cache_size"] == 99999999999999999999
    w = simlab.zipf(1000, 1.0, 2000, seed=1)
    assert simlab.engine.hit_counts(w, [10 ** 30])[0] == simlab.engine.hit_counts(w, [1000])[0]
    mrc = answered("mrc", *SMALL, "--sizes", "10,99999999999999999999", "--json")
    assert mrc["sizes"] == [10, 99999999999999999999]
    assert mrc["hits"][1] == 2000 - w.unique_keys


def test_a_value_size_beyond_redis_strings_is_refused():
    err = refused("simulate", *SMALL, "--policy", "allkeys-lru", "--maxmemory", "100000",
                  "--value-size", "9000000000000000000")
    assert "argument --value-size: must be a whole number of bytes from 1 to 536870912" in err
    with pytest.raises(ValueError, match="value_size must be at most 536870912 bytes"):
        simlab.zipf(10, 1.0, 10, value_size=9 * 10 ** 18)


@pytest.mark.parametrize("body, message", [
    ("key,size\na,3\nb,1e30\n", "column 'size' must hold a size in bytes from 0 to "
                                "9223372036854775807; row 2 has '1e30'"),
    ("key,t\na,0\nb,inf\n", "column 't' must hold a finite time in seconds >= 0; row 2 has 'inf'"),
])
def test_trace_values_that_would_wrap_or_never_end_name_row_and_column(tmp_path, body, message):
    path = tmp_path / "t.csv"
    path.write_text(body)
    assert message in refused("simulate", "--trace", path, "--cache-size", "3", "--json")


def _trace_case(tmp_path, case):
    """A --trace argument as a careless or hostile user would give it."""
    if case == "folder":
        return tmp_path, f"{tmp_path} is a directory; give a trace file"
    if case == "device":
        return "/dev/zero", "/dev/zero is not a regular file (a device, pipe or socket)"
    path = tmp_path / ("t.csv" if case == "empty csv" else "t.txt")
    if case == "sparse 20 GB":        # no disk used: reading it took more than a minute
        path.touch()
        os.truncate(path, 20 * 10 ** 9)
        return path, f"{path} (20 GB) needs about 160 GB for reading the trace; this machine has 16 GB"
    if case in ("empty", "empty csv"):   # said "No columns to parse from file"
        path.write_bytes(b"")
        return path, f"{path}: the trace is empty (the file has no requests)"
    if case == "blank lines":
        path.write_text("\n\n\n")
        return path, f"{path}: the trace holds no requests"
    path.write_bytes(bytes([0xC3, 0x28, 0x80, 0xFF]) * 64 + b"\n")   # said "'utf-8' codec..."
    return path, f"{path} is not a text file (byte 0 is not UTF-8 text)"


@pytest.mark.parametrize("case", ["folder", "device", "sparse 20 GB", "empty", "empty csv",
                                  "blank lines", "binary"])
def test_a_trace_that_is_no_trace_gets_one_line_naming_the_flag_and_the_file(tmp_path, case,
                                                                             monkeypatch):
    monkeypatch.setattr(v, "available_memory", lambda: 16 * 10 ** 9)   # any machine alike
    path, message = _trace_case(tmp_path, case)
    tic = time.perf_counter()
    err = refused("simulate", "--trace", path, "--cache-size", "3", "--json")
    assert time.perf_counter() - tic < 20
    assert err.startswith(f"simlab simulate: error: argument --trace: ") and message in err, err
    with pytest.raises(ValueError, match="^" + re.escape(str(path))):
        simlab.read_trace(path)     # the API: the same line, a TraceError or BudgetError


def test_rate_limits_that_need_terabytes_or_forever_are_refused():
    err = refused("ratelimit", "--algorithm", "sliding-log", "--limit", "10", "--window", "1",
                  "--rate", "1e12", "--duration", "1000", "--json")
    assert "rate=1000000000000.0 over duration=1000.0 needs about 1e+15 steps" in err
    err = refused("ratelimit", "--algorithm", "fixed-window", "--limit", str(10 ** 12),
                  "--window", "1", "--rate", "1", "--duration", "10", "--pattern",
                  "edge-burst")
    assert "limit=1000000000000 with pattern='edge-burst'" in err


def test_queues_that_need_terabytes_are_refused():
    err = refused("queue", "--arrival-rate", "1", "--service-mean", "0.1", "--workers", "1",
                  "--jobs", str(10 ** 11))
    assert "jobs=100000000000 needs about 16 TB for the per-job table" in err
    assert "workers=" in refused("queue", "--arrival-rate", "1", "--service-mean", "0.1",
                                 "--workers", str(10 ** 12), "--jobs", "10")


def test_a_crash_rate_that_never_lets_a_job_finish_is_refused_at_once():
    tic = time.perf_counter()
    err = refused("queue", "--arrival-rate", "1", "--service-mean", "0.1", "--workers", "2",
                  "--jobs", "100", "--crash-rate", "1e9", "--reliable")
    assert time.perf_counter() - tic < 5
    assert "about 1e+08 attempts a job" in err and "crash_rate" in err
    # the same rate without redelivery just loses the jobs: an answer
    data = answered("queue", "--arrival-rate", "1", "--service-mean", "0.1", "--workers", "2",
                    "--jobs", "100", "--crash-rate", "1e9", "--json")
    assert data["lost"] == 100


def test_one_job_gives_strict_json_with_null_for_what_is_undefined():
    code, out, _ = run_cli("queue", "--arrival-rate", "1", "--service-mean", "1",
                           "--workers", "1", "--jobs", "1", "--seed", "1", "--json")
    assert code == 0 and "NaN" not in out
    data = strict_json(out)
    assert data["littles_lambda_W"] is None and data["processed"] == 1


def test_an_absurd_filing_room_latency_is_refused():
    err = refused("simulate", *SMALL, "--cache-size", "10", "--db-latency", "1e308", "--json")
    assert "argument --db-latency: must be a number of seconds from 0 to 1e9, got '1e308'" in err
    with pytest.raises(ValueError, match="filing_room must be at most 1e"):
        simlab.simulate(simlab.zipf(10, 1.0, 10, seed=1), cache_size=2, filing_room=1e308)


@pytest.mark.parametrize("argv, message", [
    (["--policy", "allkeys-lru", "--maxmemory", "100000", "--cache-size", "10"],
     "argument --cache-size: counts keys for the textbook policies"),
    (["--policy", "lru", "--cache-size", "10", "--samples", "5"],
     "argument --samples: applies to the Redis policies"),
    (["--policy", "lru", "--cache-size", "10", "--value-size", "100"],
     "argument --value-size: applies to the Redis policies"),
    (["--policy", "allkeys-lru", "--maxmemory", "100000", "--lfu-log-factor", "10"],
     "argument --lfu-log-factor: applies to allkeys-lfu and volatile-lfu, not allkeys-lru"),
    (["--policy", "allkeys-random", "--maxmemory", "100000", "--samples", "10"],
     "argument --samples: applies to the policies that sample"),
])
def test_contradictory_flags_are_refused_by_name(argv, message):
    assert message in refused("simulate", *SMALL, *argv)


@pytest.mark.parametrize("extra, body, message", [
    (["--keys", "100"], "a\nb\n", "argument --keys: the trace sets the keys"),
    (["--zipf", "1.0"], "a\nb\n", "argument --zipf: the trace sets the keys"),
    (["--read-fraction", "0.5"], "a\nb\n", "argument --read-fraction: the trace says"),
    (["--rate", "10"], "key,t\na,0\nb,1\n", "argument --rate: the trace has a 't' column"),
    (["--ttl", "10"], "key,ttl\na,5\nb,5\n", "argument --ttl: the trace has a 'ttl' column"),
])
def test_flags_a_trace_would_ignore_are_refused(tmp_path, extra, body, message):
    path = tmp_path / ("t.csv" if "," in body else "t.txt")
    path.write_text(body)
    assert message in refused("simulate", "--trace", path, "--cache-size", "3", *extra)


def test_defaults_still_apply_when_a_flag_is_not_given(tmp_path):
    data = answered("simulate", "--keys", "100", "--requests", "300", "--seed", "2",
                    "--policy", "allkeys-lfu", "--maxmemory", "100000", "--json")
    w = simlab.zipf(100, 1.0, 300, seed=2)
    df = simlab.simulate(w, policy="allkeys-lfu", maxmemory=100000, samples=5,
                               lfu_log_factor=10, lfu_decay_time=1, seed=2)
    assert data["hits"] == int((df["outcome"] == "hit").sum())


def test_keys_out_of_range_never_reach_the_compiled_loop():
    base = dict(ops=np.zeros(3, np.int8), times=None, sizes=np.ones(3, np.int64),
                ttls=np.full(3, np.nan), key_names=np.array(["a", "b"], dtype=object))
    for keys, rule in ([np.array([0, 1, 7]), "request 2 has 7"],
                       [np.array([0, -1, 1]), "request 1 has -1"]):
        with pytest.raises(ValueError, match=f"Workload keys must hold key ids from 0 to "
                                             f"n_keys-1 = 1 .*; {rule}"):
            Workload(keys=keys, **base)
    with pytest.raises(TypeError, match="Workload keys must be a 1-D array of integer key ids"):
        Workload(keys=np.array([0.0, 1.0, 1.0]), **base)
    w = simlab.zipf(5, 1.0, 10, seed=1)
    import dataclasses
    with pytest.raises(ValueError, match="Workload keys"):
        dataclasses.replace(w, keys=w.keys + 5)    # the crash of the compiled loop, before


_TAMPER = """
import numpy as np, simlab
for value in (10 ** 9, -7, 100):
    w = simlab.zipf(100, 1.0, 1000, seed=1)
    try:
        w.keys[0] = value
    except ValueError as exc:
        print("refused:", exc)
    w.keys.flags.writeable = True    # a determined owner: the array is theirs to unfreeze
    w.keys[0] = value
    try:
        simlab.{call}
    except ValueError as exc:
        print("engine:", exc)
"""


@pytest.mark.parametrize("call", [
    "simulate(w, policy='lru', cache_size=10)",
    "simulate(w, policy='allkeys-lru', maxmemory=10**6)",
    "engine.hit_counts(w, [10])",
    "lru_curve(w, [10])",
])
def test_a_workload_changed_after_it_was_made_never_reaches_the_compiled_loop(call):
    """The tester's reproduction: ``w.keys[0] = 10**9`` then simulate segfaulted (rc 139);
    -7 or 100 (= n_keys) ran silently wrong. Now the assignment is refused, and a workload
    unfrozen on purpose is refused by the engine's own check, in a subprocess that must
    not crash."""
    proc = subprocess.run([sys.executable, "-c", _TAMPER.format(call=call)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    assert lines[0::2] == ["refused: assignment destination is read-only"] * 3, lines
    for line, value in zip(lines[1::2], (10 ** 9, -7, 100)):
        assert line.startswith("engine: Workload keys must hold key ids from 0 to n_keys-1 = "
                               "99") and f"request 0 has {value}" in line, line


def test_workload_columns_are_read_only_and_never_share_a_callers_array():
    import dataclasses
    w = simlab.zipf(50, 1.0, 200, rate=10.0, read_fraction=0.5, ttl=3.0, seed=4)
    for name in ("keys", "ops", "times", "sizes", "ttls", "key_names"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(w, name)[0] = getattr(w, name)[1]
    mine = np.array([0, 1, 1])
    cols = dict(ops=np.zeros(3, np.int8), times=None, sizes=np.ones(3, np.int64),
                ttls=np.full(3, np.nan), key_names=np.array(["a", "b"], dtype=object))
    made = Workload(keys=mine, **cols)
    mine[2] = 9                            # the caller's array is still theirs to change ...
    assert mine.flags.writeable and made.keys.tolist() == [0, 1, 1]   # ... the workload's not
    view = np.array([0, 1, 1])
    frozen_view = view[:]
    frozen_view.flags.writeable = False    # read-only, but a view of a writeable array
    made = Workload(keys=frozen_view, **cols)
    view[0] = 9
    assert made.keys.tolist() == [0, 1, 1]
    again = dataclasses.replace(w, keys=np.array(w.keys))   # replace checks and freezes too
    assert not again.keys.flags.writeable
    with pytest.raises(ValueError, match="Workload keys"):
        dataclasses.replace(w, keys=np.full(len(w), -1))
    cut = dataclasses.replace(w, keys=w.keys[:10], ops=w.ops[:10], times=w.times[:10],
                              sizes=w.sizes[:10], ttls=w.ttls[:10])
    assert np.shares_memory(cut.keys, w.keys)    # slices of a frozen workload: no copy


@pytest.mark.parametrize("column, values, message", [
    ("times", np.array([0.0, np.inf, 2.0]), "finite arrival times in seconds >= 0; request 1"),
    ("times", np.array([0.0, 2.0, 1.0]), "non-decreasing arrival times; request 2 has 1.0"),
    ("times", np.array([-1.0, 0, 1.0]), "finite arrival times in seconds >= 0; request 0"),
    ("sizes", np.array([1.0, 1e30, 1.0]), "whole numbers of bytes from 0 to"),
    ("sizes", np.array([1, -2, 1]), "whole numbers of bytes from 0 to"),
    ("ttls", np.array([np.nan, np.inf, 1.0]), "finite and > 0, or nan for none; request 1"),
    ("ttls", np.array([np.nan, 0.0, 1.0]), "finite and > 0, or nan for none; request 1"),
    ("ops", np.array([0, 3, 1]), "op codes 0 \\(get\\), 1 \\(set\\), 2 \\(del\\); request 1"),
])
def test_workload_columns_are_checked(column, values, message):
    cols = dict(keys=np.array([0, 1, 1]), ops=np.zeros(3, np.int8), times=None,
                sizes=np.ones(3, np.int64), ttls=np.full(3, np.nan),
                key_names=np.array(["a", "b"], dtype=object))
    cols[column] = values
    with pytest.raises(ValueError, match=f"Workload {column} must hold .*{message}"):
        Workload(**cols)


def test_valid_columns_are_normalised_to_the_kernels_dtypes():
    w = Workload(keys=np.array([0, 1], np.int32), ops=[0, 1], times=[0, 1], sizes=[3.0, 4.0],
                 ttls=[np.nan, 2], key_names=["a", "b"])
    assert (w.keys.dtype, w.ops.dtype, w.times.dtype, w.sizes.dtype, w.ttls.dtype) == (
        np.int64, np.int8, np.float64, np.int64, np.float64)


# --- Zipf and hot sets over any number of keys ------------------------------------------------

@pytest.mark.parametrize("alpha", [0.3, 0.8, 1.0, 1.4, 3.0])
def test_rejection_inversion_draws_the_exact_zipf_law(alpha):
    """Frequencies of 400,000 draws against the exact probabilities: a chi-square test at
    the 0.1% level, and every key within 5 standard errors."""
    from scipy.stats import chisquare

    n_keys, n = 200, 400_000
    draws = zipf_rejection_inversion(n_keys, alpha, n, np.random.default_rng(7))
    counts = np.bincount(draws, minlength=n_keys)
    assert counts.size == n_keys
    p = zipf_probabilities(n_keys, alpha)
    assert chisquare(counts, p * n).pvalue > 1e-3
    assert np.all(np.abs(counts - p * n) <= 5 * np.sqrt(n * p * (1 - p)) + 1)


def test_rejection_inversion_is_exact_at_the_edges():
    rng = np.random.default_rng(1)
    assert set(zipf_rejection_inversion(1, 1.0, 100, rng)) == {0}
    two = zipf_rejection_inversion(2, 1.0, 200_000, rng)
    assert abs(np.mean(two == 0) - 2 / 3) < 0.005
    steep = zipf_rejection_inversion(10 ** 12, 1e308, 1000, rng)   # all on the first key
    assert set(steep) == {0}


def test_huge_key_spaces_keep_only_the_keys_drawn():
    w = simlab.zipf(10 ** 12, 1.0, 20_000, seed=4)
    assert w.params["n_keys"] == 10 ** 12 and w.n_keys == w.unique_keys <= 20_000
    ranks = w.key_names[w.keys].astype(np.int64)
    assert ranks.min() >= 0 and ranks.max() < 10 ** 12
    assert abs(np.mean(ranks == 0) - 1 / (np.log(10 ** 12) + 0.5772)) < 0.01
    h = simlab.hot_set(10 ** 12, 20_000, hot_fraction=0.2, hot_share=0.8, seed=4)
    hot = h.key_names[h.keys].astype(np.int64) < 2 * 10 ** 11
    assert abs(hot.mean() - 0.8) < 0.02
    with pytest.raises(ValueError, match=r"n_keys must be at most 2\*\*53"):
        simlab.zipf(2 ** 53 + 1, 1.0, 10)
    with pytest.raises(ValueError, match="n_keys=1000000000000 needs about 24 TB"):
        zipf_probabilities(10 ** 12, 1.0)


def test_moderate_key_spaces_are_unchanged_bit_for_bit():
    w = simlab.zipf(1000, 0.9, 5000, seed=11)
    p = zipf_probabilities(1000, 0.9)
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    from simlab._random import stream
    expected = np.searchsorted(cdf, stream(11, "keys").random(5000), side="right")
    assert np.array_equal(w.keys, np.minimum(expected, 999)) and w.n_keys == 1000


# --- the API validates before it allocates ---------------------------------------------------

def test_api_entry_points_refuse_what_would_not_fit():
    with pytest.raises(ValueError, match="n_requests=10000000000 needs about 480 GB"):
        simlab.zipf(1000, 1.0, 10 ** 10)
    with pytest.raises(ValueError, match="rate 1e-300 spreads 10 arrivals"):
        simlab.zipf(10, 1.0, 10, rate=1e-300)
    with pytest.raises(ValueError, match="jobs=100000000000 needs about"):
        simulate_queue(arrival_rate=1, service_mean=1, workers=1, jobs=10 ** 11)
    with pytest.raises(ValueError, match="needs about 1e\\+15 steps"):
        simulate_ratelimit("fixed-window", limit=1, window=1, rate=1e12, duration=1000)


def test_memory_estimate_follows_an_address_space_limit():
    script = ("import resource, simlab._validate as v\n"
              "used = v._address_space_used()\n"
              "resource.setrlimit(resource.RLIMIT_AS, (used + 2**30, resource.RLIM_INFINITY))\n"
              "print(v.available_memory())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert 0 < int(out.stdout) <= 2 ** 30


@contextlib.contextmanager
def allocates_at_most(limit_bytes):
    """Fail if what runs inside allocates more than ``limit_bytes`` at its peak (tracemalloc
    sees NumPy's arrays as well as Python's objects)."""
    import tracemalloc

    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < limit_bytes, f"allocated {peak:,} bytes before refusing"


def little_memory(monkeypatch, n_bytes=10 ** 7):
    """This machine as one with ``n_bytes`` available, so that a refusal does not depend on
    the machine the tests run on."""
    monkeypatch.setattr(v, "available_memory", lambda: n_bytes)


@pytest.mark.parametrize("make", ["zipf", "hot_set"])
@pytest.mark.parametrize("option, error, message", [
    ({"ttl": -1}, ValueError, "ttl must be a positive finite number, got -1"),
    ({"ttl": 1e10}, ValueError, "ttl must be at most 1e+09 seconds"),
    ({"value_size": 0}, ValueError, "value_size must be a positive integer, got 0"),
    ({"value_size": "big"}, TypeError, "value_size must be a positive integer, got 'big'"),
    ({"rate": math.nan}, ValueError, "rate must be a positive finite number, got nan"),
    ({"rate": 1e-300}, ValueError, "rate 1e-300 spreads 2,000,000 arrivals"),
    ({"read_fraction": 2}, ValueError, "read_fraction must be a number between 0 and 1, got 2"),
    ({"ttl": 1, "ttl_jitter": 5}, ValueError,
     "ttl_jitter must be below 1 (a TTL stays positive), got 5"),
    ({"ttl_jitter": -0.5}, ValueError, "ttl_jitter must be a non-negative finite number"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer, got -1"),
])
def test_workload_options_are_refused_before_anything_is_drawn(make, option, error, message):
    # 2 million requests: the keys alone would be 16 MB; a refusal allocates next to nothing
    with allocates_at_most(2 * 10 ** 6), pytest.raises(error, match=re.escape(message)):
        getattr(simlab, make)(10, 2 * 10 ** 6, **option) if make == "hot_set" \
            else simlab.zipf(10, 1.0, 2 * 10 ** 6, **option)


def test_lru_curve_counts_its_sizes_before_making_them(monkeypatch):
    w = simlab.zipf(1000, 1.0, 10000, seed=1)
    few = simlab.lru_curve(w, sizes=range(1, 2001))         # a range stays cheap
    assert few["size"].tolist() == list(range(1, 2001))
    assert few.equals(simlab.lru_curve(w, sizes=np.arange(1, 2001)))
    with pytest.raises(ValueError, match=re.escape("sizes[] must be a positive integer, got 0")):
        simlab.lru_curve(w, sizes=range(5, -5, -5))
    # sizes without a list of them: 10**12 in a range, or a broadcast array of no memory
    for sizes in (range(1, 10 ** 12 + 1), np.broadcast_to(np.int64(3), (10 ** 12,))):
        with allocates_at_most(2 * 10 ** 6), pytest.raises(v.BudgetError) as info:
            simlab.lru_curve(w, sizes=sizes)
        assert str(info.value).startswith("sizes with 1,000,000,000,000 cache sizes needs "
                                          "about 96 TB for the curve (a row per size); this "
                                          "machine has"), info.value
    with pytest.raises(v.BudgetError, match=r"sizes with 99,999,999,999,999,999,999 cache"):
        v.cache_sizes("sizes", range(1, 10 ** 20))          # len() of it would overflow
    little_memory(monkeypatch)
    with allocates_at_most(2 * 10 ** 6), pytest.raises(v.BudgetError) as info:
        simlab.lru_curve(w, sizes=range(1, 2 * 10 ** 6))
    assert str(info.value) == ("sizes with 1,999,999 cache sizes needs about 192 MB for the "
                               "curve (a row per size); this machine has 10 MB available; "
                               "give fewer sizes, e.g. simlab.curves.log_sizes(max_size), 40 "
                               "spaced on a log scale")


def test_scans_are_sized_before_they_are_made(monkeypatch):
    from simlab.workloads import with_scans

    w = simlab.zipf(1000, 1.0, 10000, seed=1)
    assert len(with_scans(w, every=1000, length=50)) == 10000 + 10 * 50
    with allocates_at_most(2 * 10 ** 6), pytest.raises(v.BudgetError) as info:
        with_scans(w, every=1, length=5 * 10 ** 6)
    assert str(info.value).startswith(
        "every=1, length=5000000 (10,000 scans of 5,000,000 reads, 50,000,010,000 requests) "
        "needs about 9.6 TB for the workload with its scans; this machine has"), info.value
    assert str(info.value).endswith("; use a larger every or a shorter length")
    little_memory(monkeypatch)
    with allocates_at_most(2 * 10 ** 6), pytest.raises(v.BudgetError, match=re.escape(
            "every=1000, length=100000 (10 scans of 100,000 reads, 1,010,000 requests) needs "
            "about 194 MB for the workload with its scans; this machine has 10 MB")):
        with_scans(w, every=1000, length=10 ** 5)
    with pytest.raises(TypeError, match="workload must be a simlab Workload, got list"):
        with_scans([1, 2], every=1, length=1)


@pytest.mark.parametrize("where, name", [("whiteboard", "nope"), ("filing_room", "postgres")])
def test_an_unknown_latency_preset_is_named_by_its_parameter(where, name):
    w = simlab.zipf(100, 1.0, 100, seed=1)
    with pytest.raises(ValueError, match=re.escape(
            f"{where} preset name must be one of redis-loopback, redis-lan, postgres-loopback, "
            f"postgres-indexed, disk-read, net-same-host, net-same-zone, net-cross-region; "
            f"got {name!r}")):
        simlab.simulate(w, cache_size=5, **{where: name})
    with pytest.raises(ValueError, match="^name must be one of"):
        simlab.preset(name)


def test_strict_json_maps_nan_and_infinity_to_null():
    text = v.dumps({"a": float("nan"), "b": [1.5, float("inf"), -np.inf], "c": np.float64(2),
                    "d": np.int64(3), "e": np.bool_(True), "f": None})
    assert strict_json(text) == {"a": None, "b": [1.5, None, None], "c": 2.0, "d": 3,
                                 "e": True, "f": None}


# --- REDIS_URL -------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "redis://localhost:6379/99",
                                 "redis://localhost", "rediss://u:pw@host:6380/3",
                                 "unix:///tmp/redis.sock?db=2", "redis://h:6379?db=4"])
def test_usable_redis_urls_pass(url):
    assert v.check_redis_url(url) == url


@pytest.mark.parametrize("url, message", [
    ("redis://localhost:6379/abc", "REDIS_URL's database (path) must be an integer such as 0, "
                                   "got 'abc' in redis://localhost:6379/abc"),
    ("redis://:s3cret@h:6379/x1", "got 'x1' in redis://:***@h:6379/x1"),
    ("redis://h:6379/-1", "must be an integer such as 0, got '-1'"),
    ("redis://h?db=one", "REDIS_URL's database (db parameter) must be an integer"),
    ("http://h:6379/0", "REDIS_URL must start with redis://, rediss:// or unix://"),
    ("redis://h:99999/0", "is not a valid URL"),
    ("", "REDIS_URL must be a URL such as redis://localhost:6379/0"),
])
def test_unusable_redis_urls_get_one_line(url, message):
    with pytest.raises(ValueError) as info:
        v.check_redis_url(url)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "s3cret" not in str(info.value)


def test_a_database_beyond_the_server_is_reported_kindly():
    import redis

    from simlab.live import PrivateRedis, redis_server_binary
    if not redis_server_binary():
        pytest.skip("redis-server is not installed")
    with PrivateRedis() as server:
        url = f"redis://127.0.0.1:{server.port}/99"
        v.check_redis_url(url)
        with pytest.raises(redis.exceptions.ResponseError) as info:
            redis.Redis.from_url(url).ping()
        line = v.database_error(url, info.value)
    assert "asks for a database this server does not have (DB index is out of range)" in line
    assert "unless its 'databases' setting says more" in line


# --- the property test -------------------------------------------------------------------------

NUMBERS = ["0", "1", "2", "7", "100", "-1", "-5", "0.5", "1e308", "-1e308", "1e-308", "nan",
           "inf", "-inf", "10000000000", "1000000000000", "99999999999999999999", "9e18",
           "9007199254740993", "abc", "", "1,2", "0x10"]
SMALL_COUNTS = ["1", "2", "50", "0", "-3", "nan", "1e308", "10000000000", "1000000000000",
                "99999999999999999999", "abc", ""]
POLICIES = ["lru", "lfu", "fifo", "random", "perfect-lfu", "noeviction", "allkeys-lru",
            "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random",
            "volatile-ttl", "mru", ""]
TIME_CAP_S = 20.0


def _pool(*sane):
    """A flag's values: sane ones seven times in eight, so that most runs get past the parser
    and exercise the run's own checks; else any absurd one."""
    return (tuple(str(x) for x in sane), NUMBERS)


def _value(draw, st, pool):
    if isinstance(pool, tuple):
        sane, absurd = pool
        return draw(st.sampled_from(absurd if draw(st.integers(0, 7)) == 0 else sane))
    return draw(st.sampled_from(pool))


def _options(draw, st, spec, *, required=(), rare=()):
    """Each flag of ``spec`` given or not: a required one 9 times in 10, a ``rare`` one
    (a contradiction) once in 20, any other 3 times in 10."""
    argv = []
    for flag, pool in spec:
        odds = 18 if flag in required else 1 if flag in rare else 6
        if draw(st.integers(0, 19)) < odds:
            argv += [flag] if pool is None else [flag, _value(draw, st, pool)]
    return argv


def _traces(tmp):
    files = {"ok.txt": "a\nb\na\nc\n", "ok.csv": "key,t,op,size,ttl\na,0,get,3,\nb,1,set,4,5\n",
             "big.csv": "key,size\na,1e30\n", "inf.csv": "key,t\na,inf\n",
             "bad.csv": "key,op\na,put\n", "empty.txt": ""}
    for name, body in files.items():
        (tmp / name).write_text(body)
    return [str(tmp / name) for name in files] + [str(tmp / "missing.txt")]


def _cli_argv(draw, st, traces):
    command = draw(st.sampled_from(["simulate", "mrc", "ratelimit", "queue"]))
    if command in ("simulate", "mrc"):
        # a request count is always given: the default million is a legitimate slow run
        argv = ["--requests", _value(draw, st, ((("1", "50", "500"), SMALL_COUNTS)))]
        argv += _options(draw, st, [
            ("--zipf", _pool(0, 0.8, 1.0, 1.5)), ("--keys", _pool(1, 50, 1000, 10 ** 12)),
            ("--seed", _pool(0, 1, 42)), ("--trace", traces)], rare=("--trace",))
        if command == "mrc":
            argv += _options(draw, st, [("--sizes", (("1,10", "5", "10,99999999999999999999"),
                                                     NUMBERS + ["1,,5", "3,-1", "5,1e308"]))])
        else:
            policy = draw(st.sampled_from(POLICIES))
            argv += ["--policy", policy] if policy else []
            redis = policy not in ("lru", "lfu", "fifo", "random", "perfect-lfu", "")
            argv += _options(draw, st, [
                ("--cache-size", _pool(1, 10, 100, 10 ** 20)),
                ("--maxmemory", _pool(1000, 100000, 10 ** 20)),
                ("--samples", _pool(1, 5, 64)), ("--value-size", _pool(1, 100, 536870912)),
                ("--rate", _pool(10, 1000, 1e308)), ("--lfu-log-factor", _pool(0, 10)),
                ("--lfu-decay-time", _pool(0, 1)), ("--ttl", _pool(0.001, 1, 60)),
                ("--ttl-mode", ["fixed", "sliding", "x"]),
                ("--read-fraction", _pool(0, 0.5, 1)), ("--db-latency", _pool(0, 0.002, 1e9)),
                ("--whiteboard-latency", _pool(0, 0.0002)), ("--atomic", None)],
                required=("--maxmemory",) if redis else ("--cache-size",),
                rare=(("--cache-size", "--ttl-mode") if redis else
                      ("--maxmemory", "--samples", "--value-size", "--lfu-log-factor",
                       "--lfu-decay-time")))
    elif command == "ratelimit":
        argv = _options(draw, st, [
            ("--algorithm", (("fixed-window", "sliding-log", "sliding-counter",
                              "token-bucket"), ["leaky", "", "FIXED-WINDOW"])),
            ("--limit", _pool(1, 10, 1000)), ("--window", _pool(0.1, 1, 60)),
            ("--rate", _pool(1, 15, 1000)), ("--duration", _pool(1, 60, 100)),
            ("--pattern", (("poisson", "edge-burst"), ["x"])), ("--seed", _pool(0, 1))],
            required=("--algorithm", "--limit", "--window", "--rate", "--duration"))
    else:
        argv = _options(draw, st, [
            ("--arrival-rate", _pool(1, 20, 1e308)), ("--service-mean", _pool(0.01, 0.1, 1)),
            ("--workers", _pool(1, 4, 1000)),
            ("--jobs", (("1", "2", "50", "500"), SMALL_COUNTS)),
            ("--crash-rate", _pool(0, 0.5, 1e9)), ("--reliable", None),
            ("--seed", _pool(0, 1))],
            required=("--arrival-rate", "--service-mean", "--workers", "--jobs"))
    if draw(st.booleans()):
        argv.append("--json")
    return [command] + argv


@pytest.mark.skipif(not CAPPED, reason="runs inside test_property_under_time_and_memory_caps")
def test_capped_cli(tmp_path_factory):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    traces = _traces(tmp_path_factory.mktemp("traces"))

    @settings(max_examples=int(os.environ.get("SIMLAB_INPUTS_EXAMPLES", "120")),
              deadline=TIME_CAP_S * 1000, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        argv = data.draw(st.composite(lambda draw: _cli_argv(draw, st, traces))())
        code, out, err = run_cli(*argv)
        if os.environ.get("SIMLAB_INPUTS_SHOW"):
            print(code, argv, err.strip()[:150], file=sys.__stderr__)
        assert code in (0, 2), (argv, code, err)
        if code == 0:
            assert err == "", (argv, err)
            if "--json" in argv:
                strict_json(out)
        else:
            assert "Traceback" not in err and err.count("\n") == 1, (argv, err)
            assert err.startswith("simlab"), (argv, err)

    check()


API_VALUES = [0, 1, 2, 7, 100, -1, 0.5, 1.5, 1e308, -1e308, 1e-308, math.nan, math.inf,
              -math.inf, 10 ** 10, 10 ** 12, 10 ** 20, 2 ** 63, 9 * 10 ** 18, "abc", None, True,
              np.int64(5), np.float64(0.25)]


def _api_call(draw, st, w):
    def pick():   # a sane value three times in four, else any absurd one
        if draw(st.integers(0, 3)):
            return draw(st.sampled_from([1, 2, 7, 100, 0.5, 1.0, 10.0]))
        return draw(st.sampled_from(API_VALUES))
    name = draw(st.sampled_from(["zipf", "hot_set", "from_keys", "Workload", "simulate",
                                 "simulate-redis", "hit_counts", "lru_curve",
                                 "simulate_ratelimit", "simulate_queue"]))
    if name == "zipf":
        return lambda: simlab.zipf(pick(), pick(), draw(st.sampled_from([1, 50, 0, -1, 10 ** 10,
                                                                          1e308, "x"])),
                                   rate=draw(st.sampled_from([None, 10.0, 1e-308, 1e308, -1])),
                                   read_fraction=draw(st.sampled_from([1.0, 0.5, 2, math.nan])),
                                   value_size=pick(), ttl=draw(st.sampled_from([None, 1.0,
                                                                                1e308, 0])),
                                   seed=draw(st.sampled_from([None, 1, -1, 2 ** 200, "s"])))
    if name == "hot_set":
        return lambda: simlab.hot_set(pick(), draw(st.sampled_from([1, 50, 0, 10 ** 10])),
                                      hot_fraction=pick(), hot_share=pick(), seed=1)
    if name == "from_keys":
        return lambda: simlab.workloads.from_keys(
            draw(st.sampled_from([["a", "b"], [], [1.5, None], "abc"])),
            times=draw(st.sampled_from([None, [0, 1], [1, 0], [0, math.inf], "x"])))
    if name == "Workload":
        n = draw(st.sampled_from([0, 1, 3]))

        def column(kind):
            choice = draw(st.sampled_from(["ok", "float", "neg", "big", "nan", "short"]))
            base = {"keys": np.arange(n) % 2, "ops": np.zeros(n, np.int8),
                    "sizes": np.ones(n, np.int64), "ttls": np.full(n, np.nan),
                    "times": np.arange(n, dtype=float)}[kind]
            if choice == "float":
                return base.astype(float) + 0.5
            if choice == "neg":
                return base - 3
            if choice == "big":
                return base + 1e30
            if choice == "nan":
                return base * np.nan
            if choice == "short":
                return base[:-1]
            return base
        return lambda: Workload(keys=column("keys"), ops=column("ops"),
                                times=draw(st.sampled_from([None, column("times")])),
                                sizes=column("sizes"), ttls=column("ttls"),
                                key_names=np.array(["a", "b"], dtype=object)[
                                    :draw(st.sampled_from([0, 1, 2]))])
    if name == "simulate":
        return lambda: simlab.simulate(w, policy=draw(st.sampled_from(POLICIES)),
                                       cache_size=pick(), filing_room=pick(),
                                       whiteboard=draw(st.sampled_from(["redis-loopback", 0,
                                                                        1e308, "x"])),
                                       ttl_mode=draw(st.sampled_from(["fixed", "sliding", 1])),
                                       seed=1)
    if name == "simulate-redis":
        return lambda: simlab.simulate(w, policy=draw(st.sampled_from(POLICIES)),
                                             maxmemory=pick(), samples=pick(),
                                             lfu_log_factor=pick(), lfu_decay_time=pick(),
                                             filing_room=pick(), seed=1)
    if name == "hit_counts":
        return lambda: simlab.engine.hit_counts(
            w, draw(st.sampled_from([[1, 2], [pick()], [], pick()])),
            policy=draw(st.sampled_from(POLICIES)), warmup=pick())
    if name == "lru_curve":
        return lambda: simlab.lru_curve(w, draw(st.sampled_from([None, [1, 2], [pick()], []])))
    if name == "simulate_ratelimit":
        return lambda: simulate_ratelimit(
            draw(st.sampled_from(["fixed-window", "sliding-log", "token-bucket", "x"])),
            limit=pick(), window=pick(), rate=pick(), duration=pick(),
            pattern=draw(st.sampled_from(["poisson", "edge-burst", 3])), seed=1)
    return lambda: simulate_queue(arrival_rate=pick(), service_mean=pick(),
                                         workers=pick(), jobs=draw(st.sampled_from(
                                             [1, 2, 50, 0, 10 ** 10, 10 ** 12, 1.5])),
                                         crash_rate=pick(), reliable=draw(st.booleans()),
                                         seed=1)


@pytest.mark.skipif(not CAPPED, reason="runs inside test_property_under_time_and_memory_caps")
def test_capped_api():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    w = simlab.zipf(50, 1.0, 200, rate=100.0, read_fraction=0.9, ttl=1.0, seed=1)

    @settings(max_examples=int(os.environ.get("SIMLAB_INPUTS_EXAMPLES", "120")),
              deadline=TIME_CAP_S * 1000, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        call = data.draw(st.composite(lambda draw: _api_call(draw, st, w))())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")      # a warning is an answer gone wrong too
                call()
            outcome = "answered"
        except (ValueError, TypeError) as exc:
            text = str(exc)
            assert text and "\n" not in text, repr(exc)
            outcome = f"refused: {text[:60]}"
        if os.environ.get("SIMLAB_INPUTS_SHOW"):
            print(outcome, file=sys.__stderr__)

    check()


def test_property_under_time_and_memory_caps():
    """The two property tests above, in a subprocess whose address space is capped at 3 GB
    above what the interpreter already uses (``RLIMIT_AS``), with a wall-clock cap."""
    env = dict(os.environ, SIMLAB_INPUTS_CAPPED="1", SIMLAB_INPUTS_CAP_BYTES=str(3 * 2 ** 30))
    tic = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "no:randomly", __file__, "-k", "capped", "-x"],
                         capture_output=True, text=True, timeout=300, env=env,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "2 passed" in out.stdout, out.stdout[-2000:]
    print(f"property tests: {time.perf_counter() - tic:.1f} s")


if CAPPED:   # the subprocess: cap the address space before any test runs
    import resource

    _cap = int(os.environ.get("SIMLAB_INPUTS_CAP_BYTES", str(3 * 2 ** 30)))
    resource.setrlimit(resource.RLIMIT_AS, (v._address_space_used() + _cap,
                                            resource.RLIM_INFINITY))
