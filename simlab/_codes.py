"""The codes the compiled kernels share with their callers, in a module without Numba.

:mod:`simlab._kernels` (compiled with Numba when first used) and the same kernels compiled
ahead of time (:mod:`simlab._aot`) read these as constants; the engine reads them too, so
that a run through the ahead-of-time kernels never imports Numba.
"""
import numpy as np

LRU, LFU, FIFO, RANDOM, PERFECT_LFU = 0, 1, 2, 3, 4
POLICY_CODES = {"lru": LRU, "lfu": LFU, "fifo": FIFO, "random": RANDOM,
                "perfect-lfu": PERFECT_LFU}
HIT, MISS, WRITE = 0, 1, 2
FLAG_INFLIGHT, FLAG_EXPIRED = 1, 2
EV_FILL, EV_INVALIDATE = 0, 1
ABSENT = -np.inf

# header of the kernels' state array ``st``
COUNT, MIN_FREQ, RAND_USED, EVICTIONS, EXPIRED, POLICY, N_KEYS, N_LINKS, CAPACITY = range(9)
HEADER = 9

# the LRU loop's ``state`` (see simlab._kernels.lru_cache_aside)
LRU_EVENTS, LRU_INFLIGHT, LRU_FILLS, LRU_COUNT, LRU_EVICTIONS, LRU_EXPIRED = range(6)
LRU_STATE = 6
