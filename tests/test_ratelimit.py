"""Rate limiting: live limiters at window edges, the race without atomicity, the simulation."""
import json
import subprocess
import sys

import numpy as np
import pytest

import simlab
from simlab.clock import FakeRedisClock
from simlab.live.ratelimit import LIMITERS, edge_demo, limit_race, limiter
from simlab.ratelimit import (ALGORITHMS, Limiter, compare_algorithms, max_in_any_window,
                              request_times, simulate_ratelimit)


@pytest.fixture
def fake():
    """fakeredis with a frozen clock on a window boundary (t = 1,000,000 s)."""
    simlab.live.client._FAKE_SERVER = None
    r = simlab.connect()
    with FakeRedisClock(start=1_000_000.0, frozen=True) as clock:
        yield r, clock
    simlab.cleanup(r)


def burst(lim, n, user="u"):
    return sum(lim.allow(user) for _ in range(n))


def test_fixed_window_lets_twice_the_limit_through_at_the_edge(fake):
    r, clock = fake
    lim = limiter("fixed-window", r, limit=10, window=1.0, clock=clock)
    clock.advance(0.99)                        # the end of a window
    assert burst(lim, 12) == 10
    clock.advance(0.02)                        # 20 ms later: a new window
    assert burst(lim, 12) == 10                # 20 requests in 20 ms: 2x the limit


@pytest.mark.parametrize("offset", [0.0, 0.5, 0.985, 0.995, 0.9999])
def test_edge_demo_from_any_moment_in_the_window(fake, offset):
    """The notebook's demo starts wherever the clock happens to be, even 5 ms before an edge
    (CI's browser run once started there and the clock was asked to go back)."""
    r, clock = fake
    clock.advance(offset)
    lim = limiter("fixed-window", r, limit=10, window=1.0, clock=clock)
    demo = edge_demo(lim, clock, before=12, after=12, user=f"edge-{offset}")
    assert demo["allowed just before the edge"] == 10
    assert demo["allowed just after"] == 10


def test_sliding_log_never_exceeds_the_limit_at_the_edge(fake):
    r, clock = fake
    lim = limiter("sliding-log", r, limit=10, window=1.0, clock=clock)
    clock.advance(0.99)
    assert burst(lim, 12) == 10
    clock.advance(0.02)
    assert burst(lim, 12) == 0                 # the last second already holds 10
    clock.advance(1.0)
    assert burst(lim, 12) == 10


def test_a_sliding_log_decision_is_one_atomic_step(fake, monkeypatch):
    """Each decision is one command (the script): nothing a crash could interrupt, and a
    refused request leaves no entry behind."""
    r, clock = fake
    lim = limiter("sliding-log", r, limit=3, window=1.0, clock=clock)
    sent = []
    real = type(r).execute_command
    monkeypatch.setattr(type(r), "execute_command",
                        lambda self, *args, **kw: sent.append(args[0]) or real(self, *args, **kw))
    decisions = [lim.allow("atomic") for _ in range(5)]
    assert decisions == [True] * 3 + [False] * 2
    # redis-py loads the script once (a first EVALSHA answered NOSCRIPT, SCRIPT LOAD, again)
    assert set(sent) <= {"EVALSHA", "SCRIPT LOAD"} and sent.count("SCRIPT LOAD") <= 1
    assert len(sent) == 5 + 2 * sent.count("SCRIPT LOAD")
    assert r.zcard(simlab.key("rl", "sliding-log", "atomic")) == 3


def test_sliding_counter_weights_the_previous_window(fake):
    r, clock = fake
    lim = limiter("sliding-counter", r, limit=10, window=1.0, clock=clock)
    clock.advance(0.5)
    assert burst(lim, 10) == 10
    clock.advance(0.75)                        # a quarter into the next: 10 * 0.75 = 7.5 left
    assert burst(lim, 10) == 3


def test_token_bucket_refills_at_the_rate(fake):
    r, clock = fake
    lim = limiter("token-bucket", r, limit=10, window=1.0, clock=clock)
    assert burst(lim, 15) == 10                # the bucket
    clock.advance(0.3)                         # 3 tokens back
    assert burst(lim, 5) == 3


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_live_limiters_decide_like_the_model(algorithm, fake):
    r, clock = fake
    live = limiter(algorithm, r, limit=10, window=1.0, clock=clock)
    model = Limiter(algorithm, 10, 1.0)
    base = clock.now()
    for t in np.sort(np.random.default_rng(1).uniform(0, 5, 150)):
        clock.advance(base + t - clock.now())
        assert live.allow("u") == model.allow(base + t)


@pytest.mark.real
def test_live_limiters_on_a_real_server(private_redis):
    r = simlab.connect(private_redis.url)
    try:
        for name in LIMITERS:
            lim = limiter(name, r, limit=5, window=30.0)
            assert burst(lim, 8, user=f"real-{name}") == 5, name
    finally:
        simlab.cleanup(r)


def test_racy_limiter_breaks_the_limit_atomic_does_not(redis_client):
    racy = limit_race(redis_client, atomic=False, limit=50, threads=8, attempts=40)
    atomic = limit_race(redis_client, atomic=True, limit=50, threads=8, attempts=40)
    assert atomic["allowed"] == 50
    assert racy["allowed"] > 50


def test_race_counts_in_one_window_even_when_it_outlasts_the_window():
    """The race is timed in one window: a run longer than the window (certain here, 320
    requests in 20 ms windows) must not start fresh counts and seem to let more through."""
    r = simlab.connect()
    atomic = limit_race(r, atomic=True, limit=50, threads=4, attempts=80, window=0.02)
    racy = limit_race(r, atomic=False, limit=50, threads=4, attempts=80, window=0.02,
                      gap=0.001)
    simlab.cleanup(r)
    assert atomic["allowed"] == 50
    assert racy["allowed"] > 50


def test_bad_limiter_arguments():
    r = simlab.connect()
    with pytest.raises(ValueError, match="algorithm must be one of"):
        limiter("leaky", r, limit=1, window=1)
    with pytest.raises(ValueError, match="limit must be a positive integer, got 0"):
        limiter("fixed-window", r, limit=0, window=1)
    with pytest.raises(ValueError, match="window must be a positive (finite )?number"):
        Limiter("fixed-window", 1, -1)  # message: "window must be a positive finite number"


# --- simulation -----------------------------------------------------------------------

def test_max_in_any_window():
    assert max_in_any_window(np.array([0.0, 0.5, 0.99, 1.0, 1.5]), 1.0) == 3
    assert max_in_any_window(np.array([]), 1.0) == 0


def test_simulated_edge_burst():
    table = compare_algorithms(limit=10, window=1.0, rate=15.0, duration=60.0,
                               pattern="edge-burst", seed=0)
    assert table.loc["fixed-window", "max_in_any_window"] == 20          # 2x the limit
    assert table.loc["sliding-log", "max_in_any_window"] <= 10           # never more
    assert table.loc["sliding-counter", "max_in_any_window"] < 20
    assert table.loc["sliding-log", "memory_bytes"] > table.loc["fixed-window", "memory_bytes"]
    assert (table["allowed"] + table["denied"] == table["requests"]).all()


def test_under_the_limit_everything_passes():
    for algorithm in ALGORITHMS:
        out = simulate_ratelimit(algorithm, limit=100, window=1.0, rate=10.0, duration=30.0,
                                 seed=1)
        assert out["denied"] == 0, algorithm


def test_request_times_are_seeded():
    a = request_times(10, 5, seed=3)
    assert np.array_equal(a, request_times(10, 5, seed=3))
    assert len(request_times(10, 5, pattern="edge-burst", limit=4, window=1.0, seed=3)) > len(a)


def test_ratelimit_cli():
    out = subprocess.run([sys.executable, "-m", "simlab.cli", "ratelimit", "--algorithm",
                          "fixed-window", "--limit", "10", "--window", "1", "--rate", "15",
                          "--duration", "60", "--pattern", "edge-burst", "--seed", "0",
                          "--json"], capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    assert data["max_in_any_window"] == 20 and data["allowed"] + data["denied"] == data["requests"]
    bad = subprocess.run([sys.executable, "-m", "simlab.cli", "ratelimit", "--algorithm",
                          "leaky", "--limit", "1", "--window", "1", "--rate", "1",
                          "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "argument --algorithm" in bad.stderr
