"""Checks for lesson 03 (cache aside)."""
from __future__ import annotations

import json

from ._common import Verdict, _verdict, _answer, _function, _near, _raised, RAISED
from ..live.client import key


def check_db_share(answer, table) -> Verdict:
    """03: the share of reads in ``table`` that went to the filing room."""
    value, verdict = _answer(answer, "db_share")
    if verdict is not None:
        return verdict
    reads = table[table["outcome"] != "write"]
    want = float((reads["outcome"] == "miss").mean())
    if _near(value, want, rtol=1e-6):
        return _verdict(True, f"{want:.1%} of reads reached the filing room; the rest stayed "
                        "at the door.")
    everything = float((table["outcome"] == "miss").mean())
    known = [
        (1 - want, "is the share of reads that hit, the ones the whiteboard answered.",
         "the filing room sees the misses."),
        (everything, "counts the writes in the total, but writes are not reads.",
         "keep only the rows whose outcome is not 'write', then take the share of misses."),
        (100 * want, "looks like a percentage.", "give a share between 0 and 1."),
        (float((reads["outcome"] == "miss").sum()), "looks like a count of misses.",
         "divide by the number of reads to get a share."),
    ]
    for wrong, said, hint in known:
        if _near(value, wrong, rtol=1e-6) and not _near(wrong, want, rtol=1e-6):
            return _verdict(False, "", f"{value:.4g} {said}", hint)
    if not 0 <= value <= 1:
        return _verdict(False, "", f"{value:.4g} is not a share: a share is between 0 and 1.",
                        "(reads['outcome'] == 'miss').mean() is one.")
    return _verdict(False, "", f"{value:.4g} is {'too high' if value > want else 'too low'} "
                    "for the share of reads that missed.", "take the rows that are not "
                    "writes, then the mean of (outcome == 'miss') over them.")


def check_cache_aside(get_product) -> Verdict:
    """03: ``get_product(r, lookup, product_id)`` must follow cache-aside: the whiteboard
    first, the filing room once per product, the answer stored as JSON under
    ``simlab.key("product", id)`` with a TTL of at most 600 s."""
    problem = _function(get_product, "get_product")
    if problem is not None:
        return problem
    import fakeredis

    r = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)  # its own
    calls = []

    def lookup(product_id):
        calls.append(product_id)
        return {"id": product_id, "name": f"Product {product_id}"}

    # product 9, put on the whiteboard by another app server: a hit must come from there
    theirs = {"id": 9, "name": "Product 9, as another app server cached it"}
    try:
        first = get_product(r, lookup, 7)
        second = get_product(r, lookup, 7)
        get_product(r, lookup, 8)
        r.set(key("product", 9), json.dumps(theirs), ex=600)
        before = len(calls)
        ninth = get_product(r, lookup, 9)
    except RAISED as exc:
        return _raised("get_product", exc)
    if first != {"id": 7, "name": "Product 7"} or second != first:
        return _verdict(False, "", f"get_product returned {first!r} then {second!r}.",
                        "return the product dict itself, decoded from JSON on a hit.")
    if calls[:before] != [7, 8]:
        return _verdict(False, "", f"the filing room was asked for {calls}; it should see "
                        "7 once and 8 once.", "check the whiteboard first and fill it on a miss.")
    name = key("product", 7)
    kind = r.type(name)
    if kind == "none":
        stored = sorted(k for k in r.scan_iter() if k != key("product", 9))
        where = f"the whiteboard holds {', '.join(stored[:3])}" if stored else \
            ("the whiteboard it was given is empty (use the r passed to get_product: a dict in "
             "Python, or a client of your own, is not that whiteboard)")
        return _verdict(False, "", f"nothing is stored at {name}: {where}.",
                        "store each product under simlab.key('product', id) with r.set.")
    try:
        stored = json.loads(r.get(name)) if kind == "string" else None
    except ValueError:
        stored = None
    if stored != first:
        return _verdict(False, "", f"{name} does not hold the product as JSON.",
                        "r.set(name, json.dumps(product), ...), and json.loads on a hit.")
    if calls[before:] or ninth != theirs:
        return _verdict(False, "", "product 9 was on the whiteboard (another app server cached "
                        "it), but get_product " + ("asked the filing room for it" if
                                                   calls[before:] else f"returned {ninth!r}")
                        + ": a hit must be served from the whiteboard, which every app server "
                        "shares, not from memory in this process.",
                        "r.get the key first, and json.loads what it holds on a hit.")
    ttl = r.ttl(name)
    if ttl < 0:
        return _verdict(False, "", f"{name} never expires, so a changed product stays "
                        "stale on the whiteboard forever.", "give it a TTL when you write it: "
                        "r.set(name, value, ex=seconds).")
    return _verdict(ttl <= 600, "Cache-aside, done: one filing-room trip per product.",
                    f"{name} has a TTL of {ttl} s, longer than the 10 minutes asked for.",
                    "ex takes seconds: how many are there in 10 minutes?")
