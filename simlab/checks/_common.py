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
    try:
        value = float(answer)
    except (TypeError, ValueError, OverflowError):
        return None, _verdict(False, "", f"{what} should be a number; got {_short(answer)}.")
    if value != value:  # NaN
        return None, _verdict(False, "", f"{what} is NaN (not a number).", "a NaN usually "
                              "comes from an empty selection or 0 / 0: print the pieces.")
    return value, None


def _short(value, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters, for feedback on one line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


#: What a learner's function may raise that a check turns into one sentence: any error, and a
#: ``sys.exit()`` (not Ctrl-C: KeyboardInterrupt still stops the cell).
RAISED = (Exception, SystemExit)


def _raised(what: str, exc: BaseException) -> Verdict:
    """The learner's code raised: say so in one line (never a traceback)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
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
