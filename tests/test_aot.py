"""The simulate command's kernels compiled ahead of time (simlab._aot): the same results as the
Numba kernels they are built from, never used when stale, and a command that then runs
without importing Numba or pandas; ``simulate(..., table=False)`` and its summary.
"""
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab
from simlab import _aot
from simlab import _kernels as K
from simlab.results import Run, summarize

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                              reason="no C compiler: the kernels run through Numba")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The module built from today's kernels into a folder of the test's own."""
    folder = tmp_path_factory.mktemp("aot")
    _aot.build(folder)
    module = _aot.load(folder)
    assert module is not None and module is not K
    return folder, module


def _workloads():
    yield simlab.zipf(300, 1.0, 4_000, seed=1)
    yield simlab.zipf(300, 0.9, 4_000, rate=2_000.0, read_fraction=0.8, ttl=0.05, seed=2)
    yield simlab.hot_set(500, 3_000, hot_fraction=0.1, hot_share=0.9, rate=500.0, ttl=0.2,
                         ttl_jitter=0.1, seed=3)


@needs_cc
@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "random", "perfect-lfu"])
def test_ahead_of_time_runs_equal_numbas_request_by_request(built, monkeypatch, policy):
    _, module = built
    for w in _workloads():
        for options in ({}, {"filing_room": 0.0}, {"ttl_mode": "sliding"}, {"atomic": True}):
            runs = []
            for kernels in (module, K):
                monkeypatch.setattr(simlab.engine, "kernels", lambda kernels=kernels: kernels)
                runs.append(simlab.simulate(w, policy=policy, cache_size=40, seed=5,
                                            table=False, **options))
            aot, numba = runs
            for name in ("start", "outcome", "whiteboard", "filing_room", "latency", "flags"):
                assert np.array_equal(getattr(aot, name), getattr(numba, name)), (name, options)
            assert list(aot.counters) == list(numba.counters)


@needs_cc
def test_ahead_of_time_trace_keys_equal_numbas_and_pandas(built):
    _, module = built
    rng = np.random.default_rng(7)
    for values in (rng.integers(-10 ** 18, 10 ** 18, 20_000), rng.integers(0, 3_000, 50_000),
                   np.array([0, -1, 2 ** 63 - 1, -2 ** 63, 0])):
        data = np.frombuffer(("\n".join(map(str, values.tolist())) + "\n").encode(),
                             dtype=np.uint8).copy()
        codes, labels = pd.factorize(values, sort=False)
        for kernels in (module, K):
            got_codes, got_labels, plain = kernels.int_line_keys(data)
            assert plain
            assert np.array_equal(got_codes, codes) and np.array_equal(got_labels, labels)
    for text in (b"1\n\n2\n", b"007\n", b"-0\n", b"9223372036854775808\n", b"1\r\n", b""):
        data = np.frombuffer(text, dtype=np.uint8).copy()
        assert not module.int_line_keys(data)[2] and not K.int_line_keys(data)[2], text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2 ** 63, 2 ** 63 - 1) | st.integers(-5, 5), max_size=300))
def test_trace_keys_are_numbered_as_pandas_numbers_them(values):
    data = np.frombuffer("".join(f"{x}\n" for x in values).encode(), dtype=np.uint8).copy()
    codes, labels, plain = K.int_line_keys(data)
    assert plain == bool(values)
    if values:
        expected_codes, expected_labels = pd.factorize(np.array(values, dtype=np.int64),
                                                       sort=False)
        assert codes.tolist() == expected_codes.tolist()
        assert labels.tolist() == expected_labels.tolist()


@needs_cc
def test_a_stale_or_foreign_module_is_never_used(built, tmp_path):
    folder, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert _aot.load(copy) is not None
    stamp = json.loads((copy / "_aot_kernels.json").read_text())
    # built from other kernels (an edited _kernels.py, another NumPy)
    (copy / "_aot_kernels.json").write_text(json.dumps({**stamp, "fingerprint": "0" * 64}))
    assert _aot.load(copy) is None
    assert _aot.kernels(copy) is K                 # the Numba kernels instead
    # a stamp naming a missing file, a broken stamp, no stamp at all
    (copy / "_aot_kernels.json").write_text(json.dumps({**stamp, "file": "nothing.so"}))
    assert _aot.load(copy) is None
    (copy / "_aot_kernels.json").write_text("{not json")
    assert _aot.load(copy) is None
    (copy / "_aot_kernels.json").unlink()
    assert _aot.load(copy) is None


def test_without_a_compiler_build_says_why_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))          # no cc, no gcc
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(RuntimeError, match="no C compiler"):
        _aot.build(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert _aot.kernels(tmp_path) is K


@needs_cc
def test_the_simulate_command_runs_without_numba_or_pandas(tmp_path):
    """After ``python -m simlab.warmup`` (make test runs it first), the command's process
    imports neither: its start-up is NumPy's."""
    assert _aot.load() is not None, "python -m simlab.warmup has not built the module"
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(str(k) for k in simlab.zipf(500, 1.0, 20_000, seed=1).keys))
    script = ("import json, sys\nfrom simlab.cli import main\n"
              f"main(['simulate', '--trace', {str(trace)!r}, '--cache-size', '50', "
              "'--seed', '1', '--json'])\n"
              "print(json.dumps(sorted(m for m in ('numba', 'pandas', 'scipy') "
              "if m in sys.modules)), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stderr.strip().splitlines()[-1]) == []
    result = json.loads(out.stdout)
    table = simlab.simulate(simlab.read_trace(trace), cache_size=50, seed=1)
    expected = summarize(table)
    for key in ("hits", "misses", "hit_ratio", "p50_ms", "p99_ms", "db_qps_with_cache"):
        assert result[key] == pytest.approx(expected[key], rel=1e-12), key


def test_a_run_as_arrays_summarizes_as_its_table():
    w = simlab.zipf(300, 0.9, 5_000, rate=2_000.0, read_fraction=0.8, ttl=0.05, seed=2)
    for policy, size in (("lru", {"cache_size": 40}), ("allkeys-lru", {"maxmemory": 6_000})):
        run = simlab.simulate(w, policy=policy, seed=3, table=False, **size)
        table = simlab.simulate(w, policy=policy, seed=3, **size)
        assert isinstance(run, Run)
        assert {k: v for k, v in run.attrs.items() if k != "elapsed_s"} == \
            {k: v for k, v in table.attrs.items() if k != "elapsed_s"}
        a, b = summarize(run, warmup=100), summarize(table, warmup=100)
        assert a.keys() == b.keys()
        for key in a:
            same = a[key] == b[key] or (isinstance(a[key], float) and math.isnan(a[key])
                                        and math.isnan(b[key]))
            assert same, (policy, key, a[key], b[key])
        assert np.array_equal(run.latency, table["latency"].to_numpy())
        assert np.array_equal(run.outcome, table["outcome"].cat.codes.to_numpy())
    with pytest.raises(TypeError, match="table must be True .* got 'no'"):
        simlab.simulate(w, cache_size=40, table="no")


def test_warmup_writes_simlabs_bytecode_even_where_python_would_not(tmp_path):
    """``PYTHONDONTWRITEBYTECODE`` (set on some shared machines) leaves an editable install
    compiling its sources in every process; warmup's ``byte_compile`` writes them anyway."""
    import importlib.util
    from pathlib import Path

    env = {**__import__("os").environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", "from simlab.warmup import byte_compile; "
                          "print(byte_compile())"], capture_output=True, text=True,
                         check=True, timeout=120, env=env)
    assert out.stdout.startswith("simlab: bytecode written")
    package = Path(simlab.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 20
    missing = [str(p.relative_to(package)) for p in sources
               if not Path(importlib.util.cache_from_source(str(p))).is_file()]
    assert missing == []


@needs_cc
def test_ahead_of_time_kernels_release_the_gil(built):
    """The engine's threads draw while the loop runs: a kernel compiled ahead of time lets
    the other Python threads go on, as Numba's ``nogil=True`` does (numba.pycc has no such
    option; the build sets its flag)."""
    import threading
    import time

    from simlab import _ziggurat as Z

    _, module = built
    raw = np.random.default_rng(1).bit_generator.random_raw(40_000_000)
    out = np.empty(39_000_000)
    took = []

    def call():
        tic = time.perf_counter()
        module.normals(raw, out, np.zeros(2, dtype=np.int64), Z.KI, Z.WI, Z.FI, Z.R, Z.INV_R,
                       False, 1.0, 0.0)
        took.append(time.perf_counter() - tic)

    worker = threading.Thread(target=call)
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while worker.is_alive():           # this thread's longest wait between two steps
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert took[0] > 0.05                                  # a call long enough to tell
    assert longest < took[0] / 2, (longest, took[0])
