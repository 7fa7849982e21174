"""What a whiteboard size costs: its memory plus the filing room's load from its misses.

Each function takes a curve (``size``, ``hit_ratio``; from :func:`simlab.lru_curve`) or the
table :func:`cost_table` makes of one.
"""
from __future__ import annotations

import pandas as pd

from . import _validate as v


def cost_table(curve: pd.DataFrame, *, bytes_per_key: float, dollars_per_gb_month: float,
               request_rate: float, dollars_per_db_qps_month: float) -> pd.DataFrame:
    """Monthly cost of each cache size: whiteboard memory plus the filing room's miss load.

    ``curve`` is a table with ``size`` and ``hit_ratio`` (from :func:`lru_curve`).
    """
    bytes_per_key = v.positive_real("bytes_per_key", bytes_per_key)
    request_rate = v.positive_real("request_rate", request_rate)
    memory = curve["size"] * bytes_per_key / 1e9 * v.nonnegative_real("dollars_per_gb_month",
                                                                       dollars_per_gb_month)
    db_qps = request_rate * (1 - curve["hit_ratio"])
    db = db_qps * v.nonnegative_real("dollars_per_db_qps_month", dollars_per_db_qps_month)
    return pd.DataFrame({"size": curve["size"], "hit_ratio": curve["hit_ratio"],
                         "db_qps": db_qps, "memory_cost": memory, "db_cost": db,
                         "total_cost": memory + db})


def smallest_size_for(curve: pd.DataFrame, target_hit_ratio: float) -> int | None:
    """The smallest size in ``curve`` whose hit ratio reaches the target, or ``None``."""
    target = v.fraction("target_hit_ratio", target_hit_ratio)
    ok = curve[curve["hit_ratio"] >= target]
    return int(ok["size"].min()) if len(ok) else None


def cheapest_size(costs: pd.DataFrame, target_hit_ratio: float | None = None) -> pd.Series:
    """The row of a :func:`cost_table` with the lowest total cost, among the sizes that reach
    ``target_hit_ratio`` when one is given."""
    rows = costs
    if target_hit_ratio is not None:
        target = v.fraction("target_hit_ratio", target_hit_ratio)
        rows = costs[costs["hit_ratio"] >= target]
        if rows.empty:
            raise ValueError(f"no size in the table reaches target_hit_ratio {target!r}; the "
                             f"best is {costs['hit_ratio'].max():.3f}")
    return rows.loc[rows["total_cost"].idxmin()]
