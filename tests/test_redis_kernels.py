"""The compiled Redis model (simlab._redis_kernels) against the plain-Python RedisCache,
request by request."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab
from simlab import _redis_kernels as RK
from simlab import redis_memory as mem
from simlab.redis_cache import REDIS_POLICIES, RedisCache, SplitMix64

COUNTERS = ("evictions", "expired_removed", "inflight_misses", "fills", "keys_at_end",
            "oom_errors", "bytes_at_end")
COLUMNS = ("time", "outcome", "whiteboard_latency", "filing_room_latency", "latency",
           "inflight", "expired")


def assert_same(fast, ref):
    assert fast.attrs["engine"] == "fast" and ref.attrs["engine"] == "reference"
    for column in COLUMNS:
        assert fast[column].equals(ref[column]), column
    assert {k: fast.attrs[k] for k in COUNTERS} == {k: ref.attrs[k] for k in COUNTERS}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), policy=st.sampled_from(REDIS_POLICIES),
       samples=st.integers(1, 64), maxmemory=st.integers(0, 120_000),
       n_keys=st.integers(1, 3000), rate=st.sampled_from([None, 50.0, 5000.0]),
       read_fraction=st.sampled_from([1.0, 0.9]), ttl=st.sampled_from([None, 0.5, 30.0]),
       value_size=st.sampled_from([1, 10, 44, 45, 100, 300]),
       filing_room=st.sampled_from([0.0, 0.002, "postgres-indexed"]),
       atomic=st.sampled_from([None, True, False]), decay=st.sampled_from([0, 1, 0.01]))
def test_compiled_model_equals_the_plain_model(seed, policy, samples, maxmemory, n_keys, rate,
                                               read_fraction, ttl, value_size, filing_room,
                                               atomic, decay):
    w = simlab.zipf(n_keys, 0.9, 4000, rate=rate, read_fraction=read_fraction, ttl=ttl,
                    value_size=value_size, seed=seed)
    kw = dict(policy=policy, maxmemory=maxmemory, samples=samples, lfu_decay_time=decay,
              filing_room=filing_room, atomic=atomic, seed=seed + 1)
    assert_same(simlab.simulate(w, **kw),
                simlab.simulate(w, engine="reference", **kw))


@pytest.mark.parametrize("policy", REDIS_POLICIES)
def test_equal_with_mixed_ttls_sizes_and_names(policy):
    """Some keys with a TTL, some without, value sizes per request, trace key names of
    several lengths, tables that grow and shrink."""
    rng = np.random.default_rng(5)
    n = 6000
    labels = [f"k{int(x)}" * (1 + int(x) % 3) for x in rng.zipf(1.2, n) % 900]
    ttls = np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0.01, 2.0, n))
    w = simlab.workloads.from_keys(labels, times=np.cumsum(rng.exponential(0.001, n)))
    w = dataclasses.replace(w, sizes=rng.integers(0, 600, n).astype(np.int64), ttls=ttls,
                            ops=np.where(rng.random(n) < 0.1, 1, 0).astype(np.int8))
    for maxmemory in (3_000, 40_000):
        kw = dict(policy=policy, maxmemory=maxmemory, samples=3, filing_room=0.001, seed=7)
        assert_same(simlab.simulate(w, **kw),
                    simlab.simulate(w, engine="reference", **kw))


@pytest.mark.parametrize("policy", REDIS_POLICIES)
def test_equal_when_events_tie(policy):
    """Bursts of requests at the same instant, a third of them writes, constant latencies:
    fills and invalidations fall due at exactly the same time, and the order in which the
    event heap applies ties (first scheduled, first applied) decides what is cached."""
    rng = np.random.default_rng(12)
    n = 3000
    w = simlab.workloads.from_keys([f"k{int(x)}" for x in rng.integers(0, 40, n)],
                                   times=np.repeat(np.arange(n // 10) * 0.001, 10))
    w = dataclasses.replace(w, ops=np.where(rng.random(n) < 0.3, 1, 0).astype(np.int8),
                            ttls=np.where(rng.random(n) < 0.5, 0.004, np.nan))
    kw = dict(policy=policy, maxmemory=1_000, samples=3, whiteboard=0.0, filing_room=0.002,
              atomic=False, seed=7)
    fast, ref = simlab.simulate(w, **kw), simlab.simulate(w, engine="reference", **kw)
    assert_same(fast, ref)
    assert ref.attrs["inflight_misses"] > 0 and ref.attrs["evictions"] + ref.attrs["oom_errors"] > 0


def test_a_million_requests_equal_on_counters():
    """The benchmark's shape, shrunk: many keys, heavy eviction, every policy."""
    w = simlab.zipf(20_000, 1.0, 60_000, seed=1)
    for policy in REDIS_POLICIES:
        kw = dict(policy=policy, maxmemory=300_000, filing_room=0.0, seed=1)
        assert_same(simlab.simulate(w, **kw),
                    simlab.simulate(w, engine="reference", **kw))


def test_equal_without_a_limit_and_with_lfu_decay():
    w = simlab.zipf(3000, 1.0, 20_000, rate=2.0, ttl=600.0, value_size=50, seed=2)
    for policy, maxmemory in (("allkeys-lfu", 0), ("volatile-lfu", 100_000)):   # 0: no limit
        kw = dict(policy=policy, maxmemory=maxmemory, lfu_decay_time=1, lfu_log_factor=3,
                  filing_room=0.0, seed=3)
        assert_same(simlab.simulate(w, **kw),
                    simlab.simulate(w, engine="reference", **kw))


def test_duplicate_key_names_fall_back_to_the_reference():
    w = simlab.workloads.from_keys(["a", "b", "a"])
    df = simlab.simulate(w, policy="allkeys-lru", maxmemory=10_000, key_names=["same", "same"],
                         seed=1)
    assert df.attrs["engine"] == "reference"


def test_engine_must_be_known():
    w = simlab.zipf(10, 1.0, 10, seed=1)
    with pytest.raises(ValueError, match="engine must be one of fast, reference"):
        simlab.simulate(w, policy="allkeys-lru", maxmemory=1000, engine="turbo")


def test_entry_bytes_equals_the_memory_model():
    for key_length in (0, 1, 12, 31, 32, 255, 256, 70_000):
        for value_length in list(range(0, 700)) + [4096, 65_535, 65_536, 10**6, 512 * 2**20]:
            assert RK.entry_bytes(key_length, value_length) == \
                mem.entry_bytes(key_length, value_length), (key_length, value_length)


def test_synthetic_key_lengths():
    lengths = RK.key_lengths_synthetic(100_001)
    for k in (0, 9, 10, 99_999, 100_000):
        assert lengths[k] == len(f"key:{k:08d}")


def test_splitmix64_is_seeded_from_the_policy_stream_and_reproducible():
    a, b = SplitMix64(3), SplitMix64(3)
    assert [a.next64() for _ in range(5)] == [b.next64() for _ in range(5)]
    assert SplitMix64(3).next64() != SplitMix64(4).next64()
    x = SplitMix64(1)
    assert 0.0 <= x.random() < 1.0 and 0 <= x.randrange(7) < 7 and x.getrandbits(8) < 256
    # the same generator, compiled
    state = SplitMix64(9).state
    st_ = np.zeros(RK.HEADER, dtype=np.int64)
    st_[RK.RNG] = state - (1 << 64) if state >= 1 << 63 else state
    ref = SplitMix64(9)
    assert [RK.draw64(st_) for _ in range(100)] == [ref.next64() for _ in range(100)]


def test_the_plain_model_keeps_its_api_for_its_users():
    c = RedisCache("allkeys-lru", 2000, rng=1)
    for i in range(40):
        c.put(f"key:{i:08d}", float(i), None, 100)
    assert c.evictions > 0 and c.used_memory > 2000     # the last SET went over; the next
    assert c.make_room(40.0) and c.used_memory <= 2000   # command evicts back under the limit
    d = RedisCache("allkeys-lfu", None, rng=np.random.default_rng(2))
    d.put("x", 0.0)
    assert d.get("x", 0.0) and d.lfu_counter("x") in (5, 6)
