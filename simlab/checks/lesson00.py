"""Checks for lesson 00 (welcome)."""
from __future__ import annotations

import re

from ._common import Verdict, _verdict, _missing, _short

#: Words that turn what follows them in a clause into what Redis is not ("not the whiteboard").
_NEGATIONS = frozenset("""not isnt arent wasnt werent never neither nor no cannot cant dont
    doesnt didnt wont except unlike instead""".split())
#: Two words that do the same ("anything but the filing room", "rather than").
_NEGATION_PAIRS = frozenset({("anything", "but"), ("everything", "but"), ("other", "than"),
                             ("rather", "than"), ("instead", "of")})
#: Words that start a new clause ("not the filing room but the whiteboard").
_CLAUSE_WORDS = frozenset("but and yet so while whereas".split())
#: What a clause may call the filing room. "database" names it only when ruled out ("the
#: whiteboard is not the database"): Redis is a database too.
_FILING = ("filing", "database", "databases", "postgres", "postgresql")


def _mentions(text: str) -> tuple[set, set]:
    """The things ``text`` names as Redis and the things it rules out: two sets of
    "whiteboard" and "filing". A thing is ruled out when a negation comes before it in its
    clause (clauses end at punctuation and at "but", "and"...), or when its clause says it
    is not Redis ("the filing room is not Redis")."""
    named, negated = set(), set()
    for clause in re.split(r"[,;:.!?()\[\]{}/\"\u2014\u2013]+|\s-\s", text):
        words = re.findall(r"[a-z']+", clause)
        words = [w.replace("'", "") for w in words]
        # "but" after "anything" is a negation, not a new clause
        pieces, current = [], []
        for i, w in enumerate(words):
            if w in _CLAUSE_WORDS and not (i and (words[i - 1], w) in _NEGATION_PAIRS):
                pieces.append(current)
                current = []
            else:
                current.append(w)
        pieces.append(current)
        for piece in pieces:
            _clause(piece, named, negated)
    return named, negated


def _clause(words: list, named: set, negated: set) -> None:
    negation_at = None
    found = []                          # (position, thing)
    for i, w in enumerate(words):
        pair = (words[i - 1], w) if i else None
        if negation_at is None and (w in _NEGATIONS or pair in _NEGATION_PAIRS):
            negation_at = i
        if w == "whiteboard":
            found.append((i, "whiteboard"))
        elif w in _FILING:
            found.append((i, "database" if w.startswith("database") else "filing"))
    # "the filing room is not redis": the thing before the negation is the one ruled out
    subject_ruled_out = (negation_at is not None and any(
        w in ("redis", "it") for w in words[negation_at + 1:]) and not any(
        i > negation_at for i, _ in found))
    for i, thing in found:
        ruled_out = negation_at is not None and (i > negation_at or subject_ruled_out)
        if ruled_out:
            negated.add("filing" if thing == "database" else thing)
        elif thing != "database":
            named.add(thing)


def check_analogy(answer) -> Verdict:
    """00: which one is Redis in the analogy?

    Clause by clause: an answer that names the whiteboard and rules out the filing room
    ("the whiteboard, not the filing room", "the whiteboard is not the database") is right;
    one that names the filing room, or rules out the whiteboard, is not; one that names both
    without ruling either out names more than one thing."""
    missing = _missing(answer, "answer")
    if missing is not None:
        return missing
    if isinstance(answer, (bytes, bytearray)):
        answer = answer.decode(errors="replace")
    shown = _short(answer)
    if not isinstance(answer, str):
        return _verdict(False, "", f"answer should be a word in quotes; got {shown}.",
                        "answer with one of the two words, in quotes: \"filing room\" or "
                        "\"whiteboard\".")
    text = " ".join(answer.strip().lower().replace("\u2019", "'").replace("-", " ").split())
    text = text.replace("white board", "whiteboard").replace("whiteboards", "whiteboard")
    named, negated = _mentions(text)
    if named == {"whiteboard"} and "whiteboard" not in negated:
        return _verdict(True, "Right: Redis is the whiteboard by the door, fast and small.")
    if named == {"whiteboard", "filing"}:
        return _verdict(False, "", f"{shown} names more than one thing.",
                        "answer with one of the two words: \"filing room\" or \"whiteboard\".")
    if "filing" in named:
        picks = (" names more than one thing, and the one it picks" if "whiteboard" in negated
                 else "")
        return _verdict(False, "", f"{shown}{picks} is not what the course calls Redis.",
                        "one is complete and slow to reach, the other is by the door.")
    if named:          # the whiteboard, named and ruled out
        return _verdict(False, "", f"{shown} both names a thing and rules it out.",
                        "answer with one of the two words, without \"not\": \"filing room\" "
                        "or \"whiteboard\".")
    if negated:
        return _verdict(False, "", f"{shown} says what Redis is not; the question asks "
                        "which one it is.", "answer with one of the two words, without "
                        "\"not\": \"filing room\" or \"whiteboard\".")
    return _verdict(False, "", f"{shown} is not what the course calls Redis.",
                    "one is complete and slow to reach, the other is by the door.")
