"""Checks for lesson 02 (whiteboard vs filing room)."""
from __future__ import annotations

import numpy as np

from ._common import Verdict, _verdict, _answer


def check_speedup(answer, whiteboard_samples, filing_room_samples) -> Verdict:
    """02: how many times longer the filing room's median takes than the whiteboard's.

    In the notebook: the dashboard's aggregate query (``filing_room_samples``) against one GET
    of the cached dashboard (``whiteboard_samples``), a ratio above 1 on every backend.
    """
    value, verdict = _answer(answer, "speedup")
    if verdict is not None:
        return verdict
    board = np.asarray(whiteboard_samples, dtype=float)
    room = np.asarray(filing_room_samples, dtype=float)
    want = float(np.median(room) / np.median(board))
    means = float(room.mean() / board.mean())
    # the ratio of means as computed (to the float) fails even where it lies within the 2%
    # allowed for rounding the medians' ratio
    exact_means = np.isclose(value, means, rtol=1e-9) and not np.isclose(value, want, rtol=1e-9)
    if np.isclose(value, want, rtol=0.02) and not exact_means:
        return _verdict(True, f"The cached dashboard comes back {want:,.0f} times faster than "
                        "the query that computes it: the work is done once, then read.")
    if value > 0 and np.isclose(value, 1 / want, rtol=0.02):
        problem = ("that is the whiteboard's time divided by the filing room's: a speedup is "
                   "the slow time over the fast one, so it is above 1 when the whiteboard wins.")
        hint = "swap the numerator and the denominator."
    elif exact_means or np.isclose(value, means, rtol=0.02):
        problem = "that looks like a ratio of means; a few slow outliers pull a mean around."
        hint = "use np.median for both, as the percentile table's p50 column does."
    else:
        problem = f"{value:.3g} is not the ratio of the two medians."
        hint = ("np.median of the filing room's samples divided by np.median of the "
                "whiteboard's; the p50 column of the table above shows both.")
    return _verdict(False, "", problem, hint)


def check_fanout(answer, lookups: int = 10, quantile: float = 0.99) -> Verdict:
    """02: chance that a page of ``lookups`` independent lookups meets a p99-slow one."""
    value, verdict = _answer(answer, "p_slow_page")
    if verdict is not None:
        return verdict
    want = 1 - quantile ** lookups
    # tight enough that 10 x 0.01 = 0.1, the classic mistake, is not accepted as 0.0956
    if abs(value - want) < 0.001:
        return _verdict(True, f"{want:.1%} of pages wait for at least one slow lookup: "
                        "tails add up.")
    slow = 1 - quantile
    if abs(value - quantile ** lookups) < 0.001:
        problem = "that is the chance that every lookup is fast; the question asks for the opposite."
        hint = "a page meets a slow lookup unless all of them are fast."
    elif abs(value - lookups * slow) < 0.001:
        problem = (f"adding {lookups} chances of {slow:g} counts the pages with two or more "
                   "slow lookups more than once.")
        hint = "work out the chance that no lookup is slow first (independent events multiply)."
    elif not 0 <= value <= 1:
        problem = f"{value:.4g} is not a probability: it must lie between 0 and 1."
        hint = "the page is fast only if all of its lookups are fast."
    else:
        problem = f"{value:.4g} is not it."
        hint = ("the page is fast only if all of its lookups are fast; what is the chance of "
                "that, and of its opposite?")
    return _verdict(False, "", problem, hint)
