import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab
from simlab.analysis import stack_distances

SHARED_TRACE = Path(os.environ.get("SIMLAB_VALIDATION_TRACE",
                                   Path(__file__).resolve().parents[2] / "shared" / "traces"
                                   / "cloudphysics.txt"))


def test_curve_equals_per_size_simulation_at_every_size():
    w = simlab.zipf(300, 0.9, 20_000, seed=4)
    sizes = list(range(1, w.unique_keys + 2))
    curve = simlab.lru_curve(w, sizes)
    assert curve["hits"].tolist() == simlab.hit_counts(w, sizes).tolist()


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.integers(0, 30), min_size=1, max_size=400))
def test_stack_distances_match_the_reference_lru(keys):
    w = simlab.from_keys(keys)
    for size in range(1, 33):
        ref = simlab.LRUCache(size)
        hits = 0
        for k in keys:
            if ref.get(k):
                hits += 1
            else:
                ref.put(k)
        assert simlab.lru_curve(w, [size])["hits"][0] == hits


def test_stack_distance_definition():
    keys = np.array([0, 1, 2, 0, 0, 2])
    assert stack_distances(keys, 3).tolist() == [-1, -1, -1, 2, 0, 1]


def test_default_sizes_are_log_spaced_to_the_unique_keys():
    w = simlab.zipf(5000, 1.0, 50_000, seed=1)
    curve = simlab.lru_curve(w)
    assert curve["size"].iloc[0] == 1 and curve["size"].iloc[-1] == w.unique_keys
    assert curve["hit_ratio"].is_monotonic_increasing
    assert curve.attrs["reads"] == 50_000


@pytest.mark.skipif(not SHARED_TRACE.exists(), reason="the CloudPhysics validation trace is "
                    "not on this machine (set SIMLAB_VALIDATION_TRACE)")
def test_known_figures_of_a_real_trace():
    w = simlab.read_trace(SHARED_TRACE)
    curve = simlab.lru_curve(w, [1000, 10_000])
    miss = 1 - curve["hit_ratio"].to_numpy()
    assert miss == pytest.approx([0.832716, 0.697608], abs=1e-6)


# Theory against simulation: N = 100,000 keys, C = 10,000, steady state of 4,000,000 requests
# (the first quarter warms the whiteboard). Tolerance 0.005, as the course promises.
@pytest.mark.parametrize("alpha", [0.8, 1.0, 1.2])
def test_theory_matches_simulation_within_half_a_point(alpha):
    p = simlab.zipf_probabilities(100_000, alpha)
    w = simlab.zipf(100_000, alpha, 4_000_000, seed=11)
    for policy in ("lru", "fifo", "random", "perfect-lfu"):
        simulated = simlab.steady_hit_ratio(w, 10_000, policy=policy, warmup=0.25, seed=1)
        predicted = simlab.theory_curve(p, [10_000], policy)[0]
        assert abs(simulated - predicted) < 0.005, (policy, simulated, predicted)


def test_theory_edge_cases():
    p = simlab.zipf_probabilities(10, 1.0)
    assert simlab.che_hit_ratio(p, 10) == 1.0
    assert simlab.fifo_hit_ratio(p, 20) == 1.0
    assert simlab.lfu_hit_ratio(p, 1) == pytest.approx(p[0])
    assert simlab.che_hit_ratio(simlab.zipf_probabilities(100, 0), 10) == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError, match="summing to 1"):
        simlab.che_hit_ratio([0.5, 0.2], 1)
    with pytest.raises(ValueError, match="policy must be one of"):
        simlab.theory_curve(p, [1], "mru")


def test_replicate_gives_a_confidence_interval():
    def experiment(seed):
        w = simlab.zipf(1000, 1.0, 20_000, seed=seed)
        return {"hit_ratio": simlab.hit_counts(w, [100])[0] / len(w)}
    table = simlab.replicate(experiment, seeds=range(6))
    row = table.loc["hit_ratio"]
    assert row["low"] < row["mean"] < row["high"] and row["runs"] == 6
    assert row["high"] - row["low"] < 0.02
    with pytest.raises(ValueError, match="at least two seeds"):
        simlab.replicate(experiment, seeds=[1])


def test_unique_keys_and_costs():
    w = simlab.zipf(1000, 1.0, 10_000, seed=1)
    ws = simlab.unique_keys_over_time(w, points=10)
    assert ws["unique_keys"].is_monotonic_increasing
    assert ws["unique_keys"].iloc[-1] == w.unique_keys
    curve = simlab.lru_curve(w)
    costs = simlab.cost_table(curve, bytes_per_key=1e6, dollars_per_gb_month=10,
                              request_rate=1000, dollars_per_db_qps_month=1)
    best = simlab.cheapest_size(costs)
    assert best["total_cost"] == costs["total_cost"].min()
    target = simlab.cheapest_size(costs, target_hit_ratio=0.5)
    assert target["hit_ratio"] >= 0.5
    assert simlab.smallest_size_for(curve, 0.5) == curve.loc[curve.hit_ratio >= 0.5, "size"].min()
    assert simlab.smallest_size_for(curve, 1.0) is None
    with pytest.raises(ValueError, match="no size in the table reaches"):
        simlab.cheapest_size(costs, target_hit_ratio=1.0)


def test_fanout():
    pages = simlab.fanout_latency(simlab.Constant(0.001), 10, 100, seed=1)
    assert np.allclose(pages, 0.001)
    serial = simlab.fanout_latency(simlab.Constant(0.001), 10, 100, parallel=False, seed=1)
    assert np.allclose(serial, 0.01)
    model = simlab.LogNormal(1e-3, 8e-3)
    slow = np.mean(simlab.fanout_latency(model, 10, 200_000, seed=2) > model.quantile(0.99))
    assert slow == pytest.approx(1 - 0.99 ** 10, abs=0.003)


def test_bad_analysis_inputs():
    w = simlab.zipf(10, 1.0, 100, seed=1)
    with pytest.raises(ValueError, match=r"sizes\[\] must be a positive integer, got 0"):
        simlab.lru_curve(w, [0])
    with pytest.raises(TypeError, match="workload must be a simlab Workload"):
        simlab.lru_curve([1, 2])
    with pytest.raises(ValueError, match="warmup must be fewer than"):
        simlab.hit_counts(w, [1], warmup=100)
