"""Lesson 12's checks: kind feedback per target, never the expected value, never a traceback."""
from __future__ import annotations

import pytest

import simlab
from simlab import capstone as c

GOOD = {**c.EXAMPLE, "ttl": {"product page": 3600, "dashboard": 900}, "size_mb": 48}
FAILING = {**c.EXAMPLE, "invalidation": "ttl", "stampede": "none",
           "rate_limit": {"algorithm": "token-bucket", "limit": 10, "window": 5}}


@pytest.fixture(scope="module")
def day():
    return c.load_day()


def test_the_solution_design_meets_every_target(day, capsys):
    assert simlab.checks.check_design(GOOD, c.simulate_day(GOOD, day))
    assert capsys.readouterr().out.startswith(simlab.checks.GOOD)


def test_the_failing_design_is_told_which_targets_and_where_to_look(day, capsys):
    assert not simlab.checks.check_design(FAILING, c.simulate_day(FAILING, day))
    out = capsys.readouterr().out
    assert out.startswith(simlab.checks.NOT_YET) and "Traceback" not in out
    assert "share of stale reads" in out and "what a write should do" in out
    assert "wrongly refused" in out and "burst" in out
    assert "p99 read latency" in out
    assert "peak filing-room" not in out and "whiteboard memory" not in out  # those are met
    assert sum(line.startswith(simlab.checks.NOT_YET) for line in out.splitlines()) == 1


def test_the_starting_design_misses_only_latency(day, capsys):
    assert not simlab.checks.check_design(c.EXAMPLE, c.simulate_day(c.EXAMPLE, day))
    out = capsys.readouterr().out
    assert "1 of 5 targets missed" in out and "p99 read latency" in out


def test_none_and_nonsense(capsys):
    assert not simlab.checks.check_design(None)
    assert "is still None" in capsys.readouterr().out
    assert not simlab.checks.check_design({"size_mb": "big"})
    out = capsys.readouterr().out
    assert "size_mb" in out and "Traceback" not in out
    assert not simlab.checks.check_design([1, 2])


@pytest.mark.parametrize("change, words", [
    ({"policy": "LRU"}, "design['policy']"), ({"sizemb": 48}, "fields the course does not"),
    ({"size_mb": "48"}, "design['size_mb']"), ({"cache": "product page"}, "a list of what"),
    ({"stampede": "lease"}, "design['stampede']"), ({"rate_limit": None}, "rate_limit"),
    ({"ttl": {"product page": 3600}}, "no TTL for 'dashboard'"),
    ({"ttl": {"product page": 3600, "dashboard": 0}}, "dashboard"),
    ({"rate_limit": {"algorithm": "fixed-window", "limit": 20.5, "window": 10}}, "limit"),
    ({"size_mb": ...}, "size_mb"),
    ({"size_mb": 10 ** 400}, "size_mb"),
    ({"ttl": {"product page": 10 ** 400, "dashboard": 60}}, "product page"),
    ({"rate_limit": {"algorithm": "fixed-window", "limit": 20, "window": 1e300}}, "a day"),
    ({"rate_limit": {"algorithm": "fixed-window", "limit": 20, "window": 10, "burst": 5}},
     "burst"),
])
def test_a_mistyped_design_gets_a_sentence_as_the_notebook_calls_it(day, change, words,
                                                                      capsys):
    """As notebook 12's cell calls it (the check runs the day): one sentence naming the field,
    never a traceback."""
    assert not simlab.checks.check_design({**c.EXAMPLE, **change}, day=day)
    out = capsys.readouterr().out
    assert out.startswith(simlab.checks.NOT_YET) and "Traceback" not in out
    assert words in out and "not usable yet" in out


@pytest.mark.parametrize("answer, ok, words", [
    (0.576, True, "a month"), (48 * 12.0, False, "per gigabyte"),
    (48 / 1024 * 12, False, "1,000 MB"), (3.0, False, "too high"), (None, False, "still None"),
])
def test_monthly_cost(answer, ok, words, capsys):
    assert bool(simlab.checks.check_monthly_cost(answer, size_mb=48)) is ok
    out = capsys.readouterr().out
    assert words in out
    if not ok:
        assert "0.576" not in out and "0.58" not in out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        simlab.checks.check_monthly_cost(1.0)
