"""Scaling out on paper: Redis Cluster's hash slots, keys and load per shard, and a near cache.

Redis Cluster splits the key space into 16,384 hash slots: ``slot = CRC16(key) mod 16384``,
where CRC16 is the XMODEM variant (polynomial 0x1021, initial value 0) and only the key's
*hash tag* is hashed when it has one: the bytes between the first ``{`` and the first ``}``
after it, if there is at least one byte between them (``cluster.c``, ``keyHashSlot``). The
standard library's :func:`binascii.crc_hqx` with a start value of 0 is that CRC.

Each master owns a range of slots. Under a skewed (Zipf) popularity the master that owns the
hottest key serves far more than its share, and more shards make the *ratio* worse: the mean
shrinks as 1/N, the hottest key's load does not. A near cache (a small cache inside each
client, kept valid by the server's invalidation messages) takes the hottest keys off the
shards: :func:`near_cache_model` gives its two-tier hit ratio and latency.
"""
from __future__ import annotations

import binascii
import functools

import numpy as np
import pandas as pd

from . import _validate as v
from .theory import che_characteristic_time
from .workloads import zipf_probabilities

N_SLOTS = 16384
MAX_SHARDS = N_SLOTS

__all__ = ["N_SLOTS", "crc16", "hash_tag", "key_slot", "key_slots", "slot_owners",
           "tagged_keys", "key_names", "keys_in_slots", "shard_load", "shard_table",
           "near_cache_model"]


def _key_bytes(key, name: str = "key") -> bytes:
    """The bytes redis-py sends for ``key`` (str as UTF-8, int and float as their text)."""
    if isinstance(key, str):
        return key.encode("utf-8", "surrogatepass")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return repr(key).encode()
    raise TypeError(f"{name} must be a str, bytes or number (a Redis key), got "
                    f"{type(key).__name__}")


def crc16(data: bytes) -> int:
    """CRC16-XMODEM of ``data`` (Redis Cluster's CRC): ``crc16(b"123456789") == 0x31C3``."""
    return binascii.crc_hqx(_key_bytes(data, "data"), 0)


def hash_tag(key) -> bytes:
    """The part of ``key`` that Redis Cluster hashes: the hash tag if there is a non-empty one
    (between the first ``{`` and the first ``}`` after it), else the whole key (as bytes)."""
    data = _key_bytes(key)
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            return data[start + 1:end]
    return data


def key_slot(key) -> int:
    """The hash slot (0..16383) of ``key``, as ``CLUSTER KEYSLOT`` computes it.

    Parameters
    ----------
    key : str, bytes or number
        A str is hashed as its UTF-8 bytes (what redis-py sends).

    Raises
    ------
    TypeError
        If ``key`` is not a str, bytes or number.
    """
    return binascii.crc_hqx(hash_tag(key), 0) & (N_SLOTS - 1)


def key_slots(keys) -> np.ndarray:
    """:func:`key_slot` of every key in ``keys``, as an int array."""
    return np.fromiter((key_slot(k) for k in keys), dtype=np.int64)


@functools.lru_cache(maxsize=64)
def _owners(n_shards: int) -> np.ndarray:
    owners = np.empty(N_SLOTS, dtype=np.int64)
    per_shard, cursor, first = N_SLOTS / n_shards, 0.0, 0
    for shard in range(n_shards):  # redis-cli --cluster create's split of the slots
        last = int(round(cursor + per_shard - 1))
        if last > N_SLOTS - 1 or shard == n_shards - 1:
            last = N_SLOTS - 1
        last = max(last, first)
        owners[first:last + 1] = shard
        first, cursor = last + 1, cursor + per_shard
    owners.setflags(write=False)
    return owners


def slot_owners(n_shards: int) -> np.ndarray:
    """Which shard owns each slot when ``n_shards`` masters split the 16,384 slots into
    contiguous ranges the way ``redis-cli --cluster create`` does (array of 16,384 shard ids).

    Raises
    ------
    ValueError
        If ``n_shards`` is not an integer from 1 to 16,384.
    """
    n_shards = v.positive_int("n_shards", n_shards)
    if n_shards > MAX_SHARDS:
        raise ValueError(f"n_shards must be at most {MAX_SHARDS} (one slot each), got {n_shards}")
    return _owners(n_shards)


_GOLDEN = (5 ** 0.5 - 1) / 2


def _resolve_tags(hash_tags, keys_per_tag) -> tuple[float, int | None]:
    """``(share, keys_per_tag)`` with the defaults filled in (see :func:`key_names`)."""
    if keys_per_tag is not None:
        keys_per_tag = v.positive_int("keys_per_tag", keys_per_tag)
    if hash_tags is None:
        hash_tags = 1.0 if keys_per_tag is not None and keys_per_tag > 1 else 0.0
    return v.fraction("hash_tags", hash_tags), keys_per_tag


def tagged_keys(n_keys: int, hash_tags: float) -> np.ndarray:
    """Which of keys ``0 .. n_keys - 1`` carry a hash tag when a share ``hash_tags`` of them
    do: key ``i`` does when the fractional part of ``i * 0.618...`` (the golden ratio's) is
    below the share, which spreads the tagged keys evenly over the popularity ranks, hot and
    cold alike, with no randomness (so the exact expected load needs no seed)."""
    n_keys = v.positive_int("n_keys", n_keys)
    share = v.fraction("hash_tags", hash_tags)
    if share >= 1.0:
        return np.ones(n_keys, dtype=bool)
    return np.modf(np.arange(n_keys) * _GOLDEN)[0] < share


def key_names(n_keys: int, keys_per_tag: int | None = None, prefix: str = "item", *,
              hash_tags: float | None = None) -> list[str]:
    """``n_keys`` key names, ``item:i`` for key ``i``, some with a hash tag (``item:{17}:i``).

    Parameters
    ----------
    keys_per_tag : int, optional
        How many tagged keys share each tag (in order: the first ``keys_per_tag`` tagged keys
        get ``{0}``, the next ``{1}``, ...), as one user's keys would. Default: all tagged
        keys share one tag, so they all land in one slot, on one shard.
    hash_tags : float, optional
        Share of the keys (0 to 1) that carry a tag, chosen by :func:`tagged_keys`. Default:
        every key when ``keys_per_tag`` > 1 is given, else none.

    Raises
    ------
    ValueError
        If ``hash_tags`` is not between 0 and 1, or ``n_keys`` or ``keys_per_tag`` is not a
        positive integer.
    """
    n_keys = v.positive_int("n_keys", n_keys)
    share, keys_per_tag = _resolve_tags(hash_tags, keys_per_tag)
    tagged = tagged_keys(n_keys, share)
    tag = np.cumsum(tagged) - 1
    if keys_per_tag is not None:
        tag //= keys_per_tag
    else:
        tag[:] = 0
    return [f"{prefix}:{{{tag[i]}}}:{i}" if tagged[i] else f"{prefix}:{i}"
            for i in range(n_keys)]


def keys_in_slots(slots, per_slot: int, prefix: str = "item") -> list[str]:
    """``per_slot`` key names for each slot in ``slots`` (``item:{t}:j``, the tag ``t`` found by
    trying ``t0``, ``t1``, ... until one hashes to the slot): a load aimed at chosen slots."""
    per_slot = v.positive_int("per_slot", per_slot)
    wanted = {int(s) for s in slots}
    bad = [s for s in wanted if not 0 <= s < N_SLOTS]
    if bad:
        raise ValueError(f"slots must be from 0 to {N_SLOTS - 1}, got {min(bad)}")
    tags, i = {}, 0
    while len(tags) < len(wanted):
        slot = binascii.crc_hqx(f"t{i}".encode(), 0) & (N_SLOTS - 1)
        if slot in wanted and slot not in tags:
            tags[slot] = f"t{i}"
        i += 1
    return [f"{prefix}:{{{tags[s]}}}:{j}" for s in sorted(wanted) for j in range(per_slot)]


@functools.lru_cache(maxsize=16)
def _slots_of(n_keys: int, keys_per_tag: int | None, share: float, prefix: str) -> np.ndarray:
    slots = key_slots(key_names(n_keys, keys_per_tag, prefix, hash_tags=share))
    slots.setflags(write=False)
    return slots


@functools.lru_cache(maxsize=32)
def _zipf_near(n_keys: int, alpha: float, near_cache: int) -> tuple[np.ndarray, np.ndarray]:
    """Popularity and per-key near hit probability, computed once per (keys, alpha, size)."""
    p = zipf_probabilities(n_keys, alpha)
    near = _near_hits(p, near_cache)
    p.setflags(write=False)
    near.setflags(write=False)
    return p, near


def _near_hits(p: np.ndarray, near_cache: int) -> np.ndarray:
    """Per-key hit probability of an LRU near cache of ``near_cache`` keys (Che)."""
    if near_cache == 0:
        return np.zeros_like(p)
    t = che_characteristic_time(p, near_cache)
    return np.ones_like(p) if np.isinf(t) else -np.expm1(-p * t)


def shard_load(n_shards: int, *, n_keys: int = 100_000, alpha: float = 1.0,
               keys_per_tag: int | None = None, hash_tags: float | None = None,
               near_cache: int = 0, n_requests: int | None = None, seed=None,
               owners=None) -> pd.DataFrame:
    """Keys and load on each of ``n_shards`` masters for a Zipf workload.

    Parameters
    ----------
    n_shards : int
        Masters, 1 to 16,384; slots split as ``redis-cli --cluster create`` splits them.
    n_keys, alpha : int, float
        Key ``item:i`` has popularity proportional to ``(i + 1) ** -alpha`` (0: uniform).
    keys_per_tag, hash_tags : int, float, optional
        Hash tags, as in :func:`key_names`: a share ``hash_tags`` of the keys carries a tag,
        ``keys_per_tag`` of them per tag (default: all of them under one tag, so on one
        shard). By default no key has a tag, or every key when ``keys_per_tag`` > 1.
    near_cache : int
        Keys each client keeps in an LRU near cache (0: none); requests it answers never reach
        a shard (Che's approximation gives each key's near hit probability).
    n_requests : int, optional
        Draw this many requests (with ``seed``) instead of using the exact expected load.
    owners : array of 16,384 ints, optional
        The shard of each slot (a live cluster's, after resharding); default: the even split.

    Returns
    -------
    DataFrame
        One row per shard: ``keys``, ``load`` (share of all requests that reach this shard;
        requests answered by the near cache are not counted), ``slots``.
    """
    if owners is None:
        owners = slot_owners(n_shards)
    else:
        owners = np.asarray(owners, dtype=np.int64)
        if owners.shape != (N_SLOTS,) or owners.min() < 0 or owners.max() >= n_shards:
            raise ValueError(f"owners must hold a shard from 0 to n_shards - 1 for each of the "
                             f"{N_SLOTS} slots, got shape {owners.shape}")
    alpha = v.nonnegative_real("alpha", alpha)
    near_cache = v.nonnegative_int("near_cache", near_cache)
    n_keys = v.positive_int("n_keys", n_keys)
    p, near = _zipf_near(n_keys, alpha, near_cache)
    share, keys_per_tag = _resolve_tags(hash_tags, keys_per_tag)
    shard = owners[_slots_of(n_keys, keys_per_tag, share, "item")]
    reaching = p * (1.0 - near)
    if n_requests is not None:
        n_requests = v.positive_int("n_requests", n_requests)
        counts = np.random.default_rng(seed).multinomial(n_requests, p)
        drawn = counts * (1.0 - near)
        reaching = drawn / n_requests
    table = pd.DataFrame({
        "keys": np.bincount(shard, minlength=n_shards),
        "load": np.bincount(shard, weights=reaching, minlength=n_shards),
        "slots": np.bincount(owners, minlength=n_shards)})
    table.index.name = "shard"
    table.attrs.update(n_keys=int(n_keys), alpha=alpha, keys_per_tag=keys_per_tag,
                       hash_tags=share,
                       near_cache=near_cache, n_requests=n_requests, seed=seed)
    return table


def shard_table(shard_counts=(3, 10, 30, 100, 300, 1000), **kwargs) -> pd.DataFrame:
    """:func:`shard_load` summed up for each shard count: ``keys_per_shard_max``,
    ``keys_per_shard_mean``, ``load_max_over_mean`` (the hot shard's load over the mean),
    ``hottest_shard_share`` (its share of all requests), ``near_cache_share`` (requests
    answered in the clients)."""
    rows = []
    for n in shard_counts:
        table = shard_load(n, **kwargs)
        mean = table["load"].mean()
        rows.append({"shards": int(n), "keys_per_shard_max": int(table["keys"].max()),
                     "keys_per_shard_mean": float(table["keys"].mean()),
                     "load_max_over_mean": float(table["load"].max() / mean) if mean else 1.0,
                     "hottest_shard_share": float(table["load"].max()),
                     "near_cache_share": max(0.0, float(1.0 - table["load"].sum()))})
    return pd.DataFrame(rows).set_index("shards")


def near_cache_model(n_keys: int, alpha: float, near_size: int, *,
                     whiteboard_size: int | None = None, near_latency: float = 2e-6,
                     whiteboard_latency: float = 1e-4, db_latency: float = 1e-3) -> dict:
    """Two tiers of LRU under independent Zipf reads (Che's approximation for each tier).

    Parameters
    ----------
    n_keys, alpha : int, float
        The popularity (see :func:`simlab.workloads.zipf_probabilities`).
    near_size : int
        Keys in the client's near cache (0: no near tier).
    whiteboard_size : int, optional
        Keys the whiteboard holds (default: all of them, so a near miss always hits Redis).
    near_latency, whiteboard_latency, db_latency : float
        Seconds for a near hit, a round trip to Redis, a trip to the filing room.

    Returns
    -------
    dict
        ``near_hit_ratio``, ``whiteboard_hit_ratio`` (of the near misses), ``db_share`` (of all
        reads), ``mean_latency`` in seconds (a miss pays every tier it passed through).
    """
    near_size = v.nonnegative_int("near_size", near_size)
    for name, value in (("near_latency", near_latency), ("whiteboard_latency",
                                                         whiteboard_latency),
                        ("db_latency", db_latency)):
        v.nonnegative_real(name, value)
    p = zipf_probabilities(n_keys, alpha)
    near = _near_hits(p, near_size)
    h_near = float(np.sum(p * near))
    misses = p * (1.0 - near)
    if whiteboard_size is None or h_near >= 1.0:
        h_wb = 1.0
    else:
        whiteboard_size = v.positive_int("whiteboard_size", whiteboard_size)
        q = misses / misses.sum()
        t = che_characteristic_time(q, whiteboard_size)
        h_wb = 1.0 if np.isinf(t) else float(np.sum(q * -np.expm1(-q * t)))
    db_share = (1.0 - h_near) * (1.0 - h_wb)
    mean = (near_latency + (1.0 - h_near) * whiteboard_latency + db_share * db_latency
            if near_size else whiteboard_latency + db_share * db_latency)
    return {"near_hit_ratio": h_near if near_size else 0.0, "whiteboard_hit_ratio": h_wb,
            "db_share": db_share, "mean_latency": mean}
