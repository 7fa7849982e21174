"""Rate limiters on Redis, each atomic: fixed window, sliding log, sliding counter, token bucket.

Every limiter has ``allow(user) -> bool`` and reads the time from a clock (``clock.now()``), so
a :class:`simlab.clock.FakeRedisClock` can put a test exactly on a window's edge. Their
decisions are those of :class:`simlab.ratelimit.Limiter` for one client; several clients at
once cannot break them, because each decision is one transaction or one Lua script.
:func:`limit_race` shows what happens when the steps are not atomic.
"""
from __future__ import annotations

import time
import uuid

from .. import _validate as v
from ..clock import RealClock
from .basics import run_clients
from .client import key as course_key

_SLIDING_COUNTER = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local estimate = previous * (1 - tonumber(ARGV[2])) + current
if estimate < tonumber(ARGV[1]) then
    redis.call('INCR', KEYS[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 1
end
return 0
"""

_SLIDING_LOG = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
    return 1
end
return 0
"""

_TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local last = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
local allowed = 0
if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return allowed
"""


class _Base:
    name = "base"

    def __init__(self, r, *, limit: int, window: float, clock=None):
        limit = v.positive_int("limit", limit)
        window = v.seconds("window", window)
        self.r, self.limit, self.window = r, limit, window
        self.clock = clock or RealClock()

    def _key(self, user, *parts):
        return course_key("rl", self.name, user, *parts)

    def __repr__(self):
        return f"{type(self).__name__}(limit={self.limit}, window={self.window})"


class FixedWindow(_Base):
    """A counter per window: INCR and EXPIRE in one MULTI/EXEC transaction."""

    name = "fixed-window"

    def allow(self, user) -> bool:
        index = int(self.clock.now() // self.window)
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(self._key(user, index))
        pipe.pexpire(self._key(user, index), int(self.window * 1000) + 1000)
        count, _ = pipe.execute()
        return count <= self.limit


class SlidingLog(_Base):
    """The time of every allowed request in a sorted set: drop the old, count, and add this
    one only if the count is under the limit, in one atomic step (Lua): a refused request
    leaves no trace, and no crash can leave one counted."""

    name = "sliding-log"

    def __init__(self, r, **kwargs):
        super().__init__(r, **kwargs)
        self._script = r.register_script(_SLIDING_LOG)

    def allow(self, user) -> bool:
        now = self.clock.now()
        member = f"{now!r}:{uuid.uuid4().hex[:8]}"
        return bool(self._script(keys=[self._key(user)],
                                 args=[repr(now), repr(now - self.window), self.limit, member,
                                       int(self.window * 1000) + 1000]))


class SlidingCounter(_Base):
    """This window's count plus the previous window's, weighted by its overlap (Lua)."""

    name = "sliding-counter"

    def __init__(self, r, **kwargs):
        super().__init__(r, **kwargs)
        self._script = r.register_script(_SLIDING_COUNTER)

    def allow(self, user) -> bool:
        now = self.clock.now()
        index = int(now // self.window)
        elapsed = now / self.window - index
        return bool(self._script(keys=[self._key(user, index), self._key(user, index - 1)],
                                 args=[self.limit, repr(elapsed), int(self.window * 2000)]))


class TokenBucket(_Base):
    """``limit`` tokens, refilled at ``limit / window`` per second (Lua)."""

    name = "token-bucket"

    def __init__(self, r, **kwargs):
        super().__init__(r, **kwargs)
        self._script = r.register_script(_TOKEN_BUCKET)

    def allow(self, user) -> bool:
        return bool(self._script(keys=[self._key(user)],
                                 args=[self.limit, repr(self.limit / self.window),
                                       repr(self.clock.now())]))


LIMITERS = {cls.name: cls for cls in (FixedWindow, SlidingLog, SlidingCounter, TokenBucket)}


def limiter(algorithm: str, r, *, limit: int, window: float, clock=None):
    """A live limiter by name: ``fixed-window``, ``sliding-log``, ``sliding-counter``,
    ``token-bucket``."""
    v.choice("algorithm", algorithm, tuple(LIMITERS))
    return LIMITERS[algorithm](r, limit=limit, window=window, clock=clock)


def racy_allow(r, user, *, limit: int, window: float, clock=None, gap: float = 0.0) -> bool:
    """A fixed window done wrong: GET the count, decide in Python, then SET count + 1.
    Between the two commands other clients read the same count: they are all let through,
    and their writes overwrite each other, so the counter falls behind."""
    clock = clock or RealClock()
    name = course_key("rl", "racy", user, int(clock.now() // window))
    count = int(r.get(name) or 0)
    if count >= limit:
        return False
    time.sleep(gap)          # the network round trip between the two commands
    r.set(name, count + 1, px=int(window * 1000) + 1000)
    return True


class _Stopped:
    """A clock that reads one instant: the window a race started in."""

    controllable = False

    def __init__(self, instant: float):
        self.instant = instant

    def now(self) -> float:
        return self.instant


def limit_race(r, *, atomic: bool, limit: int = 50, threads: int = 8, attempts: int = 40,
               window: float = 60.0, gap: float = 0.0005) -> dict:
    """``threads`` clients each try ``attempts`` requests for one user at once; how many got
    through a limit of ``limit`` per window?"""
    user = f"race-{uuid.uuid4().hex[:6]}"
    # Every request of the race counts in the window it started in: a run that crossed a
    # window's edge would start a fresh count, and the atomic limiter would seem to let twice
    # the limit through.
    clock = _Stopped(RealClock().now())
    fixed = FixedWindow(r, limit=limit, window=window, clock=clock)

    def client():
        return sum(fixed.allow(user) if atomic else
                   racy_allow(r, user, limit=limit, window=window, clock=clock, gap=gap)
                   for _ in range(attempts))

    return {"atomic": atomic, "limit": limit, "attempts": threads * attempts,
            "allowed": sum(run_clients(client, threads))}


def edge_demo(lim, clock, *, before: int, after: int, user: str = "edge") -> dict:
    """Requests just before and just after a window edge: how many pass on each side?

    With a controllable clock the edge is reached by jumping; with a real one, by waiting
    until 20 ms before the next window boundary.
    """
    now = clock.now()
    edge = (int(now // lim.window) + 1) * lim.window
    if edge - now < 0.05:    # too close to land 10-20 ms before this edge: use the next one
        edge += lim.window
    if clock.controllable:
        clock.advance(max(0.0, edge - 0.01 - clock.now()))
    else:
        time.sleep(max(0.0, edge - 0.02 - time.time()))
    first = sum(lim.allow(user) for _ in range(before))
    if clock.controllable:
        clock.advance(0.02)
    else:
        time.sleep(max(0.0, edge + 0.005 - time.time()))
    second = sum(lim.allow(user) for _ in range(after))
    return {"algorithm": lim.name, "allowed just before the edge": first,
            "allowed just after": second, "in about 20 ms": first + second}
