"""A latency model's draws for one run, written chunk by chunk into arrays the engine owns.

:func:`fillers` gives, for a latency model and the run's generator, a function ``fill(out)``
that writes the model's next ``len(out)`` draws into ``out``: called over the chunks of an
array in order, it writes exactly what ``model.sample(len(array), rng)`` returns (tests hold
every model of :mod:`simlab.latency` to that). For simlab's own models (:func:`chunked`) the
engine's second thread calls it chunk by chunk, so that the compiled loop starts on the first
requests while the next ones are drawn; a learner's own model is asked for all its draws at
once, in the caller's thread, and what it returns is copied and checked (finite, >= 0).

simlab's own log-normal draws its standard normals with :func:`simlab._kernels.normals`,
NumPy's ziggurat on the generator's own 64-bit outputs: the same numbers as
``Generator.standard_normal``, in under half its time. That holds only for the bit generator
and the algorithm it copies (PCG64, NumPy's ziggurat), so it is used only for a PCG64
generator and after a check, once per process, that it gives NumPy's numbers; otherwise
``standard_normal`` itself runs.
"""
from __future__ import annotations

import numpy as np

from ._aot import kernels

_agrees: list = []


def _fast_normals_agree() -> bool:
    """Whether :class:`Normals` gives NumPy's ``standard_normal`` here (checked once)."""
    if not _agrees:
        ok = False
        try:
            for seed in (0, 7):     # 40,000 draws take both rare ways of the ziggurat
                ours = np.empty(20_000)
                Normals(np.random.default_rng(seed), check=False).fill(ours)
                ok = np.array_equal(ours, np.random.default_rng(seed).standard_normal(20_000))
                if not ok:
                    break
        except Exception:            # a kernel that cannot run here: NumPy's own, always
            ok = False
        _agrees.append(ok)
    return _agrees[0]


class Normals:
    """Standard normals of ``rng``, the numbers ``rng.standard_normal`` gives, in order.

    Takes the generator's 64-bit outputs a batch at a time (``random_raw``), so the
    generator ends past the last draw used: only for a generator nobody else draws from
    (the engine's own streams)."""

    def __init__(self, rng: np.random.Generator, check: bool = True):
        self.rng = rng
        self.fast = (isinstance(rng.bit_generator, np.random.PCG64)
                     and (not check or _fast_normals_agree()))
        self.raw = np.empty(0, dtype=np.uint64)
        self.pos = 0

    def fill(self, out: np.ndarray, scale: float = 1.0, shift: float = 0.0) -> None:
        """The next ``len(out)`` normals, each times ``scale`` plus ``shift`` (as
        ``out *= scale; out += shift`` would make them)."""
        scaled = not (scale == 1.0 and shift == 0.0)
        if not self.fast:
            self.rng.standard_normal(out=out)
            if scaled:
                out *= scale
                out += shift
            return
        from . import _ziggurat as Z

        k = kernels()
        progress = np.array([self.pos, 0], dtype=np.int64)
        while not k.normals(self.raw, out, progress, Z.KI, Z.WI, Z.FI, Z.R, Z.INV_R, scaled,
                            scale, shift):
            # a normal takes 1.012 outputs on average: a batch with some to spare; what is
            # left of the last one (a draw whose rare way needed more) goes first, copied
            # only when there is some
            need = out.shape[0] - int(progress[1])
            more = self.rng.bit_generator.random_raw(need + need // 16 + 64)
            rest = self.raw[int(progress[0]):]
            self.raw = np.concatenate((rest, more)) if rest.size else more
            progress[0] = 0
        self.pos = int(progress[0])


def _own(model):
    """simlab's own sampler of ``model`` (a preset's model), or None for any other."""
    from .latency import Constant, LogNormal, Preset

    model = model.model if isinstance(model, Preset) else model
    sample = getattr(type(model), "sample", None)
    return model if sample in (LogNormal.sample, Constant.sample) else None


def chunked(model) -> bool:
    """Whether :func:`fillers` draws ``model`` chunk by chunk with simlab's own code, which
    may run in a thread of the engine's. Any other model (a learner's own) draws all at
    once, in this thread, in the order the engine always asks (whiteboard, then filing
    room): it may keep state, reuse one array for every call, or serve both stores."""
    return _own(model) is not None


def fillers(model, rng: np.random.Generator, n: int, count: int = 1, what: str = "model"):
    """``count`` functions ``fill(out)``, one per array of ``n`` draws that
    ``model.sample(n, rng)`` would return, called that many times in a row: each writes the
    next ``len(out)`` draws of its array into ``out`` (float64, contiguous). Chunks are given
    in order, and the arrays one after another (the second starts where the first ended).
    ``what`` names the model in errors (``"whiteboard"``, ``"filing_room"``)."""
    from .latency import LogNormal

    own = _own(model)
    if isinstance(own, LogNormal):
        normals, sigma, mu = Normals(rng), own.sigma, np.log(own.median_)

        def fill(out):             # LogNormal.sample's own steps, on a chunk
            normals.fill(out, sigma, mu)
            np.exp(out, out=out)
        return [fill] * count
    if own is not None:            # Constant
        value = own.value
        return [lambda out: out.fill(value)] * count
    return [_whole(model, rng, n, what) for _ in range(count)]


def _whole(model, rng, n, what):
    """Any other model (a learner's own too): its ``n`` draws taken at the first chunk, as
    its ``sample`` returns them, copied (it may keep its array, or reuse it for its next
    call) and checked, then handed out chunk by chunk."""
    drawn: list = []

    def fill(out):
        if not drawn:
            values = np.array(model.sample(n, rng), dtype=np.float64)
            if values.shape != (n,):
                raise ValueError(f"{what}: a latency model's sample(n) must return n values, "
                                 f"got shape {values.shape} for n={n}")
            bad = ~np.isfinite(values) | (values < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{what}: a latency model's sample(n) must return latencies "
                                 f"in seconds, finite and >= 0; draw {i} is {values[i]!r}")
            drawn.extend((values, 0))
        values, at = drawn
        out[:] = values[at:at + out.shape[0]]
        drawn[1] = at + out.shape[0]
    return fill
