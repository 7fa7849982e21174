"""Latency models: small distribution objects, and presets for the whiteboard and the filing room.

Every distribution has ``sample(n, rng)`` (seconds), ``mean``, ``quantile(q)`` and a readable
repr, and validates its parameters in the constructor. They wrap SciPy's frozen distributions
where SciPy has one.
"""
from __future__ import annotations

import numpy as np

from . import _validate as v

_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def _stats():
    # SciPy's stats module takes about a second to import: only pay when a model is built.
    from scipy import stats
    return stats


class Distribution:
    """Base class: a latency (or size) distribution in seconds (or bytes)."""

    _frozen = None

    def sample(self, n: int, rng=None) -> np.ndarray:
        """``n`` independent draws, using ``rng`` (a seed or a ``numpy.random.Generator``)."""
        n = v.nonnegative_int("n", n)
        return np.asarray(self._frozen.rvs(size=n, random_state=np.random.default_rng(rng)),
                          dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(self._frozen.mean())

    def quantile(self, q):
        """The value below which a share ``q`` of draws fall (``q`` in [0, 1])."""
        q = np.asarray(q, dtype=float)
        if np.any((q < 0) | (q > 1)):
            raise ValueError(f"q must be between 0 and 1, got {q.tolist()!r}")
        out = self._frozen.ppf(q)
        return float(out) if np.ndim(out) == 0 else out

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def cdf(self, x):
        """Share of draws at or below ``x``."""
        return self._frozen.cdf(np.asarray(x, dtype=float))


class LogNormal(Distribution):
    """Log-normal latency given its median and 99th percentile (seconds), ``median < p99``."""

    def __init__(self, median: float, p99: float):
        self.median_ = v.positive_real("median", median)
        self.p99 = v.positive_real("p99", p99)
        if not self.p99 > self.median_:
            raise ValueError(f"p99 must be greater than median ({median!r}), got {p99!r}")
        self.sigma = float(np.log(self.p99 / self.median_) / _Z99)

    # Written out rather than through scipy.stats.lognorm so that the presets cost nothing
    # at import time; the formulas are the log-normal's own.
    def sample(self, n: int, rng=None) -> np.ndarray:
        n = v.nonnegative_int("n", n)
        return np.random.default_rng(rng).lognormal(np.log(self.median_), self.sigma, n)

    @property
    def mean(self) -> float:
        return float(self.median_ * np.exp(self.sigma ** 2 / 2))

    def cdf(self, x):
        from scipy.special import ndtr
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return ndtr((np.log(x) - np.log(self.median_)) / self.sigma)

    def quantile(self, q):
        from scipy.special import ndtri
        q = np.asarray(q, dtype=float)
        if np.any((q < 0) | (q > 1)):
            raise ValueError(f"q must be between 0 and 1, got {q.tolist()!r}")
        out = self.median_ * np.exp(self.sigma * ndtri(q))
        return float(out) if np.ndim(out) == 0 else out

    @classmethod
    def fit(cls, samples) -> "LogNormal":
        """The log-normal with the samples' median and 99th percentile."""
        samples = _samples(samples)
        return cls(float(np.median(samples)), float(np.quantile(samples, 0.99)))

    def __repr__(self):
        return f"LogNormal(median={self.median_:.4g}, p99={self.p99:.4g})"


class Gamma(Distribution):
    """Gamma latency with ``shape`` and ``mean`` (seconds)."""

    def __init__(self, shape: float, mean: float):
        self.shape = v.positive_real("shape", shape)
        self.mean_ = v.positive_real("mean", mean)
        self._frozen = _stats().gamma(a=self.shape, scale=self.mean_ / self.shape)

    def __repr__(self):
        return f"Gamma(shape={self.shape:.4g}, mean={self.mean_:.4g})"


class Exponential(Distribution):
    """Exponential latency with the given ``mean`` (seconds)."""

    def __init__(self, mean: float):
        self.mean_ = v.positive_real("mean", mean)
        self._frozen = _stats().expon(scale=self.mean_)

    def __repr__(self):
        return f"Exponential(mean={self.mean_:.4g})"


class Constant(Distribution):
    """Always the same ``value`` (seconds, >= 0)."""

    def __init__(self, value: float):
        self.value = v.nonnegative_real("value", value)

    def sample(self, n: int, rng=None) -> np.ndarray:
        return np.full(v.nonnegative_int("n", n), self.value)

    @property
    def mean(self) -> float:
        return self.value

    def quantile(self, q):
        q = np.asarray(q, dtype=float)
        if np.any((q < 0) | (q > 1)):
            raise ValueError(f"q must be between 0 and 1, got {q.tolist()!r}")
        return self.value if q.ndim == 0 else np.full(q.shape, self.value)

    def cdf(self, x):
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def __repr__(self):
        return f"Constant(value={self.value:.4g})"


def _samples(samples) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("samples must hold at least one value, got none")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("samples must be finite and >= 0")
    return arr


class Empirical(Distribution):
    """Resampling from measured ``samples`` (seconds), e.g. timings of real GETs."""

    def __init__(self, samples, name: str = "measured"):
        self.samples = np.sort(_samples(samples))
        self.name = name

    def sample(self, n: int, rng=None) -> np.ndarray:
        n = v.nonnegative_int("n", n)
        return np.random.default_rng(rng).choice(self.samples, size=n, replace=True)

    @property
    def mean(self) -> float:
        return float(self.samples.mean())

    def quantile(self, q):
        q = np.asarray(q, dtype=float)
        if np.any((q < 0) | (q > 1)):
            raise ValueError(f"q must be between 0 and 1, got {q.tolist()!r}")
        out = np.quantile(self.samples, q)
        return float(out) if np.ndim(out) == 0 else out

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.searchsorted(self.samples, x, side="right") / self.samples.size

    def __repr__(self):
        return (f"Empirical({self.name}: {self.samples.size} samples, "
                f"median={np.median(self.samples):.4g})")


class Mixture(Distribution):
    """A weighted mixture, e.g. ``Mixture([(0.99, fast), (0.01, slow)])`` for a slow tail."""

    def __init__(self, components):
        components = list(components)
        if not components:
            raise ValueError("components must hold at least one (weight, distribution) pair")
        weights = []
        for i, item in enumerate(components):
            try:
                w, dist = item
            except (TypeError, ValueError):
                raise TypeError(f"components[{i}] must be a (weight, distribution) pair, "
                                f"got {item!r}") from None
            if not isinstance(dist, Distribution):
                raise TypeError(f"components[{i}] must hold a Distribution, got {dist!r}")
            weights.append(v.positive_real(f"components[{i}] weight", w))
        self.weights = np.asarray(weights) / sum(weights)
        self.components = [d for _, d in components]

    def sample(self, n: int, rng=None) -> np.ndarray:
        n = v.nonnegative_int("n", n)
        rng = np.random.default_rng(rng)
        which = rng.choice(len(self.components), size=n, p=self.weights)
        out = np.empty(n)
        for i, dist in enumerate(self.components):
            mask = which == i
            out[mask] = dist.sample(int(mask.sum()), rng)
        return out

    @property
    def mean(self) -> float:
        return float(sum(w * d.mean for w, d in zip(self.weights, self.components)))

    def cdf(self, x):
        return sum(w * d.cdf(x) for w, d in zip(self.weights, self.components))

    def quantile(self, q):
        from scipy.optimize import brentq
        q_arr = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((q_arr < 0) | (q_arr > 1)):
            raise ValueError(f"q must be between 0 and 1, got {np.asarray(q).tolist()!r}")
        lo = min(d.quantile(0.0) for d in self.components)
        hi = max(d.quantile(1 - 1e-12) for d in self.components)
        out = np.array([lo if qq <= 0 else hi if qq >= 1 else
                        brentq(lambda x: float(self.cdf(x)) - qq, lo, hi, xtol=1e-12)
                        for qq in q_arr])
        return float(out[0]) if np.ndim(q) == 0 else out

    def __repr__(self):
        parts = ", ".join(f"({w:.3g}, {d!r})" for w, d in zip(self.weights, self.components))
        return f"Mixture([{parts}])"


class Preset:
    """A named latency model with the source of its numbers."""

    def __init__(self, name: str, model: Distribution, source: str):
        self.name, self.model, self.source = name, model, source

    def __getattr__(self, item):
        return getattr(self.model, item)

    def sample(self, n, rng=None):
        return self.model.sample(n, rng)

    def __repr__(self):
        return f"{self.name}: {self.model!r}\n  source: {self.source}"


PRESETS = {
    "redis-loopback": Preset(
        "redis-loopback", LogNormal(median=140e-6, p99=190e-6),
        "Measured on the course's reference machine (2 cores, redis-server 7.0.15, redis-py "
        "over loopback, 20,000 GETs of 100-byte values, idle machine): p50 0.14 ms, p99 "
        "0.19 ms. Notebook 02 measures your own machine."),
    "redis-lan": Preset(
        "redis-lan", LogNormal(median=300e-6, p99=1.5e-3),
        "A same-datacentre network round trip adds about 0.2-0.5 ms (typical cloud "
        "availability-zone RTT); the p99 reflects occasional queueing on the network."),
    "postgres-loopback": Preset(
        "postgres-loopback", LogNormal(median=150e-6, p99=200e-6),
        "Measured on the course's reference machine (PostgreSQL 15 over loopback, psycopg 3, "
        "20,000 primary-key SELECTs of the course's users table, idle machine): p50 0.15 ms, "
        "p99 0.20 ms. Over loopback and idle, an indexed read is as fast as a Redis GET."),
    "postgres-indexed": Preset(
        "postgres-indexed", LogNormal(median=1.0e-3, p99=8e-3),
        "An indexed primary-key SELECT over a LAN with a warm buffer cache: about 0.2 ms "
        "inside PostgreSQL plus the network round trip and driver overhead, about 1 ms in "
        "all; the tail comes from concurrent load."),
    "disk-read": Preset(
        "disk-read", LogNormal(median=5e-3, p99=40e-3),
        "A query that misses the database's buffer cache and reads from an SSD-backed "
        "volume under load: a few milliseconds typical, tens of milliseconds in the tail."),
}


def preset(name: str) -> Preset:
    """A latency preset by name: ``redis-loopback``, ``redis-lan``, ``postgres-loopback``,
    ``postgres-indexed``, ``disk-read``."""
    v.choice("name", name, tuple(PRESETS))
    return PRESETS[name]
