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
        self.median_ = v.seconds("median", median)
        self.p99 = v.seconds("p99", p99)
        if not self.p99 > self.median_:
            raise ValueError(f"p99 must be greater than median ({median!r}), got {p99!r}")
        self.sigma = float(np.log(self.p99 / self.median_) / _Z99)

    # Written out rather than through scipy.stats.lognorm so that the presets cost nothing
    # at import time; the formulas are the log-normal's own.
    def sample(self, n: int, rng=None) -> np.ndarray:
        n = v.nonnegative_int("n", n)
        # Generator.lognormal(mu, sigma) is exp(mu + sigma * standard_normal()) drawn one by
        # one; the same draws from the same stream, exponentiated as an array (NumPy's SIMD
        # exp, within an ulp), take 30% less time: a third of simulate's draws
        out = np.random.default_rng(rng).standard_normal(n)
        out *= self.sigma
        out += np.log(self.median_)
        return np.exp(out, out=out)

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
        self.mean_ = v.seconds("mean", mean)
        self._frozen = _stats().gamma(a=self.shape, scale=self.mean_ / self.shape)

    def __repr__(self):
        return f"Gamma(shape={self.shape:.4g}, mean={self.mean_:.4g})"


class Exponential(Distribution):
    """Exponential latency with the given ``mean`` (seconds)."""

    def __init__(self, mean: float):
        self.mean_ = v.seconds("mean", mean)
        self._frozen = _stats().expon(scale=self.mean_)

    def __repr__(self):
        return f"Exponential(mean={self.mean_:.4g})"


class Constant(Distribution):
    """Always the same ``value`` (seconds, >= 0)."""

    def __init__(self, value: float):
        self.value = v.seconds("value", value, allow_zero=True)

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
        "0.19 ms (0.13 ms again on the shared machine in November 2026; 0.048 ms on an idle "
        "one). Notebook 02 measures your own machine."),
    "redis-lan": Preset(
        "redis-lan", LogNormal(median=450e-6, p99=2.2e-3),
        "redis-loopback (measured) plus one same-zone round trip (net-same-zone: Dean 2009, "
        "Jones 2021, Google Cloud's documented bound): p50 0.14 + 0.3 ~ 0.45 ms, p99 "
        "0.19 + 2 ~ 2.2 ms."),
    "postgres-loopback": Preset(
        "postgres-loopback", LogNormal(median=150e-6, p99=200e-6),
        "Measured on the course's reference machine (PostgreSQL 15 over loopback, psycopg 3, "
        "20,000 primary-key SELECTs of the course's users table, idle machine): p50 0.15 ms, "
        "p99 0.20 ms (0.14 ms p50 again on the shared 2-core machine in November 2026; 0.064 "
        "ms on an idle one). Over loopback and idle, an indexed read is as fast as a Redis "
        "GET."),
    "postgres-indexed": Preset(
        "postgres-indexed", LogNormal(median=500e-6, p99=2.5e-3),
        "An indexed primary-key SELECT from another machine in the same zone: "
        "postgres-loopback (measured) plus one same-zone round trip (net-same-zone: Dean "
        "2009, Jones 2021, Google Cloud's documented bound): p50 0.15 + 0.3 ~ 0.5 ms, p99 "
        "0.2 + 2 ~ 2.5 ms. Load and heavier queries come on top (notebook 02 measures both)."),
    "disk-read": Preset(
        "disk-read", LogNormal(median=3e-3, p99=9e-3),
        "A read that misses the database's buffer cache and goes to a network SSD volume: "
        "AWS designs gp3 EBS volumes 'to offer single-digit millisecond latency while "
        "delivering the provisioned performance 99% of the time' (AWS, 'New - Amazon EBS "
        "gp3 Volume Type', 2020): p50 3 ms, p99 9 ms."),
    "net-same-host": Preset(
        "net-same-host", LogNormal(median=28e-6, p99=2.6e-3),
        "Measured here on loopback: 20,000 echoes of 100 bytes over TCP on 127.0.0.1 between "
        "two Python threads (TCP_NODELAY), on the course's 2-core machine shared with other "
        "work, November 2026: p50 0.028 ms, p99 2.6 ms (the tail is the busy machine's "
        "scheduler, not the network)."),
    "net-same-zone": Preset(
        "net-same-zone", LogNormal(median=300e-6, p99=2e-3),
        "A round trip between two machines in one cloud zone. Dean, 'Designs, Lessons and "
        "Advice from Building Large Distributed Systems' (LADIS 2009): 'round trip within "
        "same datacenter 500,000 ns'. Jones, 'Network Latencies in the Data Center' "
        "(evanjones.ca, 2021), measured between VMs in one Google Cloud region that 0.5 ms "
        "is about the 80th percentile: a log-normal with p50 0.3 ms puts 0.5 ms at its 80th. "
        "Google Cloud, 'Geography and regions': round trips within a region are under 5 ms at "
        "the 95th percentile; p99 2 ms stays inside that bound."),
    "net-cross-region": Preset(
        "net-cross-region", LogNormal(median=150e-3, p99=180e-3),
        "A round trip between continents. Dean, LADIS 2009: 'send packet CA -> Netherlands "
        "-> CA 150,000,000 ns' (150 ms), bounded below by the speed of light in fibre. The "
        "p99 (20% above) is an assumption: a long-haul path varies little."),
}


def preset(name: str, *, what: str | None = None) -> Preset:
    """A latency preset by name: ``redis-loopback``, ``redis-lan``, ``postgres-loopback``,
    ``postgres-indexed``, ``disk-read``, ``net-same-host``, ``net-same-zone``,
    ``net-cross-region``. Each has ``source``: a published figure with its reference, or the
    measurement it comes from.

    ``what`` is the parameter the name was given as: ``simulate(whiteboard="x")`` looks it up
    with ``what="whiteboard"`` and an unknown name is refused as ``whiteboard preset name must
    be one of ...; got 'x'`` (else ``name must be one of ...``)."""
    v.choice("name" if what is None else f"{what} preset name", name, tuple(PRESETS))
    return PRESETS[name]


def fanout_latency(model, lookups: int, pages: int = 100_000, *, parallel: bool = True,
                   seed: int | None = None) -> np.ndarray:
    """Latency (s) of pages that each need ``lookups`` independent lookups drawn from ``model``.

    In parallel the page waits for the slowest lookup; in sequence it waits for their sum.
    ``seed`` is the run's seed (the draws come from its ``"lookups"`` stream) or a Generator.
    """
    from ._random import generator
    lookups = v.positive_int("lookups", lookups)
    pages = v.positive_int("pages", pages)
    draws = model.sample(lookups * pages, generator(seed, "lookups"))
    draws = draws.reshape(pages, lookups)
    return draws.max(axis=1) if parallel else draws.sum(axis=1)
