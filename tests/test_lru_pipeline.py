"""The LRU policy's own loop and its pipeline (simlab.engine._lru_run), and the draws it runs on
(simlab._draws): NumPy's numbers bit for bit, the generic loop's table request by request,
chunked or not, threaded or not, and every stage's error reaching the caller with no thread
left behind.
"""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab
from simlab import _codes as C
from simlab import _draws, engine
from simlab import _kernels as K
from simlab.latency import (Constant, Distribution, Empirical, Exponential, Gamma, LogNormal,
                            Mixture)

COLUMNS = ("start", "outcome", "whiteboard", "filing_room", "latency", "flags")


def _chunks(n, sizes):
    """Chunk bounds of ``n`` cycling through ``sizes``."""
    at, i = 0, 0
    while at < n:
        step = sizes[i % len(sizes)]
        yield at, min(n, at + step)
        at += step
        i += 1


# --- standard normals -------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2024, 987654321])
def test_normals_are_numpys_standard_normal_bit_for_bit(seed):
    """A million draws take both of the ziggurat's rare ways hundreds of times (beyond its
    last layer, |x| > 3.654, and in a layer's wedge); chunks of any size, refills of the
    generator's outputs included."""
    n = 1_000_003
    expected = np.random.default_rng(seed).standard_normal(n)
    assert np.sum(np.abs(expected) > 3.6541528853610088) > 100    # the tail is exercised
    normals = _draws.Normals(np.random.default_rng(seed))
    assert normals.fast
    ours = np.empty(n)
    for lo, hi in _chunks(n, [1, 7, 65_536, 3, 200_000, 4_095]):
        normals.fill(ours[lo:hi])
    assert np.array_equal(ours, expected)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 63), n=st.integers(0, 5_000),
       sizes=st.lists(st.integers(1, 700), min_size=1, max_size=5))
def test_normals_equal_numpys_for_any_seed_size_and_chunking(seed, n, sizes):
    normals = _draws.Normals(np.random.default_rng(seed))
    ours = np.empty(n)
    for lo, hi in _chunks(n, sizes):
        normals.fill(ours[lo:hi])
    assert np.array_equal(ours, np.random.default_rng(seed).standard_normal(n))


def test_the_rare_ways_wait_for_outputs_rather_than_read_past_them():
    """The kernel stops at a draw whose rare way needs outputs not handed yet, and goes on
    from the same draw when they come: the same numbers, whatever the batch boundaries."""
    from simlab import _ziggurat as Z

    seed, n = 5, 20_000
    raw = np.random.default_rng(seed).bit_generator.random_raw(3 * n)
    expected = np.random.default_rng(seed).standard_normal(n)
    out = np.empty(n)
    progress = np.zeros(2, dtype=np.int64)
    handed = 0
    while True:                          # hand the outputs one at a time
        handed += 1
        if K.normals(raw[:handed], out, progress, Z.KI, Z.WI, Z.FI, Z.R, Z.INV_R, False, 1.0,
                     0.0):
            break
        assert progress[0] <= handed
    assert np.array_equal(out, expected)


def test_other_bit_generators_and_a_failed_check_use_numpys_own(monkeypatch):
    for bits in (np.random.Philox(3), np.random.SFC64(3)):
        normals = _draws.Normals(np.random.Generator(bits))
        assert not normals.fast
    monkeypatch.setattr(_draws, "_agrees", [False])     # as if NumPy's algorithm changed
    normals = _draws.Normals(np.random.default_rng(3))
    assert not normals.fast
    out = np.empty(1000)
    normals.fill(out)
    assert np.array_equal(out, np.random.default_rng(3).standard_normal(1000))


def test_the_check_passes_here():
    _draws._agrees.clear()
    assert _draws._fast_normals_agree()


# --- every latency model, chunk by chunk --------------------------------------------------

class _Doubling(Distribution):
    """A learner's own model: every draw is two uniforms' sum."""

    def sample(self, n, rng=None):
        rng = np.random.default_rng(rng)
        return rng.random(n) + rng.random(n)


MODELS = [simlab.preset("redis-loopback"), simlab.preset("postgres-indexed"),
          LogNormal(0.001, 0.01), Constant(0.002), Constant(0.0), Gamma(2.0, 0.001),
          Exponential(0.001), Empirical([0.001, 0.002, 0.005]),
          Mixture([(0.9, LogNormal(0.001, 0.002)), (0.1, Constant(0.05))]), _Doubling()]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(getattr(m, "model", m)).__name__)
def test_fillers_write_what_sample_returns_array_after_array(model):
    """Two arrays from one stream (the whiteboard's GET then SET draws), chunk by chunk:
    what ``model.sample(n, rng)`` returns twice in a row."""
    n = 30_001
    rng = np.random.default_rng(11)
    expected = [model.sample(n, rng), model.sample(n, rng)]
    fills = _draws.fillers(model, np.random.default_rng(11), n, 2)
    for fill, want in zip(fills, expected):
        got = np.empty(n)
        for lo, hi in _chunks(n, [4_096, 1, 10_000]):
            fill(got[lo:hi])
        assert np.array_equal(got, want)


class _Short(Distribution):
    def sample(self, n, rng=None):
        return np.ones(n - 1)


def test_a_model_returning_the_wrong_number_of_draws_is_named():
    w = simlab.zipf(50, 1.0, 2_000, rate=1000.0, seed=1)
    for policy, size in (("lru", {"cache_size": 10}), ("fifo", {"cache_size": 10}),
                         ("allkeys-lru", {"maxmemory": 5_000})):
        with pytest.raises(ValueError, match=r"sample\(n\) must return n values, got shape "
                                             r"\(1999,\) for n=2000"):
            simlab.simulate(w, policy=policy, filing_room=_Short(), seed=1, **size)


# --- the LRU loop against the generic one ---------------------------------------------------

def _generic(w, size, seed, sliding=False, atomic=False, whiteboard="redis-loopback",
             filing_room="postgres-indexed"):
    """The run of the generic loop (``cache_aside``), every policy's, on the same draws."""
    inputs = engine._Inputs(w, engine._latency_model("whiteboard", whiteboard),
                            engine._latency_model("filing_room", filing_room), seed)
    n = len(w)
    cols = engine._columns(n)
    ttls = w.ttls if not np.all(np.isnan(w.ttls)) else np.full(1, np.nan)
    counters = K.cache_aside(w.keys, w.ops, w.times, False, ttls, inputs.wb_get,
                             inputs.wb_set, inputs.db, inputs.rand, C.LRU, size, w.n_keys,
                             n + 1, sliding, atomic, *cols)
    return (*cols, counters)


def _same(run, generic):
    for name, col in zip(COLUMNS, generic[:6]):
        assert np.array_equal(getattr(run, name), col), name
    assert list(run.counters) == list(generic[6])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(1, 80),
       rate=st.sampled_from([50.0, 2_000.0, 200_000.0]), read_fraction=st.sampled_from([1.0, 0.7]),
       ttl=st.sampled_from([None, 0.01, 1.0]), sliding=st.booleans(), atomic=st.booleans(),
       chunk=st.sampled_from([1, 7, 256, 1 << 16]), events=st.sampled_from([1, 2, 1024]),
       threaded=st.booleans())
def test_the_lru_loop_equals_the_generic_loop(seed, size, rate, read_fraction, ttl, sliding,
                                              atomic, chunk, events, threaded):
    """Request by request and counter by counter, with TTLs (fixed and sliding), writes,
    atomic fills, fills in flight (200,000 requests a second against 0.5 ms queries), tiny
    chunks, a heap of events that must grow from one slot, with the pipeline's threads or
    without."""
    w = simlab.zipf(300, 0.9, 3_000, rate=rate, read_fraction=read_fraction, ttl=ttl,
                    seed=seed)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(engine, "LRU_CHUNK", chunk)
        mp.setattr(engine, "LRU_EVENTS", events)
        mp.setattr(engine, "PARALLEL_DRAWS", 0 if threaded else 10 ** 12)
        run = simlab.simulate(w, cache_size=size, ttl_mode="sliding" if sliding else "fixed",
                              atomic=atomic, seed=seed, table=False)
    finally:
        mp.undo()
    _same(run, _generic(w, size, seed, sliding=sliding, atomic=atomic))


def test_a_million_requests_threaded_equal_unthreaded_and_the_generic_loop(monkeypatch):
    w = simlab.zipf(100_000, 1.0, 1_000_000, rate=20_000.0, read_fraction=0.95, ttl=2.0,
                    seed=1)
    threaded = simlab.simulate(w, cache_size=10_000, seed=1, table=False)
    _same(threaded, _generic(w, 10_000, 1))
    assert threaded.counters[2] > 0 and threaded.counters[1] > 0   # in flight, expired
    monkeypatch.setattr(engine, "PARALLEL_DRAWS", 10 ** 12)
    serial = simlab.simulate(w, cache_size=10_000, seed=1, table=False)
    _same(serial, _generic(w, 10_000, 1))


def test_tied_arrivals_and_latencies_apply_in_request_order():
    """Constant latencies and bursts at one instant: events due at the same time are applied
    first pushed, first applied, as the generic loop's heap does."""
    rng = np.random.default_rng(12)
    n = 3000
    ops = np.where(rng.random(n) < 0.3, simlab.workloads.SET, simlab.workloads.GET)
    w = simlab.Workload(keys=rng.integers(0, 40, n), ops=ops.astype(np.int8),
                        times=np.repeat(np.arange(n // 10) * 0.001, 10),
                        sizes=np.full(n, 100), ttls=np.full(n, np.nan),
                        key_names=np.array([f"k{i}" for i in range(40)], dtype=object))
    for atomic in (False, True):
        run = simlab.simulate(w, cache_size=12, whiteboard=0.0, filing_room=0.002,
                              atomic=atomic, seed=3, table=False)
        _same(run, _generic(w, 12, 3, atomic=atomic, whiteboard=0.0, filing_room=0.002))


# --- errors: every stage stops, the caller gets the first error, no thread stays ---------

def _draw_threads():
    return [t for t in threading.enumerate() if t.name == "simlab-draws" and t.is_alive()]


class _FailsLater(Distribution):
    """Draws fine for the first array, then fails: the SET draws, late in the pipeline."""

    def __init__(self):
        self.calls = 0

    def sample(self, n, rng=None):
        self.calls += 1
        if self.calls > 1:
            raise ValueError("this model cannot draw twice")
        return np.full(n, 0.0002)


class _Fails(Distribution):
    def sample(self, n, rng=None):
        raise ValueError("this model cannot draw")


@pytest.mark.parametrize("whiteboard, filing_room, message", [
    (_Fails(), "postgres-indexed", "this model cannot draw"),
    ("redis-loopback", _Fails(), "this model cannot draw"),
    (_FailsLater(), "postgres-indexed", "this model cannot draw twice"),
])
def test_a_draw_stage_that_fails_stops_the_run(monkeypatch, whiteboard, filing_room, message):
    monkeypatch.setattr(engine, "LRU_CHUNK", 5_000)
    w = simlab.zipf(1_000, 1.0, engine.PARALLEL_DRAWS, rate=5_000.0, seed=4)
    with pytest.raises(ValueError, match=message):
        simlab.simulate(w, cache_size=100, whiteboard=whiteboard, filing_room=filing_room,
                        seed=1)
    assert not _draw_threads()


def test_a_loop_that_fails_stops_the_draws(monkeypatch):
    """An error in this thread (a KeyboardInterrupt in a notebook, say) at the third chunk:
    the draws' thread stops waiting for the loop and ends."""
    real = engine.kernels()
    calls = []

    class Interrupted:
        def __getattr__(self, name):
            return getattr(real, name)

        def lru_cache_aside(self, *args):
            calls.append(args[0])
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real.lru_cache_aside(*args)

    monkeypatch.setattr(engine, "kernels", Interrupted)
    monkeypatch.setattr(engine, "LRU_CHUNK", 10_000)
    w = simlab.zipf(1_000, 1.0, engine.PARALLEL_DRAWS, rate=5_000.0, seed=4)
    with pytest.raises(KeyboardInterrupt):
        simlab.simulate(w, cache_size=100, seed=1)
    assert len(calls) == 3 and not _draw_threads()


# --- the columns' memory, kept for the next run ------------------------------------------------

def test_a_held_table_is_never_written_by_a_later_run():
    """A run's columns are views of a kept block; a block is handed to a new run only once
    nothing holds its views: a table, a column, a NumPy array taken from it."""
    w = simlab.zipf(2_000, 1.0, 50_000, rate=5_000.0, read_fraction=0.9, ttl=0.5, seed=2)
    a = simlab.simulate(w, cache_size=300, seed=1)
    latency = a["latency"].to_numpy()
    kept = a.copy(deep=True)
    del a
    for seed in (2, 3):                      # a column alone still holds the block
        b = simlab.simulate(w, cache_size=300, seed=seed)
        assert not np.shares_memory(b["latency"].to_numpy(), latency)
        assert np.array_equal(latency, kept["latency"].to_numpy())
    del b
    c = simlab.simulate(w, cache_size=300, seed=1)
    pd_equal = c.equals(kept)
    assert pd_equal


def test_a_block_comes_back_once_its_table_is_gone_and_the_kept_memory_is_bounded():
    w = simlab.zipf(2_000, 1.0, 50_000, rate=5_000.0, seed=2)
    first = simlab.simulate(w, cache_size=300, seed=1)
    address = first["time"].to_numpy().__array_interface__["data"][0]
    expected = first.copy(deep=True)
    del first
    again = simlab.simulate(w, cache_size=300, seed=1)
    assert again["time"].to_numpy().__array_interface__["data"][0] == address
    assert again.equals(expected)
    held = [simlab.simulate(w, cache_size=300, seed=s) for s in range(40)]   # 68 MB held
    assert sum(b.nbytes for b in engine._columns_kept.kept) <= engine._Columns.KEEP_BYTES
    assert len({t["time"].to_numpy().__array_interface__["data"][0] for t in held}) == 40
