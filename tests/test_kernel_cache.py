"""Numba's disk cache of the kernels never serves machine code built from old sources.

Numba checks a cached function against its own file only; the Redis model's loop compiles in
the helpers of ``_kernels.py`` and both compile in ``_codes.py``. ``simlab._kernels`` stamps
the cache with a fingerprint of the three files and clears it when they change.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import simlab
from simlab import _kernels as K

PACKAGE = Path(simlab.__file__).resolve().parent


def _fake_cache(folder):
    names = ["_kernels.cache_get-170.py311.nbi", "_kernels.cache_get-170.py311.1.nbc",
             "_redis_kernels._redis_loop-590.py311.nbi", "_redis_kernels._redis_loop-590.py311.2.nbc",
             "curves._lru_depths-26.py311.nbi", "_kernels.cpython-311.pyc", "notes.txt",
             "_kernels_extra.f-1.py311.nbi"]
    for name in names:
        (folder / name).write_text("x")
    return names


def test_a_changed_fingerprint_clears_the_two_modules_caches_and_nothing_else(tmp_path):
    _fake_cache(tmp_path)
    assert K.clear_stale_cache(tmp_path, "one") == 4           # no stamp yet: stale
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["curves._lru_depths-26.py311.nbi", "_kernels.cpython-311.pyc",
                           "notes.txt", "_kernels_extra.f-1.py311.nbi", K.STAMP])
    assert (tmp_path / K.STAMP).read_text() == "one"
    _fake_cache(tmp_path)
    assert K.clear_stale_cache(tmp_path, "one") == 0           # same sources: kept
    assert (tmp_path / "_redis_kernels._redis_loop-590.py311.nbi").exists()
    assert K.clear_stale_cache(tmp_path, "two") == 4           # changed: cleared
    assert (tmp_path / K.STAMP).read_text() == "two"


def test_an_unwritable_or_missing_folder_is_left_alone(tmp_path):
    missing = tmp_path / "nowhere" / "deeper"
    assert K.clear_stale_cache(missing, "x") == 0 and not missing.exists()
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert K.clear_stale_cache(blocked, "x") == 0              # no error either


def test_the_fingerprint_follows_every_source(tmp_path):
    for name in K._SOURCES:
        shutil.copy(PACKAGE / name, tmp_path / name)
    seen = {K.cache_fingerprint(tmp_path)}
    assert K.cache_fingerprint(tmp_path) == K.cache_fingerprint(PACKAGE)
    for name in ("_codes.py", "_kernels.py", "_redis_kernels.py"):
        with open(tmp_path / name, "a") as f:
            f.write("\n# changed\n")
        seen.add(K.cache_fingerprint(tmp_path))
    assert len(seen) == 4


def _run(copy, code):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(copy)
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_an_update_of_kernels_py_alone_does_not_load_the_redis_models_old_code(tmp_path):
    """The course updated by a ``git pull`` that changed ``_kernels.py`` and not
    ``_redis_kernels.py``: the Redis model's cached functions must go."""
    copy = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy / "simlab", ignore=shutil.ignore_patterns("__pycache__"))
    compile_one = ("import simlab, numpy as np; from simlab import _redis_kernels as RK; "
                   "assert simlab.__file__.startswith(%r), simlab.__file__; "
                   "RK.request_bytes(np.zeros(3, np.int64), np.full(1, 8, np.int64), "
                   "np.full(3, 100, np.int64))" % str(copy))
    _run(copy, compile_one)
    cache = copy / "simlab" / "__pycache__"
    cached = sorted(p.name for p in cache.glob("_redis_kernels.request_bytes-*"))
    assert cached, "Numba cached nothing"
    _run(copy, "import simlab._kernels")                       # same sources: kept
    assert sorted(p.name for p in cache.glob("_redis_kernels.request_bytes-*")) == cached
    kernels_py = copy / "simlab" / "_kernels.py"
    kernels_py.write_text(kernels_py.read_text() + "\n# an update\n")
    _run(copy, "import simlab._kernels")
    assert not list(cache.glob("_redis_kernels.*.nb?"))
    assert not list(cache.glob("_kernels.*.nb?"))
