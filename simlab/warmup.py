"""Compile simlab's kernels once, ahead of a lesson: ``python -m simlab.warmup``.

The compiled (Numba) loops compile on first use and are cached on disk beside the package, so
only the very first run of a fresh install pays for it (tens of seconds of CPU). ``make lab``,
``make test`` and Binder's ``postBuild`` run this module, so that no learner waits for the
compiler in the middle of a lesson and the notebooks' measured run times are the lessons' own.
It runs every engine on a small workload, with the argument types the lessons use.
"""
from __future__ import annotations

import time


def warm_up() -> float:
    """Compile (or load from the cache) every kernel; return the seconds it took."""
    import numpy as np

    from . import _kernels, curves, engine, workloads
    from .caches import POLICIES
    from .redis_cache import REDIS_POLICIES

    tic = time.perf_counter()
    plain = workloads.zipf(200, 1.0, 2_000, seed=1)
    timed = workloads.zipf(200, 1.0, 2_000, rate=1000.0, read_fraction=0.9, ttl=1.0,
                           value_size=100, seed=1)
    for w in (plain, timed):
        for policy in POLICIES:
            engine.simulate(w, policy=policy, cache_size=50, seed=1)
            engine.simulate(w, policy=policy, cache_size=50, filing_room=0.0, seed=1)
        for policy in REDIS_POLICIES:
            engine.simulate(w, policy=policy, maxmemory=20_000, seed=1)
    engine.simulate(timed, policy="lru", cache_size=50, ttl_mode="sliding", seed=1)
    for policy in POLICIES:
        engine.hit_counts(plain, [10, 50], policy=policy, seed=1)
    curves.lru_curve(plain)
    curves.lru_curve(plain, [10, 50])
    _kernels.int_line_keys(np.frombuffer(b"12\n7\n12\n", dtype=np.uint8).copy())  # traces
    return time.perf_counter() - tic


def build_ahead_of_time() -> str:
    """Compile the ``simlab simulate`` command's kernels ahead of time (:mod:`simlab._aot`);
    one line saying what happened. Without a C compiler the command still works, through
    Numba, with about half a second more start-up."""
    from . import _aot

    if _aot.load() is not None:
        return "simlab: the simulate command's kernels are compiled ahead of time (current)"
    tic = time.perf_counter()
    try:
        path = _aot.build()
    except RuntimeError as exc:
        return (f"simlab: the simulate command's kernels were not compiled ahead of time "
                f"({exc}); it runs them through Numba, with about 0.5 s more start-up")
    return f"simlab: {path.name} compiled ahead of time ({time.perf_counter() - tic:.1f} s)"


def byte_compile() -> str:
    """Write simlab's bytecode (``__pycache__``), as ``pip install`` does for an installed
    package; one line saying what happened.

    An editable install (``pip install -e .``, the course's) leaves it to the interpreter,
    which writes it on first import unless ``PYTHONDONTWRITEBYTECODE`` is set (as on some
    shared machines and containers); then every ``simlab`` command compiled simlab's sources
    again (about 40 ms of a ``simlab simulate``). ``compileall`` writes it either way, and a
    source edited later is simply compiled again in memory."""
    import compileall
    from pathlib import Path

    tic = time.perf_counter()
    ok = compileall.compile_dir(Path(__file__).parent, quiet=1)
    took = time.perf_counter() - tic
    return (f"simlab: bytecode written ({took:.1f} s)" if ok else
            "simlab: some bytecode could not be written (a read-only folder?); simlab works "
            "the same, each command compiling its sources first")


if __name__ == "__main__":
    print(f"simlab: kernels ready ({warm_up():.1f} s)")
    print(build_ahead_of_time())
    print(byte_compile())
