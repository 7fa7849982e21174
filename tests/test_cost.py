"""What each whiteboard size costs, and the cheapest size that meets a target."""
import pytest

import simlab
from simlab.cost import cheapest_size, cost_table, smallest_size_for


def test_costs_and_the_cheapest_size():
    w = simlab.zipf(1000, 1.0, 10_000, seed=1)
    curve = simlab.lru_curve(w)
    costs = cost_table(curve, bytes_per_key=1e6, dollars_per_gb_month=10,
                       request_rate=1000, dollars_per_db_qps_month=1)
    best = cheapest_size(costs)
    assert best["total_cost"] == costs["total_cost"].min()
    target = cheapest_size(costs, target_hit_ratio=0.5)
    assert target["hit_ratio"] >= 0.5
    assert smallest_size_for(curve, 0.5) == curve.loc[curve.hit_ratio >= 0.5, "size"].min()
    assert smallest_size_for(curve, 1.0) is None
    with pytest.raises(ValueError, match="no size in the table reaches"):
        cheapest_size(costs, target_hit_ratio=1.0)
