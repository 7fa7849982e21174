"""Checks at the boundary: every public entry point validates its parameters here.

Each check raises with the parameter's name, the rule and the value received, e.g.
``ValueError: cache_size must be a positive integer, got -5``.
"""
from __future__ import annotations

import math
import numbers
import os

import numpy as np


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool)


def _finite(value) -> bool:
    """``math.isfinite``, False for an integer too large for a float (10**400) instead of an
    OverflowError."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def positive_int(name: str, value) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_real(name: str, value) -> float:
    if not _is_real(value):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not (value > 0 and _finite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def nonnegative_real(name: str, value) -> float:
    if not _is_real(value):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if not (value >= 0 and _finite(value)):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def fraction(name: str, value, *, open_low: bool = False) -> float:
    if not _is_real(value):
        raise TypeError(f"{name} must be a number between 0 and 1, got {value!r}")
    low_ok = value > 0 if open_low else value >= 0
    if not (low_ok and value <= 1):
        rule = "in (0, 1]" if open_low else "between 0 and 1"
        raise ValueError(f"{name} must be a number {rule}, got {value!r}")
    return float(value)


def choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(str, options))}; got {value!r}")
    return value


# --- limits -------------------------------------------------------------------------------

INT64_MAX = int(np.iinfo(np.int64).max)
MAX_VALUE_BYTES = 512 * 1024 ** 2      # Redis's largest string (proto-max-bulk-len)
MAX_SECONDS = 1e9                       # one latency, window or duration: about 31 years
MAX_HORIZON = 1e12                      # the whole run's virtual clock
MAX_EVENTS = 10 ** 9                    # steps of a compiled loop (about a minute)
MAX_PY_EVENTS = 10 ** 8                 # steps of a plain-Python loop (minutes)
FALLBACK_MEMORY = 4 * 1024 ** 3         # when this machine's free memory cannot be read
MEMORY_SHARE = 0.8                      # refuse what would take more of it than this


def seconds(name: str, value, *, allow_zero: bool = False) -> float:
    """A duration in seconds: finite, positive (or zero) and at most :data:`MAX_SECONDS`."""
    value = nonnegative_real(name, value) if allow_zero else positive_real(name, value)
    if value > MAX_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_SECONDS:g} seconds (about 31 years), "
                         f"got {value!r}")
    return value


def value_bytes(name: str, value) -> int:
    """A value size in bytes: 1 to 512 MB, Redis's largest string."""
    value = positive_int(name, value)
    if value > MAX_VALUE_BYTES:
        raise ValueError(f"{name} must be at most {MAX_VALUE_BYTES} bytes (512 MB, the largest "
                         f"string Redis keeps), got {value!r}")
    return value


def horizon(name: str, value, count: int, rate: float) -> None:
    """Refuse a rate so low that ``count`` arrivals overrun the virtual clock."""
    if count / rate > MAX_HORIZON:
        raise ValueError(f"{name} {value!r} spreads {count:,} arrivals over about "
                         f"{count / rate:.3g} s; the virtual clock holds at most "
                         f"{MAX_HORIZON:g} s: use a higher rate or fewer of them")


def available_memory() -> int:
    """Bytes this process may still allocate: the free memory of the machine (MemAvailable in
    /proc/meminfo, else ``os.sysconf``), lowered by an address-space limit (``RLIMIT_AS``) if
    one is set, or :data:`FALLBACK_MEMORY` if neither can be read."""
    free = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            free = FALLBACK_MEMORY
    try:
        import resource
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        unlimited = resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on Linux or macOS
        limit = unlimited = -1
    if limit != unlimited and limit > 0:
        free = min(free, max(0, limit - _address_space_used()))
    return int(free)


def _address_space_used() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def format_bytes(n: float) -> str:
    """``1.5 GB``, ``640 MB``, ``12 kB`` (powers of 1000)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


class BudgetError(ValueError):
    """A run that would need more memory or steps than this machine can give it."""


def memory(subject: str, need: float, purpose: str, advice: str) -> None:
    """Refuse, before allocating, a run whose estimated ``need`` (bytes) exceeds
    :data:`MEMORY_SHARE` of :func:`available_memory`. ``subject`` names the argument and its
    value (``"--requests 10000000000"``); the line adds the estimate, what it is for, the
    machine's memory and ``advice``, a way out."""
    have = available_memory()
    if need > MEMORY_SHARE * have:
        raise BudgetError(f"{subject} needs about {format_bytes(need)} for {purpose}; this "
                          f"machine has {format_bytes(have)} available; {advice}")


def events(subject: str, count: float, purpose: str, advice: str, *,
           limit: int = MAX_PY_EVENTS) -> None:
    """Refuse a run whose estimated number of steps ``count`` exceeds ``limit``."""
    if not count <= limit:
        shown = "steps without end" if not math.isfinite(count) else f"about {count:.3g} steps"
        raise BudgetError(f"{subject} needs {shown} for {purpose} (at most {limit:.0e} are "
                          f"run); {advice}")


# --- output -------------------------------------------------------------------------------

def json_safe(obj):
    """``obj`` with NaN and infinities as ``None`` and NumPy scalars as Python numbers, so
    that ``json.dumps(..., allow_nan=False)`` writes strict JSON (``null``, never ``NaN``)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(val) for k, val in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(val) for val in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if _is_int(obj):
        return int(obj)
    if _is_real(obj):
        return float(obj) if math.isfinite(obj) else None
    return obj


def dumps(obj) -> str:
    """Strict JSON: non-finite numbers become ``null``."""
    import json
    return json.dumps(json_safe(obj), allow_nan=False)


# --- Redis URLs ---------------------------------------------------------------------------

REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str) -> str:
    """Refuse, with one line, a Redis URL whose scheme, port or database is not usable.

    The database is the path (``redis://host:6379/3``) or a ``db`` query parameter: an
    integer from 0 (a server has 16 by default, ``databases`` in redis.conf). A number the
    server does not have is reported by :func:`database_error` once connected. The password
    is never shown: the URL is redacted in every message.
    """
    from urllib.parse import parse_qs, urlsplit

    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"REDIS_URL must be a URL such as redis://localhost:6379/0, got "
                         f"{url!r}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        from .live.urls import scrub
        raise ValueError(f"REDIS_URL {redact_url(url)} is not a valid URL "
                         f"({scrub(str(exc), url)}); expected e.g. redis://localhost:6379/0") \
            from None
    shown = redact_url(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://, got "
                         f"{shown}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"REDIS_URL needs a host, e.g. redis://localhost:6379/0; got {shown}")
    if port is not None and port == 0:
        raise ValueError(f"REDIS_URL's port must be from 1 to 65535, got 0 in {shown}")
    path = parts.path.strip("/") if parts.scheme != "unix" else ""
    query_db = parse_qs(parts.query).get("db", [None])[-1]
    for text, where in ((path, "path"), (query_db, "db parameter")):
        if text in (None, ""):
            continue
        if not text.isascii() or not text.isdigit():
            raise ValueError(f"REDIS_URL's database ({where}) must be an integer such as 0, "
                             f"got {text!r} in {shown}")
    return url


def database_error(url: str, exc) -> str:
    """One kind line for a server's refusal of the URL's database number (``SELECT``)."""
    return (f"REDIS_URL {redact_url(url)} asks for a database this server does not have "
            f"({exc}); a server has 16 (0 to 15) unless its 'databases' setting says more: "
            "use a number in range, e.g. /0")


def redact_url(url) -> str:
    """``url`` with its password replaced by ``***`` (see :func:`simlab.live.urls.redact`)."""
    from .live.urls import redact
    return redact(url)


# --- what a run needs ---------------------------------------------------------------------

# Bytes per request and per key id, measured with ru_maxrss (about 65 B a request for the
# compiled engine's table and its inputs, 70 for the Redis model's), rounded up.
TABLE_BYTES_PER_REQUEST = 96
ENGINE_BYTES_PER_KEY = 48
REDIS_MODEL_BYTES_PER_REQUEST = 120
REDIS_MODEL_BYTES_PER_KEY = 400
HIT_COUNTS_BYTES_PER_READ = 24
CURVE_BYTES_PER_READ = 32


def run_memory(workload, per_request: float, per_key: float, purpose: str,
               advice: str) -> None:
    """Refuse a run over ``workload`` whose table and state would not fit in memory."""
    n, n_keys = len(workload), workload.n_keys
    need = per_request * n + per_key * n_keys
    subject = (f"a workload of {n:,} requests" if per_request * n >= per_key * n_keys
               else f"a workload of {n_keys:,} key ids")
    memory(subject, need, purpose, advice)


def redis_value_sizes(workload) -> None:
    """The Redis model keeps values of at most 512 MB, as Redis does."""
    sizes = workload.sizes
    if sizes.size and int(sizes.max()) > MAX_VALUE_BYTES:
        i = int(np.argmax(sizes > MAX_VALUE_BYTES))
        raise ValueError(f"workload sizes must be at most {MAX_VALUE_BYTES} bytes (512 MB, the "
                         f"largest string Redis keeps) for the Redis model; request {i} has "
                         f"{int(sizes[i])}")


def capacity(name: str, value, n_keys: int) -> int:
    """A cache size in keys: a positive integer. A whiteboard larger than the key space is
    legal and holds every key: it is run as one of ``n_keys``."""
    return min(positive_int(name, value), int(n_keys))


SIZES_BYTES_PER_SIZE = 96     # lru_curve's list, array and table row of one size (measured 56-80)


def _count(sizes) -> int:
    """How many sizes a sequence holds, without making it: ``len`` of a range of any length
    (``len(range(10**20))`` raises OverflowError), ``size`` of an array (a broadcast one of
    10**12 entries takes no memory)."""
    if isinstance(sizes, np.ndarray):
        return int(sizes.size)
    if isinstance(sizes, range):
        step = sizes.step
        span = sizes.stop - sizes.start
        return max(0, (span + step - (1 if step > 0 else -1)) // step)
    return len(sizes)


def _range_sizes(name: str, sizes: range, cap: int) -> list:
    """A range of cache sizes, checked from its ends (its entries are integers)."""
    if not sizes:
        return []
    first, last = sizes[0], sizes[-1]
    if min(first, last) <= 0:
        # the first entry <= 0: the first if ascending, else the first past 0
        i = 0 if first <= 0 else -(-first // -sizes.step)
        positive_int(f"{name}[]", sizes[i])
    return list(sizes) if max(first, last) <= cap else [min(size, cap) for size in sizes]


def cache_sizes(name: str, sizes, cap: int = INT64_MAX, *,
                purpose: str = "the curve (a row per size)",
                advice: str = "give fewer sizes, e.g. simlab.curves.log_sizes(max_size), "
                              "40 spaced on a log scale") -> list:
    """Cache sizes in keys, one or a sequence, each a positive integer; a size above ``cap``
    is run as ``cap`` (a whiteboard larger than the key space holds every key).

    A sequence's length is checked against this machine's memory (:func:`memory`,
    :data:`SIZES_BYTES_PER_SIZE` a size) before a list is made of it: ``range(1, 10**8)`` is
    refused with one line, not after gigabytes. A range or an integer array is checked
    without a loop over its entries."""
    if isinstance(sizes, np.ndarray) and sizes.ndim == 0:
        sizes = sizes.item()
    if not isinstance(sizes, (list, tuple, range, np.ndarray)):
        sizes = sizes.item() if isinstance(sizes, np.generic) else sizes
        return [min(positive_int(f"{name}[]", sizes), int(cap))]
    if isinstance(sizes, np.ndarray) and sizes.ndim != 1:
        raise TypeError(f"{name} must be one cache size or a 1-D sequence of them, got an "
                        f"array of shape {sizes.shape}")
    count = _count(sizes)
    memory(f"{name} with {count:,} cache sizes", SIZES_BYTES_PER_SIZE * count, purpose, advice)
    if isinstance(sizes, range):
        return _range_sizes(name, sizes, int(cap))
    if isinstance(sizes, np.ndarray) and sizes.dtype.kind in "iu":
        if sizes.size and sizes.min() <= 0:
            positive_int(f"{name}[]", sizes[int(np.argmax(sizes <= 0))].item())
        return np.minimum(sizes, int(cap)).tolist() if sizes.size else []
    out = []
    for size in sizes:
        size = size.item() if isinstance(size, np.generic) else size
        out.append(min(positive_int(f"{name}[]", size), int(cap)))
    return out


# --- Redis settings -----------------------------------------------------------------------

MIN_SAMPLES, MAX_SAMPLES = 1, 64       # maxmemory-samples, as redis.conf allows it


def samples(name: str, value) -> int:
    """``maxmemory-samples``: an integer from 1 to 64, the range Redis accepts."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer from {MIN_SAMPLES} to {MAX_SAMPLES} "
                        f"(maxmemory-samples), got {value!r}")
    if not MIN_SAMPLES <= value <= MAX_SAMPLES:
        raise ValueError(f"{name} must be an integer from {MIN_SAMPLES} to {MAX_SAMPLES} "
                         f"(maxmemory-samples), got {value!r}")
    return int(value)
