"""Checks for lesson 12 (the capstone): a design scored against the shop's targets."""
from __future__ import annotations

import math
import re

import numpy as np

from ._common import (Verdict, _answer, _how_far, _missing, _near, _raised, _short, _verdict,
                      RAISED)

HINTS = {
    "p99_ms": "more reads must be hits: longer TTLs are safe when writes delete what they "
              "change, and a whiteboard big enough for the pages people come back to.",
    "peak_db_qps": "look at the busiest second: during the flash sale every order deletes the "
                   "hot product's page, and everyone reading it in the next milliseconds "
                   "walks to the filing room (lesson 09).",
    "stale_share": "a TTL alone lets a page outlive the write that changed it; think about "
                   "what a write should do to the whiteboard (lesson 09).",
    "memory_mb": "the whiteboard is bigger than the budget allows; the hit-ratio curve flattens "
                 "long before every page fits (lesson 04).",
    "wrongly_refused": "your limiter refuses users who stay within the agreed 20 requests per "
                       "10 s: the partners send bursts (lesson 06: which limits allow a burst "
                       "of the agreed size?).",
    "scraper_per_s": "the scraper at 03:00 gets far more than the agreed 20 requests per 10 s: "
                     "a limit must hold every user to the agreed rate on average, not only "
                     "let the partners' bursts through (lesson 06).",
}
WORDS = {"p99_ms": "p99 read latency", "peak_db_qps": "peak filing-room queries",
         "stale_share": "share of stale reads", "memory_mb": "whiteboard memory",
         "wrongly_refused": "requests wrongly refused by the rate limit",
         "scraper_per_s": "the scraper's requests let through"}
#: How each target's value reads in a message: the number with its unit.
UNITS = {"p99_ms": lambda x: f"{x:,.1f} ms", "peak_db_qps": lambda x: f"{x:,.0f} a second",
         "stale_share": lambda x: f"{x:.1%}", "memory_mb": lambda x: f"{x:,.1f} MB",
         "wrongly_refused": lambda x: f"{x:,.0f}",
         "scraper_per_s": lambda x: f"{x:,.2f} a second"}
#: The hint for a design that puts nothing on the whiteboard, whatever it misses first.
NOTHING_CACHED = ("design['cache'] names no reads, so every read walks to the filing room: "
                  "put the pages people read most on the whiteboard (lesson 03).")


def check_design(design, result=None, *, day=None) -> Verdict:
    """12: the design meets every target on the whole recorded day.

    ``result`` is :func:`simlab.capstone.simulate_day`'s dict for ``design``, if the notebook
    already has it; otherwise the check runs ``design`` on ``day`` itself (the recorded day by
    default), after checking the design, so that a mistyped design gets a sentence, not a
    traceback."""
    from .. import capstone

    missing = _missing(design, "design")
    if missing is not None:
        return missing
    design, problem = _as_the_course_spells_it(design)
    if problem is not None:
        return problem
    try:
        capstone.check_design(design)
    except RAISED as exc:     # any malformed value (an array, 10**400): a sentence
        said = re.sub(r"\S{61,}", lambda m: m.group()[:57] + "...", str(exc))  # 10**400
        if "integer string conversion" in said:   # 10**5000 cannot even be printed
            said = "one of its values is a whole number of thousands of digits"
        return _verdict(False, "", f"the design is not usable yet: {said}",
                        "start from simlab.capstone.EXAMPLE and change its values.")
    try:
        result = result if result is not None else capstone.simulate_day(design, day)
        table = capstone.score(result)
    except RAISED as exc:
        return _raised("running the design on the day", exc)
    missed = [name for name, row in table.iterrows() if not row["met"]]
    if not missed:
        return _verdict(True, "Your design meets every target on the whole day: "
                        f"{result['hit_ratio']:.0%} of reads are hits, for "
                        f"${result['monthly_cost']:.2f} a month of whiteboard.")
    lines = [f"{len(missed)} of {len(table)} targets missed:"]
    nothing_cached = not design.get("cache")        # one cause of both: said once
    for name in missed:
        shown = UNITS[name]
        value, target = float(result[name]), capstone.TARGETS[name]
        hint = HINTS[name]
        if nothing_cached and name in ("p99_ms", "peak_db_qps"):
            hint, nothing_cached = NOTHING_CACHED, False
        elif not design.get("cache") and name in ("p99_ms", "peak_db_qps"):
            hint = "the same cause."
        lines.append(f"   - {WORDS[name]}: {shown(value)}, the target is at most "
                     f"{shown(target)}. {hint}")
    return _verdict(False, "", "\n".join(lines),
                    "change one thing at a time and run the design again.")


#: The eviction policies the simulation knows, under the other names a learner may give them
#: (any case, spaces or underscores for hyphens): Redis's maxmemory-policy names (lesson 08;
#: every page on the whiteboard has a TTL, so a volatile-* policy acts like its allkeys-* twin
#: here) and the words the short forms stand for.
POLICIES = ("lru", "lfu", "fifo", "random")
POLICY_NAMES = {**{name: name for name in POLICIES},
                **{f"{keys}-{name}": name for keys in ("allkeys", "volatile")
                   for name in ("lru", "lfu", "random")},
                "least-recently-used": "lru", "least-frequently-used": "lfu",
                "first-in-first-out": "fifo"}
#: The other choices of the design, read in any case, with spaces or underscores for hyphens.
CHOICES = {("invalidation",): ("delete", "ttl"), ("stampede",): ("lock", "none"),
           ("rate_limit", "algorithm"): ("fixed-window", "sliding-log", "sliding-counter",
                                         "token-bucket")}


def _spelled(value) -> str | None:
    """``value`` lower-cased, with hyphens for spaces and underscores; None if not a string."""
    if not isinstance(value, str):
        return None
    return "-".join(value.strip().lower().replace("_", " ").replace("-", " ").split())


def _as_the_course_spells_it(design):
    """``(design, None)``, with a copy of ``design`` whose values are read as the course means
    them: a policy or a choice in any case (``"LRU"``, ``"allkeys-lru"``), a limit that is a
    whole float (``20.0``) as an integer; or ``(design, verdict)`` when a policy or a limit
    cannot be read that way. Anything else is left to :func:`simlab.capstone.check_design`,
    which names the field."""
    if not isinstance(design, dict):
        return design, None
    design = dict(design)
    if "policy" in design:
        spelled = _spelled(design["policy"])
        if spelled is not None and spelled in POLICY_NAMES:
            design["policy"] = POLICY_NAMES[spelled]
        elif spelled is not None:
            return design, _verdict(
                False, "", f"design['policy'] is {_short(design['policy'])}, which the "
                "simulation does not know: it takes 'lru', 'lfu', 'fifo' or 'random'.",
                "a whiteboard that is full must evict something to take a new page "
                "(lesson 08)." if spelled == "noeviction" else "Redis's allkeys-lru, "
                "allkeys-lfu and allkeys-random are 'lru', 'lfu' and 'random' here.")
    for path, options in CHOICES.items():
        holder = design if len(path) == 1 else design.get(path[0])
        if not isinstance(holder, dict) or path[-1] not in holder:
            continue
        spelled = _spelled(holder[path[-1]])
        if spelled in options:
            if holder is not design:
                holder = design[path[0]] = dict(holder)
            holder[path[-1]] = spelled
    rate_limit = design.get("rate_limit")
    if isinstance(rate_limit, dict) and _is_float(rate_limit.get("limit")):
        limit = rate_limit["limit"]
        if limit > 0 and math.isfinite(limit) and float(limit).is_integer():
            design["rate_limit"] = {**rate_limit, "limit": int(limit)}
        elif limit > 0 and math.isfinite(limit):
            return design, _verdict(
                False, "", f"design['rate_limit']['limit'] must be a whole number of requests "
                f"(a positive integer); got {float(limit)!r}.", "a limiter counts whole requests: "
                "make the limit an integer.")
    return design, None


def _is_float(value) -> bool:
    return isinstance(value, (float, np.floating))


def check_monthly_cost(answer, size_mb: float = 48.0) -> Verdict:
    """12: what ``size_mb`` megabytes of whiteboard cost a month at the course's price."""
    from ..capstone import PRICE_PER_GB_MONTH

    value, verdict = _answer(answer, "monthly_cost")
    if verdict is not None:
        return verdict
    want = size_mb / 1000 * PRICE_PER_GB_MONTH
    if _near(value, want, rtol=0.02):
        return _verdict(True, f"{size_mb:g} MB cost about ${want:.2f} a month: memory is rarely "
                        "what makes a cache expensive; the filing room it protects is.")
    if _near(value, size_mb * PRICE_PER_GB_MONTH, rtol=0.02):
        hint = "the price is per gigabyte: how many gigabytes is that many megabytes?"
    elif _near(value, size_mb / 1024 * PRICE_PER_GB_MONTH, rtol=0.02):
        hint = "the course counts 1 GB as 1,000 MB (as cloud prices do)."
    else:
        hint = "gigabytes times the price per gigabyte-month (simlab.capstone.PRICE_PER_GB_MONTH)."
    return _verdict(False, "", f"${value:.4g} a month is {_how_far(value, want)}.", hint)
