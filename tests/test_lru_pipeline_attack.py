"""Hostile tests of the LRU pipeline (simlab.engine._lru_run): threads, held results, learners'
latency models, hand-made workloads, interrupts, seeds and memory.

The tests named ``test_finding_*`` fail on the code as it was attacked (each one's docstring
says what happens and what should); the others are attacks that held, kept as regressions.
"""
import ctypes
import gc
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import simlab
from simlab import _validate
from simlab import engine
from simlab.latency import Distribution, Exponential

RUN_COLUMNS = ("start", "outcome", "whiteboard", "filing_room", "latency", "flags")


def _draw_threads():
    return [t for t in threading.enumerate() if t.name == "simlab-draws" and t.is_alive()]


def _same_run(a, b):
    for name in RUN_COLUMNS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=name != "outcome" and
                              name != "flags"), name
    assert [int(c) for c in a.counters] == [int(c) for c in b.counters]


def _attrs(df):
    return {k: v for k, v in df.attrs.items() if k not in ("elapsed_s", "engine")}


def _small():
    return simlab.zipf(50, 1.0, 2_000, rate=2_000.0, read_fraction=0.9, seed=3)


def _threaded_size():
    return simlab.zipf(1_000, 1.0, engine.PARALLEL_DRAWS, rate=20_000.0, read_fraction=0.9,
                       seed=3)


class _Fixed(Distribution):
    """A learner's model returning given values (``values(n)``), ignoring ``rng``."""

    def __init__(self, values):
        self.values = values

    def sample(self, n, rng=None):
        return self.values(n)

    def __repr__(self):
        return "Fixed"


_BASE = np.random.default_rng(0).exponential(0.001, 2_000)


# === findings ===================================================================================

@pytest.mark.parametrize("param", ["whiteboard", "filing_room"])
@pytest.mark.parametrize("position", [0, 2])
def test_finding_nan_latency_from_a_model_is_refused_or_both_engines_agree(param, position):
    """A learner's model returning one NaN among its draws: the fast engine and the reference
    engine give different tables (outcomes, latencies, counters: the NaN event blocks the LRU
    ring forever, fills never land). Expected: a clear ValueError naming the parameter from
    both engines (or, at least, the same table)."""
    w = _small()
    model = _Fixed(lambda n: np.where(np.arange(n) == position, np.nan, _BASE[:n]))
    got = {}
    for eng in ("fast", "reference"):
        try:
            got[eng] = simlab.simulate(w, cache_size=10, seed=1, engine=eng, **{param: model})
        except ValueError as exc:
            got[eng] = exc
    fast, ref = got["fast"], got["reference"]
    if isinstance(fast, Exception) or isinstance(ref, Exception):
        assert isinstance(fast, ValueError) and isinstance(ref, ValueError)
        assert param in str(fast) and param in str(ref)
    else:
        assert fast.equals(ref), "fast and reference tables differ"
        assert _attrs(fast) == _attrs(ref)


@pytest.mark.parametrize("bad", [-0.001, np.inf])
def test_finding_negative_or_infinite_latency_from_a_model_is_refused(bad):
    """``filing_room=-0.001`` or ``inf`` as a number is refused ("filing_room must be a
    non-negative finite number"); the same values returned by a learner's model are taken
    silently (a request that ends before it starts, a fill that never lands). Expected: the
    same refusal, naming the parameter."""
    w = _small()
    model = _Fixed(lambda n: np.where(np.arange(n) % 3 == 0, bad, _BASE[:n]))
    with pytest.raises(ValueError, match="filing_room"):
        simlab.simulate(w, cache_size=10, seed=1, filing_room=model)


class _Reusing(Distribution):
    """Writes each call's draws into one buffer of its own and returns it (a common
    optimisation); the draws themselves come from ``rng``, as documented."""

    def __init__(self):
        self.buf = None

    def sample(self, n, rng=None):
        if self.buf is None or self.buf.shape != (n,):
            self.buf = np.empty(n)
        self.buf[:] = rng.exponential(0.0005, n)
        return self.buf

    def __repr__(self):
        return "Reusing"


def test_finding_a_buffer_reusing_model_for_both_stores_gives_the_reference_table(monkeypatch):
    """One model object for whiteboard and filing room whose ``sample`` returns its own reused
    buffer: from PARALLEL_DRAWS requests on, the draws thread reads the whiteboard's draws
    chunk by chunk out of the model's buffer *after* the filing room's ``sample`` wrote its own
    draws into it (``_draws._whole`` keeps the returned array without copying it). The
    threaded table differs from the reference's (run unthreaded here: see the next test)."""
    w = _threaded_size()
    m = _Reusing()
    fast = simlab.simulate(w, cache_size=100, seed=1, whiteboard=m, filing_room=m, table=False)
    monkeypatch.setattr(engine, "PARALLEL_DRAWS", 10 ** 12)
    m = _Reusing()
    ref = simlab.simulate(w, cache_size=100, seed=1, whiteboard=m, filing_room=m, table=False,
                          engine="reference")
    _same_run(fast, ref)


def test_finding_the_generic_engines_draws_do_not_race_on_a_shared_model(monkeypatch):
    """Pre-existing, in ``engine._Inputs`` (every other policy, the Redis model and
    ``engine="reference"``, the oracle): from PARALLEL_DRAWS requests on the filing room's
    draws run in a thread beside the whiteboard's; with one buffer-reusing model for both,
    each ``sample`` overwrites the buffer the other is copying from, and the same call gives a
    different table from run to run (5 of 8 runs differed here)."""
    w = _threaded_size()
    runs = []
    for _ in range(8):
        m = _Reusing()
        runs.append(simlab.simulate(w, policy="fifo", cache_size=100, seed=1, whiteboard=m,
                                    filing_room=m, table=False))
    monkeypatch.setattr(engine, "PARALLEL_DRAWS", 10 ** 12)
    m = _Reusing()
    serial = simlab.simulate(w, policy="fifo", cache_size=100, seed=1, whiteboard=m,
                             filing_room=m, table=False)
    for run in runs:
        _same_run(run, serial)


class _Replay(Distribution):
    """Replays a recorded latency trace in order, call after call (ignores ``rng``)."""

    def __init__(self, n):
        self.trace = np.random.default_rng(5).exponential(0.0005, 3 * n)
        self.at = 0

    def sample(self, n, rng=None):
        out = self.trace[self.at:self.at + n]
        self.at += n
        return out

    def __repr__(self):
        return "Replay"


def test_finding_a_stateful_model_draws_in_the_same_order_threaded_or_not(monkeypatch):
    """A model shared by both stores that hands out successive values (a replayed trace):
    unthreaded, ``sample`` is called for the whiteboard's GETs, its SETs, then the filing room
    (the order of ``_Inputs``); threaded, GETs, filing room, then SETs. Same workload and seed,
    different table depending only on the request count (PARALLEL_DRAWS) and the CPU count."""
    w = _threaded_size()
    m = _Replay(len(w))
    threaded = simlab.simulate(w, cache_size=100, seed=1, whiteboard=m, filing_room=m,
                               table=False)
    monkeypatch.setattr(engine, "PARALLEL_DRAWS", 10 ** 12)
    m = _Replay(len(w))
    serial = simlab.simulate(w, cache_size=100, seed=1, whiteboard=m, filing_room=m,
                             table=False)
    _same_run(threaded, serial)


def test_finding_ctrl_c_while_joining_the_draws_leaves_no_thread_running(monkeypatch):
    """Ctrl-C (SIGINT) while the main thread waits in ``_lru_run``'s ``finally`` for the draws
    thread (the loop is done; the draws thread is still adding up latencies, slowed here):
    the thread is told to stop, and the interrupt reaches the caller only once it has ended,
    so nothing writes the columns after simulate returned. (A learner's own model never runs
    in that thread: see ``simlab._draws.chunked``.)"""
    if not hasattr(signal, "pthread_kill"):
        pytest.skip("needs signal.pthread_kill")
    w = _threaded_size()
    if not (len(w) >= engine.PARALLEL_DRAWS and (engine.os.cpu_count() or 1) > 1):
        pytest.skip("the pipeline runs unthreaded here")
    simlab.simulate(w, cache_size=100, seed=1)          # compiled before the timing
    real = engine.kernels()
    main = threading.main_thread().ident
    calls, loop_done = [], threading.Event()

    class Slow:
        def __getattr__(self, name):
            return getattr(real, name)

        def lru_apply(self, *args):         # the main thread's last step before it waits
            real.lru_apply(*args)
            loop_done.set()

        def lru_latencies(self, *args):     # the first sum: Ctrl-C at the waiting main thread
            if not calls:
                assert loop_done.wait(5)
                time.sleep(0.05)
                signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.1)
            calls.append(time.monotonic())
            return real.lru_latencies(*args)

    monkeypatch.setattr(engine, "kernels", Slow)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            simlab.simulate(w, cache_size=100, seed=1)
        raised = time.monotonic()
    finally:
        signal.signal(signal.SIGINT, old)
    time.sleep(0.3)
    assert calls and max(calls) <= raised, "the draws thread went on after simulate raised"
    assert len(calls) < 3                          # of three chunks: it stopped early
    assert not [t for t in threading.enumerate() if t.name == "simlab-draws" and t.is_alive()]


@pytest.mark.parametrize("column, change", [
    ("times", "w.times.astype(np.float32)"),
    ("ops", "w.ops.astype(np.int64)"),
    ("ops", "w.ops[:10].copy()"),
])
def test_finding_a_swapped_workload_column_is_refused_not_a_crash(column, change):
    """The Workload docstring says an owner can swap a column with ``object.__setattr__`` and
    that the engines re-check before running; only ``keys`` is re-checked. A float32 ``times``
    or int64 ``ops`` reaches the ahead-of-time kernels, which do not refuse other dtypes
    (contrary to simlab/_aot.py's comment): the interpreter dies with SIGSEGV. A shorter ``ops``
    is read past its end (no error, garbage outcomes). Expected: a TypeError/ValueError."""
    code = textwrap.dedent(f"""
        import numpy as np, simlab
        w = simlab.zipf(50, 1.0, 2000, rate=2000.0, read_fraction=0.9, seed=3)
        object.__setattr__(w, {column!r}, {change})
        try:
            simlab.simulate(w, cache_size=10, seed=1, table=False)
        except (TypeError, ValueError) as exc:
            print("refused:", exc)
        else:
            print("ran")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"the interpreter died (return code {done.returncode})"
    if column == "ops":
        assert done.stdout.startswith("refused"), done.stdout


def test_finding_long_latencies_in_flight_do_not_make_the_lru_loop_quadratic():
    """The LRU loop kept fills in flight in a ring sorted by insertion (each push walked back
    past every later event): with long, varied filing-room latencies (Exponential, mean 100 s:
    every miss in flight) each push walked most of the ring. 100,000 requests took ~1.8 s
    against ~0.02 s for the generic engine's heap (policy fifo), a million an estimated minute
    or more. Now a heap too: the same order of time as the generic loop."""
    w = simlab.zipf(100_000, 1.0, 100_000, rate=20_000.0, read_fraction=0.95, seed=1)
    slow_db = Exponential(100.0)
    simlab.simulate(w, policy="fifo", cache_size=1_000, filing_room=slow_db, seed=1,
                    table=False)                                         # warm up
    tic = time.perf_counter()
    simlab.simulate(w, policy="fifo", cache_size=1_000, filing_room=slow_db, seed=1,
                    table=False)
    generic = time.perf_counter() - tic
    tic = time.perf_counter()
    simlab.simulate(w, policy="lru", cache_size=1_000, filing_room=slow_db, seed=1, table=False)
    lru = time.perf_counter() - tic
    assert lru < 0.5 + 10 * generic, f"lru {lru:.2f} s against the generic loop's {generic:.3f} s"


@pytest.mark.parametrize("value", [np.float32(0.001), np.int64(0), np.float16(0.002)])
def test_finding_numpy_scalar_latencies_are_taken_as_numbers(value):
    """``filing_room=np.float32(0.001)`` (a number read from a NumPy array) is refused with
    "filing_room must be a latency model, a preset name or a number of seconds, got
    np.float32(0.001)": it is a number of seconds. np.float64 passes (a float subclass);
    ``seed`` and ``cache_size`` take NumPy integers. Expected: taken as ``float(value)``."""
    w = _small()
    got = simlab.simulate(w, cache_size=5, seed=1, filing_room=value)
    expected = simlab.simulate(w, cache_size=5, seed=1, filing_room=float(value))
    assert got.equals(expected)


# === attacks that held ==========================================================================

def _fuzz_compare(w, **kw):
    out = {}
    for mode in ("reference", "fast", "threaded"):
        mp = pytest.MonkeyPatch()
        try:
            if mode == "threaded":
                mp.setattr(engine, "PARALLEL_DRAWS", 0)
                mp.setattr(engine, "LRU_CHUNK", 7)
                mp.setattr(engine, "LRU_FIRST_CHUNK", 3)
                mp.setattr(engine, "LRU_EVENTS", 1)
            r = simlab.simulate(w, engine="reference" if mode == "reference" else "fast",
                                table=False, **kw)
            out[mode] = r
        finally:
            mp.undo()
    _same_run(out["fast"], out["reference"])
    _same_run(out["threaded"], out["reference"])


def test_hand_made_workloads_match_the_reference_request_by_request():
    """Random hand-made workloads: 1 to 300 requests, 1 to 30 keys, ties in time (all at 0,
    bursts), huge times, all writes, SET and DEL, TTLs from 1e-9 s, mixed NaN TTLs, sliding,
    atomic, constant and zero latencies, cache_size 1 to beyond the key space; fast,
    fast threaded with tiny chunks and a one-slot ring, and the reference agree."""
    rng = np.random.default_rng(20_261)
    for _ in range(150):
        n = int(rng.choice([1, 2, 3, 10, 50, 300]))
        n_keys = int(rng.choice([1, 2, 5, 30]))
        keys = rng.integers(0, n_keys, n)
        r = rng.random()
        ops = (rng.choice([0, 0, 0, 1, 2], n) if r < 0.6 else
               np.full(n, 1) if r < 0.75 else np.zeros(n, int))
        times = [np.zeros(n), np.sort(rng.integers(0, 5, n)) * 0.001,
                 np.cumsum(rng.exponential(0.0005, n)),
                 np.sort(rng.random(n)) * 1e6][int(rng.integers(0, 4))]
        ttls = [np.full(n, np.nan), np.full(n, float(rng.choice([1e-9, 0.001, 0.003, 1.0]))),
                np.where(rng.random(n) < 0.5, np.nan, rng.choice([1e-6, 0.001, 0.002], n))][
            int(rng.integers(0, 3))]
        w = simlab.Workload(keys=keys, ops=ops, times=times, sizes=np.full(n, 10), ttls=ttls,
                            key_names=np.array([f"k{i}" for i in range(n_keys)], dtype=object))
        _fuzz_compare(w, cache_size=int(rng.choice([1, 2, 3, 100])),
                      whiteboard=[("redis-loopback"), 0.0, 0.001][int(rng.integers(0, 3))],
                      filing_room=["postgres-indexed", 0.0, 0.001, 0.002][int(rng.integers(0, 4))],
                      ttl_mode=str(rng.choice(["fixed", "sliding"])),
                      atomic=[None, True, False][int(rng.integers(0, 3))],
                      seed=int(rng.integers(0, 1000)))


@pytest.mark.parametrize("n", [engine.PARALLEL_DRAWS, 139_264, 139_265])
def test_threaded_runs_at_chunk_boundaries_match_the_reference(n):
    w = simlab.zipf(3_000, 1.0, n, rate=50_000.0, read_fraction=0.9, ttl=0.2, seed=n)
    for kw in ({}, {"ttl_mode": "sliding", "atomic": True}):
        fast = simlab.simulate(w, cache_size=300, seed=5, table=False, **kw)
        ref = simlab.simulate(w, cache_size=300, seed=5, table=False, engine="reference", **kw)
        _same_run(fast, ref)


def test_concurrent_simulations_equal_runs_done_alone_and_never_share_memory():
    sizes = (engine.PARALLEL_DRAWS, engine.PARALLEL_DRAWS + 20_000, 3_000)
    ws = {n: simlab.zipf(5_000, 1.0, n, rate=20_000.0, read_fraction=0.9, ttl=1.0, seed=n)
          for n in sizes}
    alone = {(n, s): simlab.simulate(ws[n], cache_size=500, seed=s).copy(deep=True)
             for n in sizes for s in (1, 2)}
    held = simlab.simulate(ws[sizes[0]], cache_size=500, seed=1)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait()
            for it in range(4):
                n, s = sizes[(i + it) % 3], 1 + (i + it) % 2
                df = simlab.simulate(ws[n], cache_size=500, seed=s)
                results.append(((n, s), df))
                if it % 2:
                    del df                   # some tables dropped at once: blocks come back
                    results.pop()
        except BaseException as exc:         # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert held.equals(alone[(sizes[0], 1)])
    for key, df in results:
        assert df.equals(alone[key]), key
    arrays = [df["latency"].to_numpy() for _, df in results] + [held["latency"].to_numpy()]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
    assert not _draw_threads()
    assert sum(b.nbytes for b in engine._columns_kept.kept) <= engine._Columns.KEEP_BYTES


def _holders():
    import pandas as pd

    return {
        "values": lambda df, run: df["latency"].values,
        "memoryview": lambda df, run: memoryview(df["whiteboard_latency"].to_numpy()),
        "frombuffer": lambda df, run: np.frombuffer(memoryview(df["time"].to_numpy())),
        "slice": lambda df, run: df["latency"].to_numpy()[10:20],
        "iloc": lambda df, run: df.iloc[5:50],
        "series": lambda df, run: df["filing_room_latency"],
        "series_step": lambda df, run: df["filing_room_latency"][::2],
        "codes": lambda df, run: df["outcome"].cat.codes,
        "transpose": lambda df, run: df[["latency", "whiteboard_latency"]].T,
        "index": lambda df, run: pd.Index(df["latency"]),
        "extension_array": lambda df, run: df["latency"].array,
        "run": lambda df, run: run,
        "run_flags": lambda df, run: run.flags,
        "run_outcome_buffer": lambda df, run: run.outcome.data,
        "dlpack": lambda df, run: np.from_dlpack(run.whiteboard),
        "as_strided": lambda df, run: np.lib.stride_tricks.as_strided(
            run.latency, shape=(10,), strides=(8,)),
        "ctypes": lambda df, run: np.ctypeslib.as_ctypes(run.latency),
    }


def _snapshot(obj):
    if isinstance(obj, (memoryview, ctypes.Array)):
        return bytes(obj)
    return pickle.dumps(obj)


@pytest.mark.parametrize("name", sorted(_holders()))
def test_whatever_holds_part_of_a_result_keeps_it_unchanged(name):
    w = simlab.zipf(2_000, 1.0, 50_000, rate=5_000.0, read_fraction=0.9, ttl=0.5, seed=2)
    df = simlab.simulate(w, cache_size=300, seed=1)
    run = simlab.simulate(w, cache_size=300, seed=1, table=False)
    held = _holders()[name](df, run)
    before = _snapshot(held)
    del df, run
    gc.collect()
    for seed in (7, 8):
        simlab.simulate(w, cache_size=300, seed=seed)
        simlab.simulate(w, cache_size=300, seed=seed, table=False)
    assert _snapshot(held) == before


class _Interrupting(Distribution):
    def __init__(self, at, delay=0.0):
        self.at, self.calls, self.delay = at, 0, delay

    def sample(self, n, rng=None):
        self.calls += 1
        time.sleep(self.delay)
        if self.calls == self.at:
            raise KeyboardInterrupt
        return rng.exponential(0.0003, n)

    def __repr__(self):
        return "Interrupting"


@pytest.mark.parametrize("wb_at, db_at, delay", [(1, 0, 0.0), (2, 0, 0.0), (0, 1, 0.0),
                                                  (2, 0, 0.1), (0, 1, 0.1)])
def test_a_keyboard_interrupt_from_a_model_stops_the_run_and_the_next_one_is_right(
        wb_at, db_at, delay):
    w = _threaded_size()
    good = simlab.simulate(w, cache_size=100, seed=1).copy(deep=True)
    with pytest.raises(KeyboardInterrupt):
        simlab.simulate(w, cache_size=100, seed=1, whiteboard=_Interrupting(wb_at, delay),
                        filing_room=_Interrupting(db_at, delay))
    assert not _draw_threads()
    assert simlab.simulate(w, cache_size=100, seed=1).equals(good)


def test_seeds_none_huge_and_numpy_ints_reproduce_and_match_the_reference():
    w = _small()
    df = simlab.simulate(w, cache_size=10, seed=None)
    assert df.equals(simlab.simulate(w, cache_size=10, seed=df.attrs["seed"]))
    for seed in (2 ** 64, 2 ** 200, np.uint64(2 ** 63 + 5), np.int8(3)):
        fast = simlab.simulate(w, cache_size=10, seed=seed)
        ref = simlab.simulate(w, cache_size=10, seed=seed, engine="reference")
        assert fast.equals(ref) and fast.attrs["seed"] == int(seed)
    for bad in (np.random.default_rng(1), True, -1, 1.0):
        with pytest.raises((TypeError, ValueError), match="seed must be a non-negative integer"):
            simlab.simulate(w, cache_size=10, seed=bad)


@pytest.mark.parametrize("values, message", [
    (lambda n: np.full((n, 1), 0.001), r"shape \(2000, 1\)"),
    (lambda n: np.full(n - 1, 0.001), r"shape \(1999,\)"),
    (lambda n: 0.001, r"shape \(\)"),
])
def test_a_model_of_the_wrong_shape_is_named_by_both_engines(values, message):
    for eng in ("fast", "reference"):
        with pytest.raises(ValueError, match="latency model's sample"):
            simlab.simulate(_small(), cache_size=10, seed=1, filing_room=_Fixed(values),
                            engine=eng)


@pytest.mark.parametrize("values", [
    lambda n: np.ones(n, dtype=np.int64),
    lambda n: [0.001] * n,
    lambda n: np.array([0.001] * n, dtype=object),
    lambda n: (lambda a: (a.setflags(write=False), a)[1])(np.full(n, 0.001)),
    lambda n: np.full(2 * n, 0.001)[::2],
    lambda n: np.full(n, 0.001, dtype=np.float32),
])
def test_odd_but_valid_model_outputs_match_the_reference(values):
    w = _small()
    fast = simlab.simulate(w, cache_size=10, seed=1, filing_room=_Fixed(values))
    ref = simlab.simulate(w, cache_size=10, seed=1, filing_room=_Fixed(values),
                          engine="reference")
    assert fast.equals(ref)


def test_a_model_that_keeps_its_arrays_or_nests_a_simulation_is_left_alone():
    w = _threaded_size()
    kept, inner = [], []

    class Keeper(Distribution):
        def sample(self, n, rng=None):
            values = rng.exponential(0.0004, n)
            kept.append((values, values.copy()))
            if len(inner) < 2:
                inner.append(simlab.simulate(w, cache_size=50, seed=9, table=False)
                             .latency.copy())
            return values

        def __repr__(self):
            return "Keeper"

    m = Keeper()
    fast = simlab.simulate(w, cache_size=100, seed=1, whiteboard=m, filing_room="disk-read",
                           table=False)
    ref = simlab.simulate(w, cache_size=100, seed=1, whiteboard=Keeper(),
                          filing_room="disk-read", table=False, engine="reference")
    _same_run(fast, ref)
    assert all(np.array_equal(a, b) for a, b in kept)
    again = simlab.simulate(w, cache_size=50, seed=9, table=False).latency
    assert all(np.array_equal(x, again) for x in inner)
    assert not _draw_threads()


def test_a_run_too_large_is_refused_before_any_column_is_taken(monkeypatch):
    w = simlab.zipf(1_000, 1.0, 200_000, rate=20_000.0, seed=3)
    taken = []
    real_take = engine._columns_kept.take
    monkeypatch.setattr(_validate, "available_memory", lambda: 10 * 2 ** 20)
    monkeypatch.setattr(engine._columns_kept, "take", lambda n: taken.append(n) or real_take(n))
    with pytest.raises(_validate.BudgetError, match="200,000 requests"):
        simlab.simulate(w, cache_size=10)
    assert not taken


def test_the_pool_stays_within_its_budget_with_sizes_that_overflow_it():
    keep = engine._Columns.KEEP_BYTES
    n_big = keep // 34 // 2 + 1                    # two of these are past the budget
    w_big = simlab.zipf(1_000, 1.0, n_big, rate=50_000.0, seed=1)
    w_small = simlab.zipf(1_000, 1.0, 50_000, rate=50_000.0, seed=1)
    for w in (w_big, w_small, w_big, w_small):
        held = simlab.simulate(w, cache_size=10, seed=1, table=False)
        assert sum(b.nbytes for b in engine._columns_kept.kept) <= keep
        del held
    assert sum(b.nbytes for b in engine._columns_kept.kept) <= keep
