"""The exact LRU curve (stack distances), log-spaced sizes, replications, the working set."""
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlab
from simlab.curves import stack_distances

SHARED_TRACE = Path(os.environ.get("SIMLAB_VALIDATION_TRACE",
                                   Path(__file__).resolve().parents[2] / "shared" / "traces"
                                   / "cloudphysics.txt"))


def test_curve_equals_per_size_simulation_at_every_size():
    w = simlab.zipf(300, 0.9, 20_000, seed=4)
    sizes = list(range(1, w.unique_keys + 2))
    curve = simlab.lru_curve(w, sizes)
    assert curve["hits"].tolist() == simlab.engine.hit_counts(w, sizes).tolist()


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.integers(0, 30), min_size=1, max_size=400))
def test_stack_distances_match_the_reference_lru(keys):
    w = simlab.workloads.from_keys(keys)
    for size in range(1, 33):
        ref = simlab.caches.LRUCache(size)
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


def test_replicate_gives_a_confidence_interval():
    def experiment(seed):
        w = simlab.zipf(1000, 1.0, 20_000, seed=seed)
        return {"hit_ratio": simlab.engine.hit_counts(w, [100])[0] / len(w)}
    table = simlab.curves.replicate(experiment, seeds=range(6))
    row = table.loc["hit_ratio"]
    assert row["low"] < row["mean"] < row["high"] and row["runs"] == 6
    assert row["high"] - row["low"] < 0.02
    with pytest.raises(ValueError, match="at least two seeds"):
        simlab.curves.replicate(experiment, seeds=[1])


def test_unique_keys_over_time():
    w = simlab.zipf(1000, 1.0, 10_000, seed=1)
    ws = simlab.curves.unique_keys_over_time(w, points=10)
    assert ws["unique_keys"].is_monotonic_increasing
    assert ws["unique_keys"].iloc[-1] == w.unique_keys


def test_bad_curve_inputs():
    w = simlab.zipf(10, 1.0, 100, seed=1)
    with pytest.raises(ValueError, match=r"sizes\[\] must be a positive integer, got 0"):
        simlab.lru_curve(w, [0])
    with pytest.raises(TypeError, match="workload must be a simlab Workload"):
        simlab.lru_curve([1, 2])
    with pytest.raises(ValueError, match="warmup must be fewer than"):
        simlab.engine.hit_counts(w, [1], warmup=100)
