"""Checks for lesson 01 (redis basics)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _missing


def check_session(r, name: str = "wb:session:alice") -> Verdict:
    """01: a session hash with ``user`` = alice that expires in about 30 minutes."""
    kind = r.type(name)
    if kind == "none":
        return _verdict(False, "", f"there is no key {name!r} yet.",
                        "use r.hset(name, mapping={...}) and then r.expire(name, seconds).")
    if kind != "hash":
        return _verdict(False, "", f"{name!r} is a {kind}, not a hash.",
                        "delete it (r.delete) and store the session with HSET.")
    fields = r.hgetall(name)
    if fields.get("user") != "alice":
        return _verdict(False, "", f"the hash's 'user' field is {fields.get('user')!r}.",
                        "the session belongs to user 'alice'.")
    ttl = r.ttl(name)
    if ttl == -1:
        return _verdict(False, "", "the session never expires (TTL is -1).",
                        "call r.expire(name, 30 * 60) after writing it.")
    return _verdict(1700 <= ttl <= 1800, f"The session will vanish by itself in {ttl} s.",
                    f"the TTL is {ttl} s; a 30-minute session needs about 1800 s.")


def check_view_counter(count_view, r, *, threads: int = 8, per_thread: int = 50) -> Verdict:
    """01: ``count_view(r, page)`` must count every view even when threads race."""
    missing = _missing(count_view, "count_view")
    if missing is not None:
        return missing
    from ..live.basics import run_clients
    page = "check-page"
    name = f"wb:views:{page}"
    r.delete(name)
    try:
        run_clients(lambda: [count_view(r, page) for _ in range(per_thread)], threads)
    except Exception as exc:  # report it kindly, never as a traceback
        return _verdict(False, "", f"count_view raised {type(exc).__name__}: {exc}")
    got = int(r.get(name) or 0)
    want = threads * per_thread
    r.delete(name)
    return _verdict(got == want, f"All {want} views counted by {threads} threads at once.",
                    f"{threads} threads made {want} views but the counter says {got}.",
                    f"the key must be {name!r}; an atomic INCR cannot lose updates.")
