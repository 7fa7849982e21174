"""The kernels a ``simlab simulate`` command needs, compiled ahead of time: no Numba at run time.

Numba compiles :mod:`simlab._kernels` on first use and caches the machine code on disk, but
every process that runs them still imports Numba and sets up its compiler (0.5 s, more than
simulating a million requests). ``python -m simlab.warmup`` (run by ``make lab``, ``make
test`` and Binder's ``postBuild``) therefore also compiles the same Python functions, with
Numba's ahead-of-time compiler (``numba.pycc``) and the machine's C compiler, into an
extension module beside the package, ``simlab/_aot_kernels.<platform>.so``, which imports
with NumPy alone. Nothing is written twice: the module is built from the functions of
:mod:`simlab._kernels`, and tests check it against them request by request.

:func:`kernels` returns that module when it is there and was built from the kernels' current
source (a fingerprint of ``_kernels.py``, ``_codes.py`` and NumPy's version is stored beside it
in ``_aot_kernels.json``), and :mod:`simlab._kernels` otherwise. So a machine without a C
compiler, an edited kernel or an upgraded NumPy only loses the start-up time, never a result.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

NAME = "_aot_kernels"
HERE = Path(__file__).resolve().parent
SOURCES = ("_kernels.py", "_codes.py")

# Each exported kernel with the one signature the callers use (no dispatch ahead of time).
# numba.pycc's wrappers do not check an array's dtype: one of another type is read as this
# one, out of its bounds (a crash). So the callers pass exactly these, from arrays they make
# or from a workload's columns, whose types and lengths are checked before every run
# (:func:`simlab.workloads.check_keys`).
# Arrays are C-contiguous (``[::1]``), as Numba's own compilation specialises them: with any
# layout (``[:]``) every index is multiplied by a stride, and the LRU loop took 30% longer.
SIGNATURES = {
    "cache_aside": "i8[::1](i8[::1], i1[::1], f8[::1], b1, f8[::1], f8[::1], f8[::1], f8[::1], "
                   "f8[::1], i8, i8, i8, i8, b1, b1, f8[::1], i1[::1], f8[::1], f8[::1], "
                   "f8[::1], i1[::1])",
    "int_line_keys": "Tuple((i8[::1], i8[::1], b1))(u1[::1])",
    "lru_cache_aside": "i8(i8, i8, i8[::1], i1[::1], f8[::1], f8[::1], f8[::1], f8[::1], b1, b1, "
                       "i1[::1], i1[::1], i4[::1], f8[::1], f8[::1], i8[::1], i8[::1], i8, i8)",
    "lru_apply": "void(i8[::1], i1[::1], f8[::1], i4[::1], f8[::1], f8[::1], i8[::1], i8[::1], "
                 "i8, i8, f8)",
    "lru_latencies": "void(i8, i8, i1[::1], f8[::1], f8[::1], f8[::1])",
    "normals": "b1(u8[::1], f8[::1], i8[::1], u8[::1], f8[::1], f8[::1], f8, f8, b1, f8, f8)",
}


def fingerprint() -> str:
    """What the ahead-of-time module must have been built from: the kernels' source and the
    NumPy it was built against."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    digest.update(np.__version__.encode())
    return digest.hexdigest()


def load(folder: Path | None = None):
    """The module built in ``folder`` (the package's by default) if it is there and
    current, else None."""
    folder = HERE if folder is None else Path(folder)
    try:
        stamp = json.loads((folder / f"{NAME}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != fingerprint():
        return None
    path = folder / stamp.get("file", "")
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"simlab.{NAME}", path)
    if spec is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:          # built for another Python or NumPy ABI
        return None
    return module


_cached: dict = {}


def kernels(folder: Path | None = None):
    """The kernels of :data:`SIGNATURES`: compiled ahead of time when current, else
    :mod:`simlab._kernels` (Numba, compiled on first use)."""
    folder = HERE if folder is None else Path(folder)
    if folder not in _cached:
        module = load(folder)
        if module is None:
            from . import _kernels as module
        _cached[folder] = module
    return _cached[folder]


def build(folder: Path | None = None) -> Path:
    """Compile the kernels of :data:`SIGNATURES` ahead of time into ``folder`` (the package's
    own by default); return the module's path. Raises ``RuntimeError`` with the reason when
    this machine cannot (no C compiler, no write access)."""
    folder = HERE if folder is None else Path(folder)
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # numba.pycc's pending-deprecation notice
        from numba.pycc import CC

        from . import _kernels
    with tempfile.TemporaryDirectory(prefix="simlab-aot-") as tmp:
        cc = CC(NAME)
        cc.output_dir = tmp
        cc.verbose = False
        for name, signature in SIGNATURES.items():
            cc.export(name, signature)(getattr(_kernels, name).py_func)
        # Every exported kernel releases the GIL while it runs, as the Numba-compiled ones
        # do (``nogil=True``): the engine's threads draw while the loop runs. numba.pycc
        # has no option for it; its compiler reads the flag from the ``Flags`` it makes.
        from numba.pycc import compiler as pycc_compiler

        class ReleaseGil(pycc_compiler.Flags):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.release_gil = True

        plain_flags, pycc_compiler.Flags = pycc_compiler.Flags, ReleaseGil
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cc.compile()
        except Exception as exc:                 # the compiler's or the linker's failure
            raise RuntimeError(f"numba.pycc could not build the module: "
                               f"{' '.join(str(exc).split())[:300]}") from None
        finally:
            pycc_compiler.Flags = plain_flags
        built = next(Path(tmp).glob(f"{NAME}*"), None)
        if built is None:
            raise RuntimeError("numba.pycc built no module")
        try:
            target = folder / built.name
            staged = folder / f".{built.name}.{os.getpid()}"
            shutil.copy2(built, staged)
            os.replace(staged, target)           # atomic: a running process keeps the old
            stamp = folder / f".{NAME}.json.{os.getpid()}"
            stamp.write_text(json.dumps({"fingerprint": fingerprint(), "file": built.name,
                                         "python": sys.version.split()[0],
                                         "numpy": np.__version__}))
            os.replace(stamp, folder / f"{NAME}.json")
        except OSError as exc:
            raise RuntimeError(f"cannot write the module into {folder}: {exc.strerror}") \
                from None
    _cached.pop(folder, None)
    return target
