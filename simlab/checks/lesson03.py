"""Checks for lesson 03 (cache aside)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _missing, _answer


def check_db_share(answer, table) -> Verdict:
    """03: the share of reads in ``table`` that went to the filing room."""
    value, verdict = _answer(answer, "db_share")
    if verdict is not None:
        return verdict
    reads = table[table["outcome"] != "write"]
    want = float((reads["outcome"] == "miss").mean())
    return _verdict(abs(value - want) < 1e-9,
                    f"{want:.1%} of reads reached the filing room; the rest stayed at the door.",
                    f"{value:.4g} is not the share of reads that missed ({want:.4g}).",
                    "(reads['outcome'] == 'miss').mean(), with reads the rows that are not writes.")


def check_cache_aside(get_product) -> Verdict:
    """03: ``get_product(r, lookup, product_id)`` must follow cache-aside."""
    missing = _missing(get_product, "get_product")
    if missing is not None:
        return missing
    import fakeredis

    r = fakeredis.FakeRedis(decode_responses=True)
    calls = []

    def lookup(product_id):
        calls.append(product_id)
        return {"id": product_id, "name": f"Product {product_id}"}

    try:
        first = get_product(r, lookup, 7)
        second = get_product(r, lookup, 7)
        get_product(r, lookup, 8)
    except Exception as exc:
        return _verdict(False, "", f"get_product raised {type(exc).__name__}: {exc}")
    if first != {"id": 7, "name": "Product 7"} or second != first:
        return _verdict(False, "", f"get_product returned {first!r} then {second!r}.",
                        "return the product dict itself, decoded from JSON on a hit.")
    if calls != [7, 8]:
        return _verdict(False, "", f"the filing room was asked for {calls}; it should see "
                        "7 once and 8 once.", "check the whiteboard first and fill it on a miss.")
    ttl = r.ttl("wb:product:7")
    return _verdict(0 < ttl <= 600, "Cache-aside, done: one filing-room trip per product.",
                    f"wb:product:7 has TTL {ttl}; give cached products a TTL of at most 600 s.",
                    "r.set(name, json.dumps(product), ex=600).")
