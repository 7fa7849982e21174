"""Checks for lesson 04 (hit ratio curves)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _missing, _answer, _short


def check_smallest_size(answer, curve, target: float = 0.9) -> Verdict:
    """04: the smallest size in ``curve`` (size, hit_ratio) reaching ``target``."""
    value, verdict = _answer(answer, "smallest")
    if verdict is not None:
        return verdict
    ok = curve[curve["hit_ratio"] >= target]
    want = int(ok["size"].min()) if len(ok) else None
    if want is not None and value == want:
        return _verdict(True, f"{want:,} keys is the smallest whiteboard with {target:.0%} "
                        "hits here.")
    if 0 < value < 1:
        return _verdict(False, "", f"{value:.4g} looks like a hit ratio.",
                        "the question asks for a size, in keys: a value of curve['size'].")
    rows = curve[curve["size"] == value]
    if rows.empty:
        return _verdict(False, "", f"{value:,.6g} is not one of the sizes in the curve.",
                        "the answer is a value of curve['size']: filter the rows with "
                        "hit_ratio >= target, then take the smallest size.")
    ratio = float(rows["hit_ratio"].iloc[0])
    if ratio < target:
        return _verdict(False, "", f"at {value:,.0f} keys the hit ratio is {ratio:.1%}, short "
                        f"of {target:.0%}.", "look at larger sizes: the rows with hit_ratio "
                        ">= target.")
    return _verdict(False, "", f"{value:,.0f} keys reach {target:.0%} ({ratio:.1%}), but a "
                    "smaller size in the curve does too.", "among the rows with hit_ratio >= "
                    "target, take the smallest size (.min()), not the first or the last row.")


def check_alpha_prediction(prediction, hit_low_alpha, hit_high_alpha) -> Verdict:
    """04: predict whether raising alpha moves the curve 'up' or 'down'."""
    missing = _missing(prediction, "prediction")
    if missing is not None:
        return missing
    said = str(prediction).strip().strip(".!?\"'").strip().lower()
    if said not in ("up", "down"):
        return _verdict(False, "", f"the prediction is {_short(prediction)}.",
                        "answer with the word 'up' or 'down'.")
    truth = "up" if hit_high_alpha > hit_low_alpha else "down"
    return _verdict(said == truth,
                    f"Right, {truth}: more skew puts more requests on the few hot keys "
                    f"({hit_low_alpha:.1%} -> {hit_high_alpha:.1%}).",
                    f"{said!r} is not what the simulation shows.",
                    "with more skew, do the hottest keys get more or fewer of the requests? "
                    "A whiteboard of the same size holds the hottest keys.")
