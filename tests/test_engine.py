import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab

lcs = pytest.importorskip("libcachesim", reason="libcachesim is the LRU/FIFO oracle (dev extra)")

CLOUDPHYSICS_LIKE_COLUMNS = ["time", "key", "op", "outcome", "whiteboard_latency",
                             "filing_room_latency", "latency", "inflight", "expired"]


def libcachesim_hits(keys, policy, size, tmp_path):
    path = tmp_path / f"trace_{policy}_{size}.txt"
    np.savetxt(path, np.asarray(keys) + 1, fmt="%d")
    reader = lcs.TraceReader(trace=str(path), trace_type=lcs.TraceType.PLAIN_TXT_TRACE)
    cache = {"lru": lcs.LRU, "fifo": lcs.FIFO}[policy](cache_size=size)
    miss_ratio, _ = cache.process_trace(reader)
    return round((1 - miss_ratio) * len(keys))


@pytest.mark.parametrize("policy", ["lru", "fifo"])
@pytest.mark.parametrize("alpha, size", [(0.0, 50), (0.8, 100), (1.0, 10), (1.2, 1000)])
def test_equal_to_libcachesim_on_synthetic_traces(policy, alpha, size, tmp_path):
    w = simlab.zipf(5000, alpha, 40_000, seed=int(alpha * 10) + size)
    expected = libcachesim_hits(w.keys, policy, size, tmp_path)
    df = simlab.simulate(w, policy=policy, cache_size=size, filing_room=0.0, seed=1)
    assert int((df["outcome"] == "hit").sum()) == expected
    assert simlab.engine.hit_counts(w, [size], policy=policy)[0] == expected


@pytest.mark.parametrize("policy", ["lru", "fifo"])
def test_equal_to_libcachesim_on_a_file_trace(policy, tmp_path):
    rng = np.random.default_rng(4)
    labels = [f"obj{int(k)}" for k in rng.zipf(1.3, 30_000) % 4000]
    path = tmp_path / "trace.txt"
    path.write_text("\n".join(labels) + "\n")
    w = simlab.read_trace(path)
    for size in (5, 200, 3000):
        expected = libcachesim_hits(w.keys, policy, size, tmp_path)
        # sequential timing with real latencies: still the textbook model
        df = simlab.simulate(w, policy=policy, cache_size=size, seed=2)
        assert int((df["outcome"] == "hit").sum()) == expected


def test_table_shape_and_attrs():
    w = simlab.zipf(100, 1.0, 1000, seed=1)
    df = simlab.simulate(w, cache_size=10, seed=9)
    assert list(df.columns) == CLOUDPHYSICS_LIKE_COLUMNS
    assert df.attrs["seed"] == 9 and df.attrs["policy"] == "lru"
    assert df.attrs["workload"]["seed"] == 1
    assert set(df["outcome"].cat.categories) == {"hit", "miss", "write"}
    assert set(df.attrs) == set(simlab.results.ATTRS)          # every table, every attr
    assert df.attrs["model"] == "textbook" and df.attrs["engine"] == "fast"
    assert df.attrs["source"] == "simulation" and df.attrs["clock"] == "back-to-back"


def test_same_seed_same_result_bit_for_bit():
    w = simlab.zipf(1000, 0.9, 20_000, rate=500.0, read_fraction=0.9, ttl=5.0, seed=3)
    a = simlab.simulate(w, policy="random", cache_size=100, seed=4)
    b = simlab.simulate(w, policy="random", cache_size=100, seed=4)
    pd.testing.assert_frame_equal(a, b)
    c = simlab.simulate(w, policy="random", cache_size=100, seed=5)
    assert not a["latency"].equals(c["latency"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), policy=st.sampled_from(simlab.POLICIES),
       size=st.integers(1, 60), rate=st.sampled_from([None, 50.0, 2000.0]),
       read_fraction=st.sampled_from([1.0, 0.8]), ttl=st.sampled_from([None, 0.05, 2.0]),
       ttl_mode=st.sampled_from(["fixed", "sliding"]))
def test_fast_engine_equals_reference(seed, policy, size, rate, read_fraction, ttl, ttl_mode):
    w = simlab.zipf(200, 0.9, 1500, rate=rate, read_fraction=read_fraction, ttl=ttl, seed=seed)
    fast = simlab.simulate(w, policy=policy, cache_size=size, ttl_mode=ttl_mode, seed=seed)
    ref = simlab.engine.simulate_reference(w, policy=policy, cache_size=size, ttl_mode=ttl_mode,
                                    seed=seed)
    for col in CLOUDPHYSICS_LIKE_COLUMNS:
        assert fast[col].equals(ref[col]), col
    for name in ("evictions", "inflight_misses", "fills", "keys_at_end", "expired_removed"):
        assert fast.attrs[name] == ref.attrs[name], name


def test_key_cached_only_when_its_read_completes():
    # Two reads of the same key 1 ms apart; the filing room takes 10 ms: both miss.
    w = simlab.workloads.from_keys(["u1", "u1", "u1"], times=[0.0, 0.001, 0.050])
    df = simlab.simulate(w, cache_size=10, whiteboard=0.0, filing_room=0.010, seed=0)
    assert list(df["outcome"]) == ["miss", "miss", "hit"]
    assert list(df["inflight"]) == [False, True, False]
    assert df.attrs["inflight_misses"] == 1


def test_sequential_requests_never_overlap():
    w = simlab.zipf(50, 1.0, 500, seed=2)
    df = simlab.simulate(w, cache_size=5, seed=3)
    ends = (df["time"] + df["latency"]).to_numpy()
    assert np.allclose(df["time"].to_numpy()[1:], ends[:-1])
    assert df.attrs["inflight_misses"] == 0


def test_latency_composition():
    w = simlab.workloads.from_keys(["a", "a"])
    df = simlab.simulate(w, cache_size=1, whiteboard=0.001, filing_room=0.01, seed=0)
    miss, hit = df.iloc[0], df.iloc[1]
    assert miss["latency"] == pytest.approx(0.012)          # GET + SELECT + SET
    assert miss["filing_room_latency"] == pytest.approx(0.01)
    assert hit["latency"] == pytest.approx(0.001)


def test_writes_delete_the_cached_key():
    path_rows = ["a", "a", "a"]
    w = simlab.workloads.from_keys(path_rows)
    w = w.__class__(keys=w.keys, ops=np.array([0, 1, 0], dtype=np.int8), times=None,
                    sizes=w.sizes, ttls=w.ttls, key_names=w.key_names, params=w.params)
    df = simlab.simulate(w, cache_size=4, filing_room=0.0, whiteboard=0.0, seed=0)
    assert list(df["outcome"]) == ["miss", "write", "miss"]


def test_ttl_expiry_on_the_virtual_clock():
    w = simlab.workloads.from_keys(["k"] * 3, times=[0.0, 0.5, 2.0])
    w = w.__class__(keys=w.keys, ops=w.ops, times=w.times, sizes=w.sizes,
                    ttls=np.full(3, 1.0), key_names=w.key_names, params=w.params)
    df = simlab.simulate(w, cache_size=4, filing_room=0.0, whiteboard=0.0, seed=0)
    assert list(df["outcome"]) == ["miss", "hit", "miss"]
    assert list(df["expired"]) == [False, False, True]


def test_summary():
    w = simlab.zipf(1000, 1.0, 50_000, rate=1000.0, seed=1)
    df = simlab.simulate(w, cache_size=100, seed=1)
    s = simlab.summarize(df)
    assert s["hits"] + s["misses"] == s["reads"] == 50_000
    assert 0 < s["hit_ratio"] < 1
    assert s["hit_ratio_after_warmup"] >= s["hit_ratio"] - 0.01
    assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
    assert s["db_qps_without_cache"] == pytest.approx(1000, rel=0.05)
    assert s["db_qps_with_cache"] == pytest.approx(1000 * (1 - s["hit_ratio"]), rel=0.05)
    curve = simlab.hit_ratio_over_time(df, window=250)
    assert len(curve) == 200
    assert curve["hit_ratio"].iloc[0] < curve["hit_ratio"].iloc[-50:].mean() - 0.1  # cold start


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(cache_size=0), ValueError, "cache_size must be a positive integer, got 0"),
    (dict(cache_size=-5), ValueError, "cache_size must be a positive integer, got -5"),
    (dict(cache_size=2.5), TypeError, "cache_size must be a positive integer, got 2.5"),
    (dict(cache_size=10, policy="mru"), ValueError, "policy must be one of"),
    (dict(cache_size=10, filing_room=-1), ValueError, "filing_room must be a non-negative"),
    (dict(cache_size=10, whiteboard="fast"), ValueError, "name must be one of"),
    (dict(cache_size=10, seed=-2), ValueError, "seed must be a non-negative integer, got -2"),
])
def test_bad_simulate_arguments(kwargs, exc, message):
    w = simlab.zipf(10, 1.0, 10, seed=1)
    with pytest.raises(exc, match=message):
        simlab.simulate(w, **kwargs)


def test_simulate_needs_a_workload():
    with pytest.raises(TypeError, match="workload must be a simlab Workload, got list"):
        simlab.simulate([1, 2, 3], cache_size=1)


def test_a_million_requests_run(benchmark=None):
    """Not timed here (make bench times it); this proves the full-size run works."""
    w = simlab.zipf(100_000, 1.0, 1_000_000, seed=1)
    df = simlab.simulate(w, cache_size=10_000, seed=1)
    assert len(df) == 1_000_000
    assert simlab.summarize(df)["hit_ratio"] == pytest.approx(0.735, abs=0.01)


# --- issue 11: a filing room of 0 fills at once, and atomic requests --------------------

def _microsecond_rereferences():
    """Each key asked for twice, 1 us apart: a window of any length makes the second miss."""
    keys = np.repeat(np.arange(500) % 60, 2).astype(str)
    times = np.repeat(np.arange(500) * 0.01, 2) + np.tile([0.0, 1e-6], 500)
    return simlab.workloads.from_keys(keys, times=times)


def test_db_latency_zero_fills_at_once_even_with_times():
    w = _microsecond_rereferences()
    sequential = simlab.workloads.from_keys(w.key_names[w.keys])
    want = int((simlab.simulate(sequential, cache_size=40, filing_room=0.0,
                                seed=1)["outcome"] == "hit").sum())
    for engine in (simlab.simulate, simlab.engine.simulate_reference):
        df = engine(w, cache_size=40, filing_room=0.0, seed=1)   # whiteboard: loopback preset
        assert df.attrs["atomic"] is True and df.attrs["inflight_misses"] == 0
        assert int((df["outcome"] == "hit").sum()) == want
        slow = engine(w, cache_size=40, filing_room=0.001, seed=1)
        assert slow.attrs["atomic"] is False and slow.attrs["inflight_misses"] >= 400


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "random"])
def test_atomic_requests_fast_engine_equals_reference(policy):
    w = simlab.zipf(300, 0.9, 5000, rate=20_000.0, read_fraction=0.9, ttl=0.05, seed=5)
    kwargs = dict(policy=policy, cache_size=40, filing_room=0.002, atomic=True, seed=2)
    fast, ref = simlab.simulate(w, **kwargs), simlab.engine.simulate_reference(w, **kwargs)
    assert fast["outcome"].equals(ref["outcome"]) and fast["expired"].equals(ref["expired"])
    assert fast.attrs["inflight_misses"] == 0 and fast.attrs["atomic"] is True
    assert np.allclose(fast["latency"], ref["latency"])
    assert simlab.simulate(w, **dict(kwargs, atomic=False)).attrs["inflight_misses"] > 0


def test_atomic_must_be_a_bool():
    w = simlab.zipf(10, 1.0, 10, seed=1)
    with pytest.raises(TypeError, match="atomic must be True, False or None, got 'yes'"):
        simlab.simulate(w, cache_size=2, atomic="yes")


def test_latency_draws_in_two_threads_are_the_same_numbers(monkeypatch):
    """From PARALLEL_DRAWS requests on, the filing room's draws run in a second thread: the
    same numbers as drawn one after another, and a failing model's error still surfaces."""
    from simlab import engine
    from simlab.latency import Distribution

    w = simlab.zipf(1_000, 1.0, engine.PARALLEL_DRAWS, seed=4)
    wb, db = simlab.preset("redis-loopback"), simlab.preset("postgres-indexed")
    threaded = engine._Inputs(w, wb, db, 7)
    monkeypatch.setattr(engine, "PARALLEL_DRAWS", 10 ** 12)
    serial = engine._Inputs(w, wb, db, 7)
    for name in ("wb_get", "wb_set", "db"):
        assert np.array_equal(getattr(threaded, name), getattr(serial, name)), name
    monkeypatch.undo()

    class Broken(Distribution):
        def sample(self, n, rng=None):
            raise ValueError("this model cannot draw")

    with pytest.raises(ValueError, match="this model cannot draw"):
        engine._Inputs(w, wb, Broken(), 7)
    with pytest.raises(ValueError, match="this model cannot draw"):
        engine._Inputs(w, Broken(), db, 7)
    assert not [t for t in __import__("threading").enumerate() if t.name == "simlab-draws"]


def _tied_events():
    """Requests in bursts at the same instant, a third of them writes, with constant
    latencies: many fills and invalidations fall due at exactly the same time, so the order
    in which the event heap applies ties (first scheduled, first applied) decides the
    outcome."""
    rng = np.random.default_rng(12)
    n = 3000
    keys = rng.integers(0, 40, n)
    ops = np.where(rng.random(n) < 0.3, simlab.workloads.SET, simlab.workloads.GET)
    times = np.repeat(np.arange(n // 10) * 0.001, 10)
    return simlab.Workload(keys=keys, ops=ops.astype(np.int8), times=times,
                           sizes=np.full(n, 100), ttls=np.full(n, np.nan),
                           key_names=np.array([f"k{i}" for i in range(40)], dtype=object))


@pytest.mark.parametrize("atomic", [False, True])
@pytest.mark.parametrize("policy", simlab.POLICIES)
def test_tied_events_fast_engine_equals_reference(policy, atomic):
    w = _tied_events()
    kw = dict(policy=policy, cache_size=12, whiteboard=0.0, filing_room=0.002, atomic=atomic,
              seed=3)
    fast, ref = simlab.simulate(w, **kw), simlab.engine.simulate_reference(w, **kw)
    for col in CLOUDPHYSICS_LIKE_COLUMNS:
        assert fast[col].equals(ref[col]), col
    for name in ("evictions", "inflight_misses", "fills", "keys_at_end"):
        assert fast.attrs[name] == ref.attrs[name], name
    assert ref.attrs["inflight_misses"] > 0 or atomic


class _Remembering(simlab.latency.Distribution):
    """A learner's own latency model that keeps what it returned (a cache of draws)."""

    def __init__(self):
        self.returned = []

    def sample(self, n, rng=None):
        out = np.random.default_rng(rng).uniform(0.001, 0.002, n)
        self.returned.append((out, out.copy()))
        return out

    @property
    def mean(self):
        return 0.0015


@pytest.mark.parametrize("policy, size", [("lru", {"cache_size": 20}),
                                          ("allkeys-lru", {"maxmemory": 3_000})])
def test_the_engine_never_writes_over_draws_it_does_not_own(policy, size):
    """The compiled engines write their latency columns over the run's own draws (no fresh
    pages); a model of the learner's that kept its arrays must find them unchanged, and
    the result must be the same either way."""
    w = simlab.zipf(100, 1.0, 2000, rate=500.0, read_fraction=0.9, seed=5)
    mine_wb, mine_db = _Remembering(), _Remembering()
    df = simlab.simulate(w, policy=policy, whiteboard=mine_wb, filing_room=mine_db, seed=3,
                         **size)
    for model in (mine_wb, mine_db):
        assert model.returned
        for out, copy in model.returned:
            assert np.array_equal(out, copy)
            assert not any(np.shares_memory(out, df[c].to_numpy()) for c in
                           ("whiteboard_latency", "filing_room_latency", "latency"))
    ref = simlab.simulate(w, policy=policy, whiteboard=mine_wb, filing_room=mine_db, seed=3,
                          engine="reference", **size)
    for col in CLOUDPHYSICS_LIKE_COLUMNS:
        assert df[col].equals(ref[col]), col


def test_own_draws_become_the_columns_and_equal_fresh_ones():
    """With simlab's own models the columns are the draws' memory, and the numbers are those
    of fresh columns (the reference engine's)."""
    w = simlab.zipf(500, 1.0, 20_000, rate=5000.0, read_fraction=0.9, seed=6)
    inputs = simlab.engine._Inputs(w, simlab.preset("redis-loopback"),
                                   simlab.preset("postgres-indexed"), 4)
    cols = inputs.columns(len(w))
    assert cols[2] is inputs.wb_get and cols[3] is inputs.db and cols[4] is inputs.wb_set
    again = simlab.engine._Inputs(w, simlab.preset("redis-loopback"),
                                  simlab.preset("postgres-indexed"), 4)
    held = again.db                             # someone else holds these draws: not reused
    cols = again.columns(len(w))
    assert cols[3] is not held and not np.shares_memory(cols[3], held)
    assert cols[2] is again.wb_get and cols[4] is again.wb_set
    big = simlab.zipf(500, 1.0, simlab.engine.PARALLEL_DRAWS, rate=5000.0, seed=6)
    threaded = simlab.engine._Inputs(big, simlab.preset("redis-loopback"),
                                     simlab.preset("postgres-indexed"), 4)
    cols = threaded.columns(len(big))           # drawn in two threads: still ours alone
    assert cols[2] is threaded.wb_get and cols[3] is threaded.db and cols[4] is threaded.wb_set
    fast = simlab.simulate(w, cache_size=50, seed=4)
    ref = simlab.simulate(w, cache_size=50, seed=4, engine="reference")
    for col in CLOUDPHYSICS_LIKE_COLUMNS:
        assert fast[col].equals(ref[col]), col
