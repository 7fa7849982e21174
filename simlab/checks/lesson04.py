"""Checks for lesson 04 (hit ratio curves)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _missing


def check_smallest_size(answer, curve, target: float = 0.9) -> Verdict:
    """04: the smallest size in ``curve`` (size, hit_ratio) reaching ``target``."""
    missing = _missing(answer, "smallest")
    if missing is not None:
        return missing
    ok = curve[curve["hit_ratio"] >= target]
    want = int(ok["size"].min()) if len(ok) else None
    return _verdict(answer == want,
                    f"{want:,} keys is the smallest whiteboard with {target:.0%} hits here.",
                    f"{answer!r} is not the smallest size reaching {target:.0%}.",
                    "filter the curve's rows with hit_ratio >= target, then take the smallest size.")


def check_alpha_prediction(prediction, hit_low_alpha, hit_high_alpha) -> Verdict:
    """04: predict whether raising alpha moves the curve 'up' or 'down'."""
    missing = _missing(prediction, "prediction")
    if missing is not None:
        return missing
    truth = "up" if hit_high_alpha > hit_low_alpha else "down"
    return _verdict(str(prediction).strip().lower() == truth,
                    f"Right, {truth}: more skew puts more requests on the few hot keys "
                    f"({hit_low_alpha:.1%} -> {hit_high_alpha:.1%}).",
                    f"the simulation says {truth} ({hit_low_alpha:.1%} -> {hit_high_alpha:.1%}).",
                    "with more skew, do the hottest keys get more or fewer requests?")
