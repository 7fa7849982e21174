"""What every lesson's checks share: the verdict, kind feedback, never a bare traceback.

Each ``check_*`` prints one short verdict (and a hint when the answer is not there yet) and
returns ``True`` or ``False``. With ``SIMLAB_STRICT_CHECKS=1`` in the environment (how the test
suite runs the solution notebooks), a wrong answer raises ``AssertionError`` instead, so a
broken solution cannot pass silently.
"""
from __future__ import annotations

import os


GOOD = "✅ "
NOT_YET = "🟡 Not yet: "


class Verdict:
    """The result of a check: true when the answer is right. It shows nothing by itself in a
    notebook (the check has already printed its feedback)."""

    def __init__(self, ok: bool, message: str):
        self.ok, self.message = bool(ok), message

    def __bool__(self):
        return self.ok

    def __eq__(self, other):
        return bool(self) == bool(other)

    def __hash__(self):
        return hash(self.ok)

    def __repr__(self):
        return f"Verdict({self.ok})"

    def _ipython_display_(self):  # the printed feedback is the display
        pass


def _verdict(ok: bool, praise: str, problem: str = "", hint: str = "") -> Verdict:
    if ok:
        print(GOOD + praise)
        return Verdict(True, praise)
    message = NOT_YET + problem + (f"\n   Hint: {hint}" if hint else "")
    if os.environ.get("SIMLAB_STRICT_CHECKS") == "1":
        raise AssertionError(message)
    print(message)
    return Verdict(False, message)


def _missing(answer, what: str):
    if answer is None or answer is Ellipsis:
        return _verdict(False, "", f"{what} is still None.", "replace None with your answer and "
                        "run the cell again.")
    return None


def _answer(answer, what):
    """``(value, None)`` for a usable number, or ``(None, verdict)`` for the check to return."""
    missing = _missing(answer, what)
    if missing is not None:
        return None, missing
    return _number(answer, what)


def _number(answer, what):
    """``(value, None)`` for a finite-or-infinite number, or ``(None, verdict)``."""
    if isinstance(answer, bool):   # True == 1: a comparison, not a number
        return None, _verdict(False, "", f"{what} should be a number; got {answer!r}, the "
                              "result of a comparison.")
    try:
        value = float(answer)
    except OverflowError:          # 10**400: a number, but no float holds it
        bits = getattr(answer, "bit_length", lambda: 0)()     # str() of 10**5000 raises
        size = f" of about {int(bits * 0.30103) + 1:,} digits" if bits else ""
        return None, _verdict(False, "", f"{what} is a number{size}: far too large to be the "
                              "answer.", "print the pieces of your calculation to see where "
                              "it grows.")
    except (TypeError, ValueError):
        return None, _verdict(False, "", f"{what} should be a number; got {_short(answer)}.")
    if value != value:  # NaN
        return None, _verdict(False, "", f"{what} is NaN (not a number).", "a NaN usually "
                              "comes from an empty selection or 0 / 0: print the pieces.")
    return value, None


def _short(value, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters, for feedback on one line (a table or an
    array is named by its kind and shape: its repr takes several lines)."""
    shape = getattr(value, "shape", None)
    if type(value).__module__.split(".")[0] in ("pandas", "numpy") and shape:
        name = {"ndarray": "array"}.get(type(value).__name__, type(value).__name__)
        size = (f"{shape[0]:,} row{'s' * (shape[0] != 1)} x {shape[1]:,} "
                f"column{'s' * (shape[1] != 1)}" if len(shape) == 2 else
                " x ".join(f"{n:,}" for n in shape) + f" value{'s' * (shape != (1,))}")
        return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name} of {size}"
    try:
        text = " ".join(repr(value).split())
    except Exception:             # repr of an int over 4,300 digits raises (or a learner's
        # own class's __repr__ does): say its size, or its kind, never a traceback
        bits = getattr(value, "bit_length", lambda: 0)()
        return (f"a number of about {int(bits * 0.30103) + 1:,} digits" if bits else
                f"a {type(value).__name__} that cannot be shown")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _num(value: float, digits: int = 4) -> str:
    """``value`` for a message: ``1,234,567`` for a whole number, ``2,046`` or ``0.1827``
    otherwise (never ``5e+04`` for an everyday number)."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value) >= 1e15 or (value and abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


#: What a learner's function may raise that a check turns into one sentence: any error, and a
#: ``sys.exit()`` (not Ctrl-C: KeyboardInterrupt still stops the cell).
RAISED = (Exception, SystemExit)


def _raised(what: str, exc: BaseException) -> Verdict:
    """The learner's code raised: say so in one line (never a traceback). A verdict raised by
    the check itself in strict mode (an ``AssertionError`` carrying :data:`NOT_YET`, from a
    ``_verdict`` inside the check's ``try``) goes on as it is: it is the check's answer, not
    an error of the learner's."""
    if isinstance(exc, AssertionError) and str(exc).startswith(NOT_YET):
        raise exc
    first = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
    return _verdict(False, "", f"{what} raised {type(exc).__name__}" + (f": {first}" if first
                                                                        else "") + ".",
                    "run it once by hand on a small example to see where.")


def _function(fn, what: str):
    """None when ``fn`` is a usable function, else the verdict for the check to return."""
    missing = _missing(fn, what)
    if missing is not None:
        return missing
    if not callable(fn):
        return _verdict(False, "", f"{what} should be a function; got {_short(fn)}.",
                        f"define it with def {what}(...): and pass the function itself.")
    return None


def _how_far(value: float, want: float) -> str:
    """How far ``value`` is from ``want``, in words that never give ``want`` away."""
    if want > 0 and value <= 0:
        return "not positive"
    ratio = value / want if want else float("inf")
    if 0.9 < ratio < 1.1:
        return "close, but " + ("a little low" if ratio < 1 else "a little high")
    if 1 / 3 < ratio < 3:
        return "too low" if ratio < 1 else "too high"
    return "far too low" if ratio < 1 else "far too high"


def _near(value: float, other, rtol: float = 1e-3, atol: float = 1e-9) -> bool:
    return other is not None and abs(value - other) <= max(atol, rtol * abs(other))
