"""Checks for lesson 00 (welcome)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _missing


def check_analogy(answer) -> Verdict:
    """00: which one is Redis in the analogy?"""
    missing = _missing(answer, "answer")
    if missing is not None:
        return missing
    text = " ".join(str(answer).strip().lower().replace("-", " ").split())
    text = text.replace("white board", "whiteboard")
    both = "whiteboard" in text and ("filing" in text or "not" in text.split())
    if both:
        return _verdict(False, "", f"{answer!r} names more than one thing.",
                        "answer with one of the two words: \"filing room\" or \"whiteboard\".")
    return _verdict("whiteboard" in text,
                    "Right: Redis is the whiteboard by the door, fast and small.",
                    f"{answer!r} is not what the course calls Redis.",
                    "one is complete and slow to reach, the other is by the door.")
