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
    value = _number(answer, what)
    if value is None:
        return None, Verdict(False, "not a number")
    return value, None


def _number(answer, what):
    try:
        return float(answer)
    except (TypeError, ValueError):
        _verdict(False, "", f"{what} should be a number; got {answer!r}.")
        return None
