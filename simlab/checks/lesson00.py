"""Checks for lesson 00 (welcome)."""
from __future__ import annotations

import re

from ._common import Verdict, _verdict, _missing

#: Words that turn an answer into what Redis is not ("not the whiteboard").
_NEGATIONS = frozenset("not isn't isnt aren't arent never neither nor".split())


def check_analogy(answer) -> Verdict:
    """00: which one is Redis in the analogy?"""
    missing = _missing(answer, "answer")
    if missing is not None:
        return missing
    text = " ".join(str(answer).strip().lower().replace("-", " ").split())
    text = text.replace("white board", "whiteboard")
    words = re.findall(r"[a-z']+", text.replace("\u2019", "'"))
    named = ("whiteboard" in text) + ("filing" in text)
    negated = any(w in _NEGATIONS for w in words)
    if named == 2:
        return _verdict(False, "", f"{answer!r} names more than one thing.",
                        "answer with one of the two words: \"filing room\" or \"whiteboard\".")
    if named and negated:
        return _verdict(False, "", f"{answer!r} says what Redis is not; the question asks "
                        "which one it is.", "answer with one of the two words, without \"not\": "
                        "\"filing room\" or \"whiteboard\".")
    return _verdict("whiteboard" in text,
                    "Right: Redis is the whiteboard by the door, fast and small.",
                    f"{answer!r} is not what the course calls Redis.",
                    "one is complete and slow to reach, the other is by the door.")
