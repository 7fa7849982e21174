"""Theory for independent requests (Che, the FIFO/Random fixed point, perfect LFU) against
the simulation."""
import pytest

import simlab
from simlab.theory import che_hit_ratio, fifo_hit_ratio, lfu_hit_ratio, theory_curve
from simlab.workloads import zipf_probabilities


# Theory against simulation: N = 100,000 keys, C = 10,000, steady state of 4,000,000 requests
# (the first quarter warms the whiteboard). Tolerance 0.005, as the course promises.
@pytest.mark.parametrize("alpha", [0.8, 1.0, 1.2])
def test_theory_matches_simulation_within_half_a_point(alpha):
    p = zipf_probabilities(100_000, alpha)
    w = simlab.zipf(100_000, alpha, 4_000_000, seed=11)
    for policy in ("lru", "fifo", "random", "perfect-lfu"):
        simulated = simlab.engine.steady_hit_ratio(w, 10_000, policy=policy, warmup_share=0.25, seed=1)
        predicted = theory_curve(p, [10_000], policy)[0]
        assert abs(simulated - predicted) < 0.005, (policy, simulated, predicted)


def test_theory_edge_cases():
    p = zipf_probabilities(10, 1.0)
    assert che_hit_ratio(p, 10) == 1.0
    assert fifo_hit_ratio(p, 20) == 1.0
    assert lfu_hit_ratio(p, 1) == pytest.approx(p[0])
    assert che_hit_ratio(zipf_probabilities(100, 0), 10) == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError, match="summing to 1"):
        che_hit_ratio([0.5, 0.2], 1)
    with pytest.raises(ValueError, match="policy must be one of"):
        theory_curve(p, [1], "mru")
