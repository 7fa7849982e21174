"""What a key costs in a real Redis (7.x, jemalloc): the per-key memory model.

``used_memory`` grows by, per key: the main dictionary's entry (24 bytes, allocated 32), the
key's string (an sds copied with ``sdsdup``: a header of 1 byte for keys under 32 bytes
(``sdshdr5``), 3 under 256, 5 under 64 KiB, 9 beyond, + the key + a terminating zero, in its
jemalloc size class; ``MEMORY USAGE`` shows it: 136 bytes for ``item:42932745`` with a 64-byte
value, 128 for ``item:1``), the value, and 8 bytes for each bucket of the hash table (a power of two at or above
the number of keys). A key with a TTL adds an entry in the expires dictionary (32 bytes) and
that table's buckets. Values (``object.c`` ``tryObjectEncoding``):

* an integer that fits in 64 bits is stored in the object itself (16 bytes); from 0 to 9,999
  Redis shares one object among all keys, unless the eviction policy is LRU or LFU (a shared
  object cannot carry per-key access data);
* a string up to 44 bytes is "embedded": object and string in one allocation of
  16 + 3 + length + 1 bytes;
* a longer string is a 16-byte object plus an sds (header 3, 5 or 9 bytes by length: at 45
  bytes and more the 1-byte ``sdshdr5`` never applies).

Measured on redis-server 7.0.15 for 100,000 keys named ``key:%08d`` (see shared facts): 90.8,
133.0, 186.5 and 74.5 bytes per key for a 10-byte value, the same with a TTL, a 100-byte value,
and an integer >= 10000. This model gives 90.5, 133.0, 186.5 and 74.5.

Measured key by key (``item:<8 digits>``, 64-byte values, 1 to 20,000 keys): 144 bytes a key
plus 8 per bucket, exactly; the old model gave 160 (a 3-byte key header) and so held 10% fewer
keys than the server for 13-byte names (issue 11).

Near the limit a table does not double (Redis 6.2+, ``dictExpandAllowed``): when growing it
would take ``used_memory`` above ``maxmemory`` it stays as it is, up to 1.618 keys a bucket.
A full cache of about 8,300 keys thus keeps 8,192 buckets where a model that always doubles
charges 16,384 (64 KB more, some 350 keys fewer at 1.5 MB: the gap issue 11 left unexplained).

Not modelled: the second table during an incremental rehash (it lasts until the rehash
completes, within a few cron ticks), client buffers, and the allocator's fragmentation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

DICT_ENTRY = 32          # 24-byte dictEntry in jemalloc's 32-byte class
OBJECT_HEADER = 16       # robj
EMBSTR_LIMIT = 44
SHARED_INTEGERS = 10_000
BUCKET = 8
MIN_TABLE = 4
# server.h HASHTABLE_MAX_LOAD_FACTOR: near maxmemory a dict does not grow (``dictExpandAllowed``:
# not if the new table would take used_memory above maxmemory) until it holds more than this
# many keys a bucket; then it grows whatever the memory.
MAX_LOAD_FACTOR = 1.618


def size_class(n) -> np.ndarray | int:
    """jemalloc's size class for an allocation of ``n`` bytes (8, 16, 32, 48, ..., 128, 160,
    192, 224, 256, 320, ...)."""
    arr = np.asarray(n, dtype=np.int64)
    out = np.where(arr <= 8, 8, ((arr + 15) // 16) * 16)
    big = arr > 128
    if np.any(big):
        group = 2 ** np.floor(np.log2(np.maximum(arr - 1, 1))).astype(np.int64)
        spacing = np.maximum(group // 4, 16)
        out = np.where(big, ((arr + spacing - 1) // spacing) * spacing, out)
    return int(out) if np.ndim(out) == 0 else out


def sds_bytes(length):
    """Allocated bytes of an sds string of ``length`` bytes made by ``sdsnewlen`` (``sds.c``:
    ``sdsReqType`` picks ``sdshdr5`` (1-byte header) under 32 bytes, ``sdshdr8`` (3) under 256,
    ``sdshdr16`` (5) under 64 KiB, else ``sdshdr32`` (9))."""
    length = np.asarray(length, dtype=np.int64)
    header = np.where(length < 32, 1, np.where(length < 256, 3, np.where(length < 65_536, 5, 9)))
    out = size_class(header + length + 1)
    return int(out) if np.ndim(out) == 0 else out


_sds = sds_bytes


def value_bytes(length, *, integer=False, integer_value=None, shared_integers=True):
    """Bytes of a string value of ``length`` bytes (``integer``: it parses as an integer)."""
    length = np.asarray(length, dtype=np.int64)
    if integer:
        if shared_integers and integer_value is not None and 0 <= integer_value < SHARED_INTEGERS:
            return np.zeros_like(length) if length.ndim else 0
        return np.full_like(length, OBJECT_HEADER) if length.ndim else OBJECT_HEADER
    embedded = size_class(OBJECT_HEADER + 3 + length + 1)
    raw = OBJECT_HEADER + _sds(length)
    out = np.where(length <= EMBSTR_LIMIT, embedded, raw)
    return int(out) if np.ndim(out) == 0 else out


@lru_cache(maxsize=4096)
def _entry_scalar(key_length, value_length, has_ttl, integer, integer_value, shared_integers):
    total = (DICT_ENTRY + int(_sds(key_length))
             + int(value_bytes(value_length, integer=integer, integer_value=integer_value,
                               shared_integers=shared_integers)))
    return total + (DICT_ENTRY if has_ttl else 0)


def entry_bytes(key_length, value_length, *, has_ttl=False, integer=False, integer_value=None,
                shared_integers=True):
    """Bytes one key adds, without its share of the hash-table buckets."""
    if np.ndim(key_length) == 0 and np.ndim(value_length) == 0:  # the model's hot path
        return _entry_scalar(int(key_length), int(value_length), bool(has_ttl), integer,
                             integer_value, shared_integers)
    total = (DICT_ENTRY + _sds(key_length)
             + value_bytes(value_length, integer=integer, integer_value=integer_value,
                           shared_integers=shared_integers))
    if has_ttl:
        total = total + DICT_ENTRY
    return int(total) if np.ndim(total) == 0 else total


def table_size(n_keys: int) -> int:
    """Buckets of a Redis dict holding ``n_keys`` (a power of two at or above it; 0 if empty)."""
    if n_keys <= 0:
        return 0
    return max(MIN_TABLE, 1 << int(np.ceil(np.log2(n_keys))))


def dataset_bytes(key_lengths, value_lengths, has_ttl=None) -> int:
    """Modelled ``used_memory`` above an empty server for the given keys."""
    key_lengths = np.asarray(key_lengths)
    value_lengths = np.asarray(value_lengths)
    ttl = np.zeros(len(key_lengths), dtype=bool) if has_ttl is None else np.asarray(has_ttl)
    entries = entry_bytes(key_lengths, value_lengths) + ttl * DICT_ENTRY
    return int(np.sum(entries) + BUCKET * table_size(len(key_lengths))
               + BUCKET * table_size(int(ttl.sum())))
