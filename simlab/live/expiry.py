"""Data that expires by itself, for real: one-time passwords, sessions, flash messages.

Each works against fakeredis or a real server. With fakeredis, a :class:`simlab.clock.
FakeRedisClock` moves time, so a five-minute code can expire in an instant; against a real
server the lessons use short TTLs and wait.
"""
from __future__ import annotations

import secrets

import numpy as np
import redis

from .. import _validate as v
from .client import key as course_key

USED = "used"   # what a code's key holds once the code has been used (not 4 digits)


class OTP:
    """One-time passwords: a code that expires, allows a few attempts, and works once.

    Parameters
    ----------
    r : redis client
    ttl : float
        Seconds a code stays valid (default 300).
    max_attempts : int
        Wrong guesses allowed before the code is withdrawn (default 3).
    seed : int, optional
        For reproducible codes in a lesson; default: unpredictable (``secrets``).
    """

    def __init__(self, r, *, ttl: float = 300, max_attempts: int = 3, seed: int | None = None):
        ttl = v.seconds("ttl", ttl)
        max_attempts = v.positive_int("max_attempts", max_attempts)
        self.r, self.ttl, self.max_attempts = r, ttl, max_attempts
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _keys(self, user):
        return course_key("otp", user), course_key("otp", user, "attempts")

    def send(self, user) -> str:
        """Make a new 4-digit code for ``user`` (replacing any old one) and return it."""
        code = (f"{secrets.randbelow(10_000):04d}" if self._rng is None
                else f"{int(self._rng.integers(10_000)):04d}")
        code_key, attempts_key = self._keys(user)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(code_key, code, px=int(self.ttl * 1000))
        pipe.delete(attempts_key)
        pipe.execute()
        return code

    def verify(self, user, code: str) -> str:
        """``"ok"`` (and the code is used up), ``"wrong"``, ``"expired"`` (or never sent),
        ``"locked"`` (too many wrong guesses), or ``"used"`` (already used, by this request's
        predecessor or by a concurrent one)."""
        code_key, attempts_key = self._keys(user)
        pipe = self.r.pipeline(transaction=True)   # count the attempt and give it the TTL
        pipe.incr(attempts_key)
        pipe.pexpire(attempts_key, int(self.ttl * 1000))
        attempts, _ = pipe.execute()
        if attempts > self.max_attempts:
            self.r.delete(code_key)
            return "locked"
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(code_key)              # one use: delete only if nobody else did
                stored = pipe.get(code_key)
                if stored is None:
                    return "expired"
                if stored == USED:
                    return "used"
                if stored != code:
                    return "wrong"
                pipe.multi()
                # keep a marker until the code would have expired, so that a second try says
                # "used" rather than "expired"
                pipe.set(code_key, USED, keepttl=True)
                pipe.delete(attempts_key)
                pipe.execute()
                return "ok"
            except redis.exceptions.WatchError:
                return "used"


class Sessions:
    """Sessions with sliding expiry: each access pushes the deadline ``ttl`` seconds away."""

    def __init__(self, r, *, ttl: float = 1800):
        ttl = v.seconds("ttl", ttl)
        self.r, self.ttl = r, ttl

    def create(self, user: str, **data) -> str:
        """A new session for ``user``; returns its token."""
        token = secrets.token_hex(8)
        name = course_key("session", token)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(name, mapping={"user": user, **{k: str(v) for k, v in data.items()}})
        pipe.pexpire(name, int(self.ttl * 1000))
        pipe.execute()
        return token

    def get(self, token: str) -> dict | None:
        """The session's data, or ``None`` if it expired; an access restarts the TTL."""
        name = course_key("session", token)
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(name)
        pipe.pexpire(name, int(self.ttl * 1000))
        data, _ = pipe.execute()
        return data or None


class Flash:
    """Flash messages: shown once, then gone (GETDEL), or gone anyway after ``ttl``."""

    def __init__(self, r, *, ttl: float = 60):
        self.r, self.ttl = r, ttl

    def put(self, user: str, message: str) -> None:
        self.r.set(course_key("flash", user), message, px=int(self.ttl * 1000))

    def take(self, user: str) -> str | None:
        """The message, once: GETDEL reads and deletes in one atomic step."""
        return self.r.getdel(course_key("flash", user))
