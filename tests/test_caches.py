import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab
from simlab import _kernels as K


def test_lru_evicts_least_recently_used():
    c = simlab.caches.LRUCache(2)
    c.put("a"); c.put("b")
    assert c.get("a")
    c.put("c")
    assert "b" not in c and "a" in c and "c" in c
    assert c.evictions == 1


def test_fifo_ignores_hits():
    c = simlab.caches.FIFOCache(2)
    c.put("a"); c.put("b")
    assert c.get("a")
    c.put("c")
    assert "a" not in c and "b" in c


def test_lfu_evicts_least_frequent_then_least_recent():
    c = simlab.caches.LFUCache(3)
    for k in "abc":
        c.put(k)
    c.get("a"); c.get("a"); c.get("c")
    c.put("d")                  # b has count 1, the only one
    assert "b" not in c
    c.put("e")                  # d (count 1) goes
    assert "d" not in c and set("ace") <= {k for k in "ace" if k in c}


def test_ttl_is_lazy_and_strict():
    c = simlab.caches.LRUCache(10)
    c.put("otp", now=0.0, ttl=300)
    assert c.get("otp", now=300.0)          # at the deadline: still there (Redis: now > expire)
    assert not c.get("otp", now=300.001)
    assert c.expired == 1 and "otp" not in c


def test_random_cache_uses_given_draws():
    class Draws:
        def random(self):
            return 0.0
    c = simlab.caches.RandomCache(2, rng=Draws())
    c.put("a"); c.put("b"); c.put("c")
    assert "a" not in c


def test_random_cache_seeded_through_the_policy_stream():
    """An int is a run's seed: the victims come from its ``"policy"`` stream (SPEC 7), the
    same for the same seed, and the same as handing that stream over."""
    from simlab._random import stream

    def victims(rng):
        c = simlab.caches.RandomCache(8, rng=rng)
        gone = []
        for k in range(200):
            before = set(c._pos)
            c.put(k)
            gone += sorted(before - set(c._pos))
        return gone

    assert victims(5) == victims(5) == victims(stream(5, "policy"))
    assert victims(5) != victims(6)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        simlab.caches.RandomCache(2, rng=-1)


def test_make_cache_rejects_unknown_policy():
    with pytest.raises(ValueError, match="policy must be one of lru, lfu, fifo, random, perfect-lfu; got .mru."):
        simlab.caches.make_cache("mru", 10)
    with pytest.raises(ValueError, match="capacity must be a positive integer, got 0"):
        simlab.caches.make_cache("lru", 0)


ops = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 15), st.floats(0, 3)), max_size=300)


@settings(max_examples=60, deadline=None)
@given(script=ops, capacity=st.integers(1, 8), policy=st.sampled_from(simlab.POLICIES))
def test_compiled_cache_equals_reference(script, capacity, policy):
    """Get/put/delete scripts with TTLs: the fast engine's cache and the reference agree."""
    draws = np.random.default_rng(0).random(len(script) + 1)
    it = iter(draws.tolist())

    class Draws:
        def random(self):
            return next(it)

    ref = simlab.caches.make_cache(policy, capacity, rng=Draws())
    st, expire = K.new_state(K.POLICY_CODES[policy], capacity, 16, len(script) + 2)
    now = 0.0
    for action, k, dt in script:
        now += dt
        if action == 0:
            status = K.cache_get(st, expire, k, now)
            assert (status == 0) == ref.get(k, now)
        elif action == 1:
            ttl = dt if dt > 1 else float("nan")
            K.cache_put(st, expire, draws, k, now, ttl)
            ref.put(k, now, None if np.isnan(ttl) else ttl)
        else:
            K.cache_delete(st, expire, k)
            ref.delete(k)
        assert {int(x) for x in np.flatnonzero(expire != K.ABSENT)} == set(ref._store())
        assert st[K.COUNT] == len(ref)
    assert st[K.EVICTIONS] == ref.evictions
