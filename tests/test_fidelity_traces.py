"""The Redis model against a private real server, request for request, on real-like traces.

Each trace is replayed as cache-aside, each read one Lua step on the server (GET, and SET on
a miss), pipelined, keys ``item:<n>`` with 64-byte values and a TTL on 60% of the keys; the
model replays the same requests at the times they were sent (``simulate`` with a Redis policy and
``atomic=True``). Tolerances: hit ratio 1.5 points, keys held 5%, evictions 10%, with the
model charged with the server's client buffers (``buffers=True``); uncharged, the model may
hold the buffers' worth of keys more and evict that many fewer. The buffers are 10-40 KB and
move with the machine's load (Redis 7 resizes them on its cron): a paced slice of 10,000
requests at 900 KB evicts only about 700 keys, so on a busy CI machine the server evicted 769
against the uncharged model's 624 (a quiet one 678); charged, the model evicted 679. Slices of
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
    """Hit ratio within 1.5 points, model and charged model alike; keys within 5% and evictions
    within 10% once the model is charged with the server's client buffers; uncharged, the model
    holds at most the buffers' worth of keys more (and 5%), and evicts that many fewer (and
    10%)."""
    for source in ("model", "charged"):
        assert abs(row["real_hit_ratio"] - row[f"{source}_hit_ratio"]) <= 0.015, row
    assert abs(row["real_keys"] - row["charged_keys"]) <= 0.05 * row["real_keys"], row
    assert abs(row["real_evictions"] - row["charged_evictions"]) <= \
        0.10 * max(row["real_evictions"], 1), row
    buffer_keys = row["real_other_bytes"] / (row["model_bytes"] / max(row["model_keys"], 1))
    surplus = row["model_keys"] - row["real_keys"]
    assert -0.05 * row["real_keys"] <= surplus <= 0.05 * row["real_keys"] + buffer_keys, row
    shortfall = row["real_evictions"] - row["model_evictions"]
    assert -0.10 * max(row["real_evictions"], 1) <= shortfall <= \
        0.10 * max(row["real_evictions"], 1) + buffer_keys, row


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
    _assert_close(compare_replay(_trace(trace), policy, budget, samples=samples, seed=1,
                                 buffers=True))


@pytest.mark.real
@pytest.mark.slow
@needs_server
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("policy, samples", POLICIES)
@pytest.mark.parametrize("trace", ["cloudphysics", "real-like"])
def test_model_matches_a_real_server_paced(trace, policy, samples, budget):
    """At 5,000 requests a second the LRU clock sees 5,000 requests a second, not 80,000:
    two seconds of requests, so the clock turns twice inside the run."""
    w = first(_trace(trace), 10_000)
    _assert_close(compare_replay(w, policy, budget, samples=samples, rate=5000.0, seed=1,
                                 buffers=True))


@pytest.mark.real
@needs_server
@pytest.mark.parametrize("mode", ["script", "plain"])
def test_volatile_ttl_refusals_match_a_real_server(mode):
    """60% of keys with a TTL: once they are all evicted, the server refuses fills (OOM),
    scripted or plain; the model refuses as many once charged with the server's client buffers.

    At 400 KB a server's client buffers move with its cron's timing (Redis 7 resizes the reply
    buffer): on a quiet machine it held 2,112-2,118 keys with 11-15 KB of buffers, on a busy one
    2,019-2,039 with 25-40 KB (and 2,039 every time with resizing frozen by ``DEBUG REPLYBUFFER
    RESIZING 0``); the model, which has no client buffers, holds 2,180. So: the model holds at
    most the buffers' worth of keys more than the server (and 5%); charged with them
    (``buffers=True``), it refuses within 5% of the server's refusals and hits within 1.5 points.
    Measured both ways here: refusals within 0.4%, hit ratio within 0.3 points."""
    w = with_values(simlab.zipf(40_000, 1.0, 30_000, seed=3), value_size=100, seed=3)
    row = compare_replay(w, "volatile-ttl", 400_000, mode=mode, seed=1, buffers=True)
    assert row["real_oom_errors"] > 1000, row
    assert abs(row["real_oom_errors"] - row["charged_oom_errors"]) <= \
        0.05 * row["real_oom_errors"], row
    assert abs(row["real_hit_ratio"] - row["charged_hit_ratio"]) <= 0.015, row
    per_key = row["model_bytes"] / row["model_keys"]
    surplus = row["model_keys"] - row["real_keys"]
    assert -0.05 * row["real_keys"] <= surplus <= \
        0.05 * row["real_keys"] + row["real_other_bytes"] / per_key, row


@pytest.mark.real
@needs_server
def test_lru_tick_phase_is_where_the_server_turns_its_lru_clock():
    """The server's cached LRU clock turns 0-100 ms after each whole second (on its first
    cron tick after it), on a cron that keeps its phase second after second: measured twice,
    the phases agree within 20 ms modulo the cron's 100 ms period (a cron that lands right at
    the whole second turns the clock on it one second and 100 ms later the next: CI measured
    0.099 then 0.002)."""
    from simlab.clock import RealClock
    from simlab.eviction import lru_tick_phase, open_server

    with open_server("real") as (r, clock):
        assert isinstance(clock, RealClock)
        first_phase = lru_tick_phase(r, clock)
        second_phase = lru_tick_phase(r, clock)
    assert -0.5 <= first_phase < 0.5
    assert -0.005 <= first_phase % 1.0 < 0.105 or first_phase % 1.0 > 0.995, first_phase
    gap = abs(first_phase - second_phase) % 0.1
    assert min(gap, 0.1 - gap) < 0.02, (first_phase, second_phase)


def test_replay_helpers_refuse_what_they_cannot_do():
    """Bad input is refused before a server starts, naming the parameter and the value."""
    from simlab.eviction import lru_tick_phase, open_server

    w = real_like(1000, seed=1)
    with pytest.raises(TypeError, match=r"buffers must be True .* got 'yes'"):
        compare_replay(w, "allkeys-lru", 200_000, buffers="yes")
    with open_server("model") as (r, clock):
        with pytest.raises(ValueError, match="limit must be a positive finite number, got -1"):
            lru_tick_phase(r, clock, limit=-1)
        with pytest.raises(ValueError, match="needs a real redis-server"):
            lru_tick_phase(r, clock)
