"""Time that learners and tests can control.

* :class:`RealClock`: the wall clock (a real server's expiry runs on it; lessons use short
  TTLs with PX and wait).
* :class:`FakeRedisClock`: a clock for fakeredis. fakeredis reads ``time.time()`` before every
  command to decide what has expired; while this clock is installed, fakeredis reads it
  instead, so ``advance(300)`` makes a five-minute OTP expire at once and tests never sleep.
  Time still flows normally between jumps (unless ``frozen``), so blocking commands keep their
  timeouts.

:func:`clock_for` picks the right one for a client from :func:`simlab.connect`.
"""
from __future__ import annotations

import time as _time

from . import _validate as v


class RealClock:
    """The wall clock, in seconds since the epoch."""

    controllable = False

    def now(self) -> float:
        return _time.time()

    def advance(self, seconds: float) -> None:
        raise RuntimeError(
            "a real Redis server's clock cannot be moved: use short TTLs (PX, in "
            "milliseconds) and time.sleep(), or use fakeredis (unset REDIS_URL) to jump ahead")

    def sleep(self, seconds: float) -> None:
        _time.sleep(v.nonnegative_real("seconds", seconds))

    def __repr__(self):
        return "RealClock()"


class _TimeShim:
    """Stands in for the ``time`` module inside fakeredis: ``time()`` is the virtual clock,
    everything else is the real module."""

    def __init__(self, clock):
        self._clock = clock

    def time(self):
        return self._clock.now()

    def __getattr__(self, name):
        return getattr(_time, name)


# the fakeredis modules that read time.time(): for expiry, and for the TIME command (so that
# an absolute expiry computed from the server's own clock, EXPIREAT r.time() + ttl, agrees
# with the expiry it sets)
_FAKEREDIS_MODULES = ("fakeredis._socket._base", "fakeredis._helpers",
                      "fakeredis.commands_mixins.server_mixin")


class FakeRedisClock:
    """A controllable clock that fakeredis follows while it is installed.

    Parameters
    ----------
    start : float, optional
        Virtual time to start at (default: now).
    frozen : bool
        If True, time stands still between :meth:`advance` calls (exact window edges in
        tests); otherwise it flows with the wall clock, plus every jump.

    Use as a context manager, or call :meth:`install` / :meth:`uninstall`.
    """

    controllable = True

    def __init__(self, start: float | None = None, *, frozen: bool = False):
        self._origin_real = _time.time()
        self._origin = self._origin_real if start is None else float(start)
        self._offset = 0.0
        self.frozen = frozen
        self._saved: dict = {}

    def now(self) -> float:
        flowing = 0.0 if self.frozen else _time.time() - self._origin_real
        return self._origin + flowing + self._offset

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` ahead (>= 0): keys whose deadline passes are expired."""
        self._offset += v.nonnegative_real("seconds", seconds)

    def sleep(self, seconds: float) -> None:
        """Virtual sleep: advances the clock without waiting."""
        self.advance(seconds)

    def install(self) -> "FakeRedisClock":
        import importlib
        for name in _FAKEREDIS_MODULES:
            module = importlib.import_module(name)
            if name not in self._saved:
                self._saved[name] = module.time
            module.time = _TimeShim(self)
        return self

    def uninstall(self) -> None:
        import importlib
        for name, original in self._saved.items():
            importlib.import_module(name).time = original
        self._saved.clear()

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.uninstall()

    def __repr__(self):
        state = "installed" if self._saved else "not installed"
        return f"FakeRedisClock(now={self.now():.3f}, frozen={self.frozen}, {state})"


def is_fake(client) -> bool:
    """True when ``client`` talks to fakeredis rather than a real server."""
    return str(getattr(client, "backend", "")).startswith("fakeredis") or \
        type(client).__module__.startswith("fakeredis") or \
        any(c.__module__.startswith("fakeredis") for c in type(client).__mro__)


def clock_for(client, *, frozen: bool = False):
    """The clock that governs ``client``'s expiry: an installed :class:`FakeRedisClock` for
    fakeredis, a :class:`RealClock` for a real server."""
    own = getattr(client, "clock", None)     # model:// carries its own clock
    if own is not None:
        return own
    if is_fake(client):
        return FakeRedisClock(frozen=frozen).install()
    return RealClock()
