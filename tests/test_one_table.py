"""Issue 12, part 2: one simulate, one table, one meaning per word.

A live run (fakeredis or model:// beside a real SQLite filing room) and its simulation give
the same table: the same columns, dtypes, key labels and attrs, and the same outcome for every
request, with TTLs and writes in the workload.
"""
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import simlab
import simlab.live as live
from simlab import _kernels as K
from simlab.engine import hit_counts, steady_hit_ratio
from simlab.results import (ATTRS, COLUMNS, OUTCOMES, TIMING_COLUMNS, Outcome, key_name,
                            summarize)
from simlab.workloads import from_keys

# attrs that describe the run's settings: they differ between a live run and its simulation
# by nature (what served it, the latency model or "measured", the wall time taken)
SETTINGS = {"source", "model", "engine", "whiteboard_backend", "filing_room_backend",
            "whiteboard", "filing_room", "policy", "cache_size", "maxmemory", "samples",
            "lfu_log_factor", "lfu_decay_time", "bytes_at_end", "elapsed_s", "seed"}
SHARED = set(ATTRS) - SETTINGS     # counters and what the workload was: equal


@pytest.fixture
def fake_client(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(live.client, "_FAKE_SERVER", None)
    client = live.client.connect()
    yield client
    live.cleanup(client)


def _timed_workload_with_ttls_and_writes(seed=4):
    # 50 ms TTLs (whole milliseconds: a live PX is in ms), ~5 ms between requests, 10% writes
    return simlab.zipf(150, 1.0, 2500, rate=200.0, read_fraction=0.9, ttl=0.05, seed=seed)


def assert_same_table(live_df, sim_df, *, same_time):
    assert list(live_df.columns) == list(sim_df.columns) == list(COLUMNS)
    assert (live_df.dtypes == sim_df.dtypes).all(), (live_df.dtypes, sim_df.dtypes)
    for col in ("key", "op", "outcome"):
        assert list(live_df[col].cat.categories) == list(sim_df[col].cat.categories), col
    skip = set(TIMING_COLUMNS) - ({"time"} if same_time else set())
    for col in COLUMNS:
        if col not in skip:
            assert live_df[col].equals(sim_df[col]), (col, (live_df[col] != sim_df[col]).sum())
    assert set(live_df.attrs) == set(sim_df.attrs) == set(ATTRS)
    for name in SHARED:
        assert live_df.attrs[name] == sim_df.attrs[name], (name, live_df.attrs[name],
                                                           sim_df.attrs[name])
    assert live_df.attrs["source"] == "live" and sim_df.attrs["source"] == "simulation"
    assert live_df.attrs["whiteboard"] == "measured" and live_df.attrs["seed"] is None


def test_live_fakeredis_equals_the_simulation_with_ttls_and_writes(fake_client, room):
    w = _timed_workload_with_ttls_and_writes()
    live_df = live.CacheAside(fake_client, room).run(w)
    sim_df = simlab.simulate(w, cache_size=w.n_keys, whiteboard=0.0, filing_room=0.0, seed=1)
    # the workload has teeth: writes, expiries, hits and misses
    assert (sim_df["outcome"] == "write").sum() > 100
    assert sim_df["expired"].sum() > 100 and sim_df.attrs["expired_removed"] > 100
    assert 0.2 < (sim_df["outcome"] == "hit").mean() < 0.8
    assert live_df.attrs["clock"] == "virtual"
    assert_same_table(live_df, sim_df, same_time=True)
    # the latencies are measured: positive, and a miss costs a filing-room query
    assert (live_df["latency"] > 0).all()
    misses = live_df["outcome"] == "miss"
    assert (live_df.loc[misses, "filing_room_latency"] > 0).all()
    assert (live_df.loc[~misses & (live_df["outcome"] == "hit"), "filing_room_latency"] == 0).all()


def test_live_model_server_equals_the_redis_model(room):
    """model:// (the Redis model behind redis-py) on a virtual clock against simulate with
    the same Redis policy: the settings attrs agree too."""
    w = _timed_workload_with_ttls_and_writes(seed=6)
    r = live.client.connect("model://?maxmemory=10mb&maxmemory-policy=allkeys-lru"
                            "&maxmemory-samples=7&clock=virtual")
    live_df = live.CacheAside(r, room).run(w)
    sim_df = simlab.simulate(w, policy="allkeys-lru", maxmemory=10 * 2 ** 20, samples=7,
                             whiteboard=0.0, filing_room=0.0, seed=1)
    assert_same_table(live_df, sim_df, same_time=True)
    for name in ("policy", "maxmemory", "samples", "lfu_log_factor", "lfu_decay_time"):
        assert live_df.attrs[name] == sim_df.attrs[name], name
    assert live_df.attrs["evictions"] == 0


def test_live_sequential_run_matches_and_stores_the_workloads_sizes(fake_client, room):
    w = simlab.zipf(300, 1.0, 1500, read_fraction=0.95, value_size=321, seed=2)
    live_df = live.CacheAside(fake_client, room, ttl=60).run(w)
    sim_df = simlab.simulate(w, cache_size=1000, atomic=True, seed=2)
    assert live_df.attrs["clock"] == "back-to-back" and live_df.attrs["sequential"]
    assert_same_table(live_df, sim_df, same_time=False)
    # the same request is the same key in both tables, and stored under key_name
    first = int(w.keys[0])
    assert live_df["key"].iloc[0] == sim_df["key"].iloc[0] == w.key_names[first]
    name = live.key(key_name(first))
    assert name.endswith(f"key:{first:08d}")
    assert fake_client.strlen(name) == 321
    assert fake_client.ttl(name) == -1            # the workload has no TTL: none is set


def test_live_values_and_ttls_follow_the_workload(fake_client, room):
    w = from_keys(["a", "b", "a"], times=[0.0, 0.001, 0.002])
    w = dataclasses.replace(w, sizes=np.array([5, 4000, 5]), ttls=np.array([30.0, 7.0, 30.0]))
    df = live.CacheAside(fake_client, room).run(w)
    assert list(df["outcome"]) == ["miss", "miss", "hit"]
    assert fake_client.strlen(live.key("key:a")) == 5
    assert fake_client.strlen(live.key("key:b")) == 4000
    assert 0 < fake_client.pttl(live.key("key:b")) <= 7000


@pytest.mark.real
def test_live_on_a_real_server_is_paced_to_the_arrival_times(private_redis, room):
    r = live.client.connect(private_redis.url)
    try:
        w = simlab.zipf(40, 1.0, 150, rate=300.0, read_fraction=0.9, ttl=0.2, seed=3)
        df = live.CacheAside(r, room).run(w)
        assert df.attrs["clock"] == "paced"
        late = df["time"].to_numpy() - w.times
        assert late.min() > -1e-4, late.min()          # never sent before its time
        sim = simlab.simulate(w, cache_size=100, whiteboard=0.0, filing_room=0.0, seed=1)
        # on the wall clock, a request near a TTL's end may fall on either side of it
        assert (df["outcome"] == sim["outcome"]).mean() > 0.9
        fast = live.CacheAside(r, room).run(w, pace=False)
        assert fast.attrs["clock"] == "back-to-back"
        assert fast["time"].iloc[-1] < w.times[-1]     # compressed
    finally:
        live.cleanup(r)


def test_a_wall_clock_model_server_is_paced(room):
    r = live.client.connect("model://?maxmemory=1mb&maxmemory-policy=allkeys-lru")
    w = simlab.zipf(20, 1.0, 60, rate=2000.0, ttl=5.0, seed=1)
    df = live.CacheAside(r, room).run(w)
    assert df.attrs["clock"] == "paced" and df.attrs["policy"] == "allkeys-lru"
    assert (df["time"].to_numpy() >= w.times - 1e-4).all()


def test_calls_by_hand_give_the_same_table_shape(fake_client, room):
    ca = live.CacheAside(fake_client, room, ttl=60)
    ca.get_user(3)
    ca.get_user(3)
    ca.update_user(3, city="Lima")
    df = ca.table()
    assert list(df.columns) == list(COLUMNS) and set(df.attrs) == set(ATTRS)
    assert list(df["outcome"]) == ["miss", "hit", "write"]
    assert list(df["op"]) == ["get", "get", "set"] and list(df["key"]) == ["3"] * 3


def test_run_refuses_bad_arguments(fake_client, room):
    ca = live.CacheAside(fake_client, room)
    with pytest.raises(TypeError, match="workload must be a simlab Workload, got list"):
        ca.run([1, 2])
    with pytest.raises(TypeError, match="pace must be True or False, got 'yes'"):
        ca.run(simlab.zipf(5, 1.0, 5, seed=1), pace="yes")


# --- one simulate --------------------------------------------------------------------------

def test_a_redis_policy_runs_the_redis_model():
    w = simlab.zipf(2000, 1.0, 8000, rate=1000.0, ttl=2.0, read_fraction=0.95, seed=3)
    kw = dict(maxmemory=60_000, samples=3, filing_room=0.001, seed=5)
    one = simlab.simulate(w, policy="allkeys-lfu", **kw)
    again = simlab.simulate(w, policy="allkeys-lfu", **kw)
    pd.testing.assert_frame_equal(one, again)
    assert one.attrs == {**again.attrs, "elapsed_s": one.attrs["elapsed_s"]}
    assert one.attrs["model"] == "redis" and one.attrs["evictions"] > 0
    ref = simlab.simulate(w, policy="allkeys-lfu", engine="reference", **kw)
    assert ref.attrs["engine"] == "reference" and one["outcome"].equals(ref["outcome"])
    textbook = simlab.simulate(w, policy="lfu", cache_size=300, seed=5)
    assert textbook.attrs["model"] == "textbook" and textbook.attrs["maxmemory"] is None
    assert set(textbook.attrs) == set(one.attrs) == set(ATTRS)


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(policy="allkeys-lru", cache_size=100, maxmemory=1000), ValueError,
     r"cache_size is a capacity in keys for the textbook policies \(lru, .*\); the Redis "
     r"policy allkeys-lru takes maxmemory, in bytes; got cache_size=100"),
    (dict(policy="lru", cache_size=10, maxmemory=1000), ValueError,
     r"maxmemory \(a limit in bytes\) applies to the Redis policies \(noeviction, .*\); the "
     r"policy lru takes cache_size, in keys; got maxmemory=1000"),
    (dict(policy="lru", cache_size=10, samples=5), ValueError,
     r"samples applies to the Redis policies \(.*\), not to lru; got samples=5"),
    (dict(policy="fifo", cache_size=10, lfu_decay_time=0), ValueError,
     r"lfu_decay_time applies to the Redis policies .* not to fifo; got lfu_decay_time=0"),
    (dict(policy="lru", cache_size=10, key_names=["a"]), ValueError,
     r"key_names .* applies to the Redis policies"),
    (dict(policy="allkeys-lru", maxmemory=1000, samples=65), ValueError,
     r"samples must be an integer from 1 to 64 \(maxmemory-samples\), got 65"),
    (dict(policy="allkeys-lru", maxmemory=1000, samples=0), ValueError,
     r"samples must be an integer from 1 to 64 \(maxmemory-samples\), got 0"),
    (dict(policy="allkeys-lru", maxmemory=1000, samples=2.5), TypeError,
     r"samples must be an integer from 1 to 64 \(maxmemory-samples\), got 2.5"),
    (dict(policy="allkeys-lru", maxmemory=1000, ttl_mode="sliding"), ValueError,
     r"ttl_mode must be 'fixed' for the Redis policies .*; got ttl_mode='sliding'"),
    (dict(policy="allkeys-lru", maxmemory=-1), ValueError,
     r"maxmemory must be a non-negative integer, got -1"),
    (dict(policy="allkeys-lru"), TypeError,
     r"maxmemory must be a non-negative integer of bytes for the Redis policy allkeys-lru, "
     r"got None"),
    (dict(policy="lru"), TypeError,
     r"cache_size must be a positive integer \(the whiteboard's capacity in keys\) for the "
     r"policy lru, got None"),
    (dict(policy="mru", cache_size=3), ValueError,
     r"policy must be one of lru, lfu, fifo, random, perfect-lfu \(the textbook model, "
     r"cache_size in keys\) or noeviction, allkeys-lru, .* \(the Redis model, maxmemory in "
     r"bytes\); got 'mru'"),
    (dict(policy="lru", cache_size=3, engine="turbo"), ValueError,
     r"engine must be one of fast, reference; got 'turbo'"),
])
def test_parameters_of_the_other_model_are_refused_by_name(kwargs, exc, message):
    w = simlab.zipf(10, 1.0, 10, seed=1)
    with pytest.raises(exc, match=message):
        simlab.simulate(w, **kwargs)


def test_samples_rule_is_the_same_in_simulate():
    w = simlab.zipf(10, 1.0, 10, seed=1)
    with pytest.raises(ValueError, match=r"samples must be an integer from 1 to 64"):
        simlab.simulate(w, policy="allkeys-lru", maxmemory=1000, samples=100)


# --- one meaning per word ----------------------------------------------------------------

def test_outcome_codes_are_one_enum_everywhere():
    assert [int(o) for o in Outcome] == [K.HIT, K.MISS, K.WRITE] == [0, 1, 2]
    assert OUTCOMES == ("hit", "miss", "write") == tuple(o.label for o in Outcome)
    w = simlab.zipf(50, 1.0, 400, read_fraction=0.8, seed=1)
    df = simlab.simulate(w, cache_size=5, seed=1)
    codes = df["outcome"].cat.codes.to_numpy()
    for o in Outcome:
        assert ((codes == o) == (df["outcome"] == o.label).to_numpy()).all()


def test_key_name_is_defined_once():
    assert key_name(12) == "key:00000012" and key_name(np.int64(3)) == "key:00000003"
    assert key_name("user42") == "key:user42"
    from simlab import eviction
    assert eviction.key_name(12) == key_name(12)      # eviction.py's own copy agrees


def _mixed_workload():
    w = simlab.zipf(80, 1.0, 3000, read_fraction=0.7, seed=8)
    assert (w.ops[:500] != 0).sum() > 50
    return w


def test_warmup_is_a_number_of_requests_everywhere():
    w = _mixed_workload()
    reads = w.ops == 0
    skipped_reads = int(reads[:500].sum())     # the reads among the first 500 requests
    # hit_counts and steady_hit_ratio leave writes out (the textbook model over the reads)
    only_reads = from_keys(w.key_names[w.keys[reads]].astype(str))
    per_read = (simlab.simulate(only_reads, cache_size=10, filing_room=0.0, seed=1)["outcome"]
                == "hit").to_numpy()
    assert only_reads.n_keys <= w.n_keys
    assert hit_counts(w, [10], warmup=500, seed=1)[0] == per_read[skipped_reads:].sum()
    assert steady_hit_ratio(w, 10, warmup=500, seed=1) == pytest.approx(
        per_read[skipped_reads:].mean())
    # summarize: the table's hits after the first 500 requests
    df = simlab.simulate(w, cache_size=10, filing_room=0.0, whiteboard=0.0, seed=1)
    hits = (df["outcome"] == "hit").to_numpy()
    reads_after = reads[500:].sum()
    assert summarize(df, warmup=500)["hit_ratio_after_warmup"] == pytest.approx(
        hits[500:].sum() / reads_after)
    # the same cut given as a share
    np.testing.assert_equal(summarize(df, warmup_share=500 / 3000), summarize(df, warmup=500))
    assert steady_hit_ratio(w, 10, warmup_share=500 / 3000, seed=1) == \
        steady_hit_ratio(w, 10, warmup=500, seed=1)


def test_a_share_passed_as_warmup_is_refused_with_the_way_forward():
    w = _mixed_workload()
    df = simlab.simulate(w, cache_size=10, seed=1)
    with pytest.raises(ValueError, match=r"warmup is a number of requests \(an integer >= 0\), "
                                         r"got 0.25; for a share of them write "
                                         r"warmup_share=0.25"):
        summarize(df, warmup=0.25)
    np.testing.assert_equal(summarize(df, warmup_share=0.25), summarize(df, warmup=750))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summarize(df)                       # the default (a tenth) warns about nothing


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(warmup=10, warmup_share=0.5), ValueError, "give warmup .* or warmup_share"),
    (dict(warmup=3000), ValueError, "warmup must be fewer than the 3,000 requests, got 3000"),
    (dict(warmup=-1), ValueError, "warmup must be a non-negative integer, got -1"),
    (dict(warmup=1.5), TypeError, "warmup must be a non-negative integer, got 1.5"),
    (dict(warmup_share=1.0), ValueError, r"warmup_share must be a share of the requests in "
                                         r"\[0, 1\), got 1.0"),
])
def test_bad_warmups(kwargs, exc, message):
    df = simlab.simulate(_mixed_workload(), cache_size=10, seed=1)
    with pytest.raises(exc, match=message):
        summarize(df, **kwargs)


# --- the summary's percentiles --------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from simlab.results import quantiles  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.integers(1, 400),
              elements=st.one_of(st.floats(0, 1e3), st.sampled_from([0.0, 1.0, 2.5]),
                                 st.floats(allow_nan=True, allow_infinity=True))),
       st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_quantiles_are_numpys_to_the_bit(values, qs):
    """summarize's percentiles (one-rank partitions, NumPy's interpolation) equal
    numpy.quantile exactly: ties, repeated and extreme quantiles, one value, NaN and
    infinities among the values."""
    with np.errstate(invalid="ignore"):
        expected = np.quantile(values, qs)
        assert np.array_equal(quantiles(values, qs), expected, equal_nan=True)


def test_quantiles_of_a_million_latencies_and_bad_input():
    x = np.random.default_rng(3).lognormal(np.log(5e-4), 0.7, 1_000_000)
    q = (0.5, 0.95, 0.99)
    assert np.array_equal(quantiles(x, q), np.quantile(x, q))
    before = x.copy()
    quantiles(x, q)
    assert np.array_equal(x, before)                 # the caller's array is untouched
    with pytest.raises(ValueError, match="values must be a non-empty 1-D array"):
        quantiles(np.array([]), q)
    with pytest.raises(ValueError, match=r"qs must be quantiles between 0 and 1, got \[1.5\]"):
        quantiles(x, [1.5])
