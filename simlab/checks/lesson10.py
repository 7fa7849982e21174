"""Checks for lesson 10 (durability)."""
from __future__ import annotations

import numpy as np

from ._common import Verdict, _answer, _how_far, _missing, _near, _num, _short, _verdict

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
    if hasattr(answer, "columns"):            # the table's rows, not their names
        return _verdict(False, "", f"survivors is {_short(answer)}, not a set of names.",
                        "the policies are the table's index: take the names of the rows "
                        "you chose.")
    answer = list(answer)                     # a generator is read once
    if any(isinstance(p, (bool, np.bool_)) for p in answer):   # crashes["lost"] == 0
        return _verdict(False, "", "survivors holds True/False values, not policy names.",
                        "the policies are the table's index: take the names of the rows "
                        "where that is True.")
    chosen = {str(p) for p in answer}
    known = set(crashes.index)
    unknown = chosen - known
    if unknown:
        said = "is not a policy" if len(unknown) == 1 else "are not policies"
        return _verdict(False, "", f"{', '.join(sorted(unknown))} {said} in the table.",
                        f"use the names of its index: {', '.join(crashes.index)}.")
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
    if _near(value, window["mean"], rtol=0.02) and not _near(value, want, rtol=0.1):
        return _verdict(False, "", f"{_num(value)} is a number of seconds, not of writes.",
                        "multiply the seconds not yet on disk by the writes a second.")
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
        if _near(value, wrong, rtol=0.02, atol=1e-9) and not abs(wrong - want) <= 0.1 * want:
            return _verdict(False, "", f"{_num(value)} {said}", hint)
    return _verdict(False, "", f"{_num(value)} writes is {_how_far(value, want)}.",
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
    if not {"format", "disk_bytes", "load_s"} <= set(getattr(load_times, "columns", ())):
        return _verdict(False, "", f"the load times are {_short(load_times)}, not the table "
                        "of measured loads.", "pass ref[\"load_time\"], as the exercise's "
                        "last line does.")

    def predict(kind):
        rows = load_times[load_times["format"] == kind]
        return float(restart_seconds(dataset_bytes, **fit_load_rate(rows["disk_bytes"],
                                                                    rows["load_s"])))

    want = predict(fmt)
    if abs(value - want) <= 0.1 * want:
        return _verdict(True, f"About {want:,.0f} s of restart with the {fmt.upper()} file: "
                        "the whiteboard answers nothing until it has loaded.")
    biggest = load_times[load_times["format"] == fmt]["load_s"].max()
    if _near(value, biggest, rtol=0.01):
        return _verdict(False, "", "that is the largest measured load time, not a prediction "
                        "for the data set asked.", "fit the line, then evaluate it at "
                        "dataset_bytes.")
    other = "aof" if fmt == "rdb" else "rdb"
    if other in set(load_times["format"]):
        both = float(restart_seconds(dataset_bytes, **fit_load_rate(
            load_times["disk_bytes"], load_times["load_s"])))
        if abs(value - both) <= 0.02 * both and not abs(both - want) <= 0.1 * want:
            return _verdict(False, "", f"that line was fitted to the {other.upper()} rows "
                            "too.", f"fit only the rows whose format is '{fmt}'.")
        alt = predict(other)
        if abs(value - alt) <= 0.1 * alt:
            return _verdict(False, "", f"that is the {other.upper()} rows' prediction.",
                            f"fit only the rows whose format is '{fmt}'.")
    for unit, scale in (("milliseconds", 1 / 1000), ("minutes", 60)):
        if abs(value * scale - want) <= 0.1 * want:
            return _verdict(False, "", f"your answer looks like {unit}.", "give it in seconds.")
    return _verdict(False, "", f"{_num(value, 3)} s is {_how_far(value, want)}.",
                    "simlab.durability.fit_load_rate(sizes, seconds) gives the load rate; "
                    "restart_seconds(dataset_bytes, **fit) the prediction.")
