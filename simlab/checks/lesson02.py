"""Checks for lesson 02 (whiteboard vs filing room)."""
from __future__ import annotations

import numpy as np

from ._common import Verdict, _verdict, _answer


def check_speedup(answer, whiteboard_samples, filing_room_samples) -> Verdict:
    """02: the ratio of median filing-room time to median whiteboard time."""
    value, verdict = _answer(answer, "speedup")
    if verdict is not None:
        return verdict
    want = float(np.median(filing_room_samples) / np.median(whiteboard_samples))
    return _verdict(np.isclose(value, want, rtol=0.02),
                    f"The filing room's median is {want:.2f}x the whiteboard's here.",
                    f"{value:.3g} is not the ratio of the two medians ({want:.3g}).",
                    "np.median(room) / np.median(board); medians, not means.")


def check_fanout(answer, lookups: int = 10, quantile: float = 0.99) -> Verdict:
    """02: chance that a page of ``lookups`` independent lookups meets a p99-slow one."""
    value, verdict = _answer(answer, "p_slow_page")
    if verdict is not None:
        return verdict
    want = 1 - quantile ** lookups
    return _verdict(abs(value - want) < 0.005,
                    f"{want:.1%} of pages wait for at least one slow lookup: tails add up.",
                    f"{value:.4g} is not it.",
                    "the page is fast only if all 10 lookups are fast: 1 - 0.99 ** 10.")
