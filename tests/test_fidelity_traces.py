"""The Redis model against a private real server, request for request, on real-like traces.

Each trace is replayed as cache-aside, each read one Lua step on the server (GET, and SET on
a miss), pipelined, keys ``item:<n>`` with 64-byte values and a TTL on 60% of the keys; the
model replays the same requests at the times they were sent (``simulate`` with a Redis policy and
``atomic=True``). Tolerances: hit ratio 1.5 points, keys held 5%, evictions 10%. Slices of
the traces keep the suite's time down; ``make fidelity`` runs the whole traces.
"""
from pathlib import Path

import numpy as np
import pytest

import simlab
from simlab.eviction import compare_replay, replay_model
from simlab.live import redis_server_binary
from simlab.traces import first, real_like, with_values

CLOUDPHYSICS = Path(__file__).resolve().parents[1] / ".." / "shared" / "traces" / \
    "cloudphysics.txt"
POLICIES = [("allkeys-lru", 5), ("allkeys-lru", 10), ("allkeys-lfu", 5), ("allkeys-random", 5),
            ("volatile-ttl", 5)]
BUDGETS = [400_000, 900_000, 1_500_000]   # about 2,300 / 5,200 / 8,700 keys: tables of
                                          # 4,096, 8,192 and 16,384 buckets
REQUESTS = 40_000
needs_server = pytest.mark.skipif(not redis_server_binary(),
                                  reason="no redis-server binary on the PATH")


def _trace(name):
    if name == "cloudphysics":
        if not CLOUDPHYSICS.is_file():
            pytest.skip(f"the CloudPhysics trace is not on this machine ({CLOUDPHYSICS})")
        return with_values(first(simlab.read_trace(CLOUDPHYSICS), REQUESTS), seed=0)
    return real_like(REQUESTS, seed=1)


def _assert_close(row):
    assert abs(row["real_hit_ratio"] - row["model_hit_ratio"]) <= 0.015, row
    assert abs(row["real_keys"] - row["model_keys"]) <= 0.05 * row["real_keys"], row
    assert abs(row["real_evictions"] - row["model_evictions"]) <= \
        0.10 * max(row["real_evictions"], 1), row


def test_real_like_trace_has_what_zipf_lacks():
    w = real_like(50_000, seed=3)
    keys = w.keys
    counts = np.bincount(keys)
    assert (counts == 1).sum() / w.n_keys > 0.3                     # one-hit wonders
    assert np.mean(keys[1:] == keys[:-1]) > 0.01                   # immediate re-references
    labels = w.key_names[keys].astype(np.int64)
    assert np.sum(np.diff(labels) == 1) > 4 * 1500 * 0.9             # sequential scans
    early = set(labels[:10_000]) - set(labels[40_000:])
    assert len(early) > 1000                                         # the working set moves
    again = real_like(50_000, seed=3)
    assert np.array_equal(again.keys, w.keys)                        # seeded
    ttl_share = np.mean(~np.isnan(w.ttls[np.unique(keys, return_index=True)[1]]))
    assert 0.5 < ttl_share < 0.7


def test_atomic_replay_model_has_no_fill_in_flight():
    w = real_like(5000, seed=2)
    sent = np.repeat(np.arange(50) * 0.001, 100) + 1.7e9
    out = replay_model(w, "allkeys-lru", 200_000, sent)
    again = replay_model(w, "allkeys-lru", 200_000, sent)
    assert np.array_equal(out["hits"], again["hits"]) and out["evictions"] > 0
    # request i+1 for the same key as request i always hits (one step each)
    same = np.flatnonzero(w.keys[1:] == w.keys[:-1]) + 1
    assert same.size > 0 and out["hits"][same].all()


@pytest.mark.real
@pytest.mark.slow
@needs_server
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("policy, samples", POLICIES)
@pytest.mark.parametrize("trace", ["cloudphysics", "real-like"])
def test_model_matches_a_real_server_unpaced(trace, policy, samples, budget):
    _assert_close(compare_replay(_trace(trace), policy, budget, samples=samples, seed=1))


@pytest.mark.real
@pytest.mark.slow
@needs_server
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
@pytest.mark.parametrize("trace", ["cloudphysics", "real-like"])
def test_model_matches_a_real_server_paced(trace, policy, budget):
    """At 5,000 requests a second the LRU clock sees 5,000 requests a second, not 80,000."""
    w = first(_trace(trace), 10_000)
    _assert_close(compare_replay(w, policy, budget, rate=5000.0, seed=1))


@pytest.mark.real
@needs_server
@pytest.mark.parametrize("mode", ["script", "plain"])
def test_volatile_ttl_refusals_match_a_real_server(mode):
    """60% of keys with a TTL: once they are all evicted, the server refuses fills (OOM),
    scripted or plain; the model refuses about as many.

    Hit ratio within 2 points here, not 1.5: at 400 KB the server's client buffers (a 20-25 KB
    query buffer while a pipeline of SETs is read, measured with ``INFO memory`` before and
    after one command) are 5-6% of the budget and the model does not charge them, so it holds
    up to 4% more keys, and under volatile-ttl every key it holds is a fill the server refused.
    """
    w = with_values(simlab.zipf(40_000, 1.0, 30_000, seed=3), value_size=100, seed=3)
    row = compare_replay(w, "volatile-ttl", 400_000, mode=mode, seed=1)
    assert row["real_oom_errors"] > 0
    assert abs(row["real_oom_errors"] - row["model_oom_errors"]) <= \
        0.10 * row["real_oom_errors"], row
    assert abs(row["real_keys"] - row["model_keys"]) <= 0.05 * row["real_keys"], row
    assert abs(row["real_hit_ratio"] - row["model_hit_ratio"]) <= 0.02, row
