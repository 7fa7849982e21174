"""Checks for lesson 10 (durability)."""
from __future__ import annotations

from ._common import Verdict, _answer, _how_far, _missing, _near, _short, _verdict

AOF = {"aof-no", "aof-everysec", "aof-always"}


def check_survivors(answer, crashes) -> Verdict:
    """10: the set of policies that lost no acknowledged write in the process crashes.

    ``crashes`` is the crash table (index: policy; column ``lost``).
    """
    missing = _missing(answer, "survivors")
    if missing is not None:
        return missing
    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        return _verdict(False, "", f"survivors should be a set of policy names; got "
                        f"{_short(answer)}.", "write it as {'name', 'other name'}.")
    chosen = {str(p) for p in answer}
    known = set(crashes.index)
    unknown = chosen - known
    if unknown:
        return _verdict(False, "", f"{', '.join(sorted(unknown))} is not a policy in the "
                        f"table.", f"use the names of its index: {', '.join(crashes.index)}.")
    right = {p for p in known if int(crashes.loc[p, "lost"]) == 0}
    if chosen == right:
        return _verdict(True, "Every AOF policy kept every acknowledged write: a process crash "
                        "does not take the page cache with it." if right == AOF & known else
                        "Those are the policies that lost nothing in this run.")
    if chosen < right and "aof-always" in chosen:
        return _verdict(False, "", "some policies that lost nothing are missing.",
                        "fsync protects against a machine crash. For a process crash, look at "
                        "the lost column again: where is a write once write() returned?")
    if chosen - right:
        return _verdict(False, "", f"{', '.join(sorted(chosen - right))} lost acknowledged "
                        "writes in this run.", "read the lost column of the table.")
    return _verdict(False, "", "some policies that lost nothing are missing.",
                    "take every row whose lost column is 0.")


def check_machine_crash_loss(answer, write_rate: float = 2000.0,
                             policy: str = "aof-everysec") -> Verdict:
    """10: acknowledged writes lost, on average, when the machine loses power at a random
    moment under ``policy`` (the model: :func:`simlab.durability.expected_loss`)."""
    from ..durability import expected_loss, loss_window

    value, verdict = _answer(answer, "lost")
    if verdict is not None:
        return verdict
    want = expected_loss(policy, write_rate, "machine")
    window = loss_window(policy, "machine")
    if abs(value - want) <= 0.1 * want:
        return _verdict(True, f"About {want:,.0f} writes: a crash lands on average halfway "
                        "through the interval that has not been fsync-ed yet.")
    known = [
        (0.0, "is what a process crash loses.", "a power cut takes the page cache too: what "
         "was written but not yet fsync-ed is gone."),
        (write_rate * window["max"], "is the worst case.", "the question asks for the "
         "average: where, on average, does a random moment fall in the interval?"),
        (write_rate * 1.0, "is a whole second of writes: the worst case of the usual fsync.",
         "on average, a crash at a random moment comes halfway through the second."),
        (want * 1000, "looks like milliseconds times writes a second.", "use seconds."),
    ]
    for wrong, said, hint in known:
        if _near(value, wrong, rtol=0.02, atol=0.5) and not abs(wrong - want) <= 0.1 * want:
            return _verdict(False, "", f"{value:,.0f} {said}", hint)
    return _verdict(False, "", f"{value:,.0f} writes is {_how_far(value, want)}.",
                    f"writes a second x the seconds not yet on disk, on average "
                    f"(simlab.durability.loss_window('{policy}', 'machine')).")


def check_restart_time(answer, load_times, dataset_bytes: float, fmt: str = "rdb") -> Verdict:
    """10: predicted restart time (seconds) of a ``dataset_bytes`` data set on disk in
    ``fmt``, from a straight-line fit of the measured ``load_times`` (columns ``format``,
    ``disk_bytes``, ``load_s``)."""
    from ..durability import fit_load_rate, restart_seconds

    value, verdict = _answer(answer, "seconds")
    if verdict is not None:
        return verdict

    def predict(kind):
        rows = load_times[load_times["format"] == kind]
        return float(restart_seconds(dataset_bytes, **fit_load_rate(rows["disk_bytes"],
                                                                    rows["load_s"])))

    want = predict(fmt)
    if abs(value - want) <= 0.1 * want:
        return _verdict(True, f"About {want:,.0f} s of restart with the {fmt.upper()} file: "
                        "the whiteboard answers nothing until it has loaded.")
    other = "aof" if fmt == "rdb" else "rdb"
    if other in set(load_times["format"]):
        alt = predict(other)
        if abs(value - alt) <= 0.1 * alt:
            return _verdict(False, "", f"that is the {other.upper()} rows' prediction.",
                            f"fit only the rows whose format is '{fmt}'.")
        if abs(value / 1000 - want) <= 0.1 * want:
            return _verdict(False, "", "your answer looks like milliseconds.",
                            "give it in seconds.")
    biggest = load_times[load_times["format"] == fmt]["load_s"].max()
    if _near(value, biggest, rtol=0.01):
        return _verdict(False, "", "that is the largest measured load time, not a prediction "
                        "for the data set asked.", "fit the line, then evaluate it at "
                        "dataset_bytes.")
    return _verdict(False, "", f"{value:,.3g} s is {_how_far(value, want)}.",
                    "simlab.durability.fit_load_rate(sizes, seconds) gives the load rate; "
                    "restart_seconds(dataset_bytes, **fit) the prediction.")
