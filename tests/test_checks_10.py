"""Lesson 10's checks: the right answer passes, typical wrong ones fail with a hint and
without the value."""
import re

import pandas as pd
import pytest

from simlab import durability
from simlab.checks import check_machine_crash_loss, check_restart_time, check_survivors

CRASHES = pd.DataFrame({"acknowledged": [2400, 3800, 2000, 2700, 250],
                        "lost": [2400, 1500, 0, 0, 0]},
                       index=["none", "rdb", "aof-no", "aof-everysec", "aof-always"])
LOADS = pd.DataFrame({"format": ["rdb", "aof"] * 3,
                      "disk_bytes": [4e6, 14e6, 40e6, 140e6, 80e6, 280e6],
                      "load_s": [0.05, 0.3, 0.45, 2.9, 0.85, 5.7]})


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def test_survivors_right(capsys):
    assert check_survivors({"aof-no", "aof-everysec", "aof-always"}, CRASHES)
    assert "page cache" in capsys.readouterr().out
    assert check_survivors(["aof-always", "aof-no", "aof-everysec"], CRASHES)


@pytest.mark.parametrize("answer, words", [
    ({"aof-always"}, "missing"),                     # fsync thinking: only always survives
    ({"aof-always", "aof-everysec"}, "missing"),
    ({"rdb", "aof-no", "aof-everysec", "aof-always"}, "rdb lost"),
    ({"aof"}, "not a policy"),
    ("aof-always", "should be a set"),
])
def test_survivors_wrong(answer, words, capsys):
    assert not check_survivors(answer, CRASHES)
    out = capsys.readouterr().out
    assert words in out


def test_survivors_that_are_a_mask_or_a_table_are_told_what_to_take(capsys):
    """crashes["lost"] == 0 (True/False per row) or crashes[crashes["lost"] == 0] (the rows):
    one line saying what they are, not 'False, True is not a policy'."""
    mask = check_survivors(CRASHES["lost"] == 0, CRASHES)
    assert not mask and "True/False" in mask.message and "index" in mask.message
    rows = check_survivors(CRASHES[CRASHES["lost"] == 0], CRASHES)
    assert not rows and "a DataFrame of 3 rows x 2 columns" in rows.message
    assert "acknowledged" not in rows.message
    assert check_survivors(CRASHES.index[CRASHES["lost"] == 0], CRASHES)
    assert check_survivors((p for p in CRASHES.index if CRASHES.loc[p, "lost"] == 0), CRASHES)


def test_survivors_missing_and_strict(monkeypatch, capsys):
    assert not check_survivors(None, CRASHES)
    assert "still None" in capsys.readouterr().out
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError, match="Not yet"):
        check_survivors({"aof-always"}, CRASHES)


def test_machine_crash_right():
    assert check_machine_crash_loss(1000, write_rate=2000)
    assert check_machine_crash_loss(2000 * 0.5 * 1.05, write_rate=2000)


@pytest.mark.parametrize("answer, words", [
    (0, "process crash"),
    (2000, "a whole second"),
    (4000, "worst case"),
    (1_000_000, "milliseconds"),
    (300, "too low"),
])
def test_machine_crash_wrong(answer, words, capsys):
    assert not check_machine_crash_loss(answer, write_rate=2000)
    out = capsys.readouterr().out
    assert words in out and "Hint:" in out
    assert not re.search(r"(?<![\d,.])1,?000(?![\d,])", out) and "0.5" not in out


def test_machine_crash_seconds_are_not_writes():
    """The window in seconds (0.5), not multiplied by the write rate: it is not what a
    process crash loses (0), and a tiny loss is not either."""
    seconds = check_machine_crash_loss(0.5, write_rate=2000)
    assert not seconds and "seconds, not of writes" in seconds.message
    assert "process crash" not in seconds.message
    tiny = check_machine_crash_loss(0.01, write_rate=2000)
    assert not tiny and "process crash" not in tiny.message and "0.01 writes" in tiny.message


def _want():
    rows = LOADS[LOADS["format"] == "rdb"]
    return float(durability.restart_seconds(5e9, **durability.fit_load_rate(
        rows["disk_bytes"], rows["load_s"])))


def test_restart_time_right():
    want = _want()
    assert check_restart_time(want, LOADS, 5e9)
    assert check_restart_time(want * 0.95, LOADS, 5e9)


@pytest.mark.parametrize("which, words", [
    ("aof", "AOF rows"),
    ("ms", "milliseconds"),
    ("largest", "largest measured"),
    ("half", "too low"),
])
def test_restart_time_wrong(which, words, capsys):
    want = _want()
    aof = LOADS[LOADS["format"] == "aof"]
    answer = {"aof": float(durability.restart_seconds(5e9, **durability.fit_load_rate(
                  aof["disk_bytes"], aof["load_s"]))),
              "ms": want * 1000, "largest": 0.85, "half": want / 2}[which]
    assert not check_restart_time(answer, LOADS, 5e9)
    out = capsys.readouterr().out
    assert words in out and "Hint:" in out
    assert f"{want:,.0f}" not in out and f"{want:.3g}" not in out


def test_restart_time_other_mistakes_and_plain_numbers(capsys):
    want = _want()
    minutes = check_restart_time(want / 60, LOADS, 5e9)
    assert not minutes and "minutes" in minutes.message
    both = float(durability.restart_seconds(5e9, **durability.fit_load_rate(
        LOADS["disk_bytes"], LOADS["load_s"])))
    mixed = check_restart_time(both, LOADS, 5e9)
    assert not mixed and "AOF rows too" in mixed.message
    far = check_restart_time(1234.5, LOADS, 5e9)      # printed as typed, never 1.23e+03
    assert not far and "1,234 s" in far.message and "e+" not in far.message
    for table in (None, LOADS.to_dict()):
        bad = check_restart_time(want, table, 5e9)
        assert not bad and "not the table of measured loads" in bad.message
    assert "Traceback" not in capsys.readouterr().out
