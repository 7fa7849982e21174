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
    assert "1 of 6 targets missed" in out and "p99 read latency" in out


@pytest.mark.parametrize("rate_limit", [
    {"algorithm": "fixed-window", "limit": 10 ** 9, "window": 10},     # no limit at all
    {"algorithm": "sliding-log", "limit": 20, "window": 1},            # 20 a second
    {"algorithm": "token-bucket", "limit": 40, "window": 10},          # twice the agreement
])
def test_a_limit_that_lets_the_scraper_through_fails(day, rate_limit, capsys):
    """The mistake the other half of lesson 06 teaches against: a limit so loose that nobody is
    refused passes the burst target; it must fail on the scraper."""
    design = {**GOOD, "rate_limit": rate_limit}
    assert not simlab.checks.check_design(design, day=day)
    out = capsys.readouterr().out
    assert "1 of 6 targets missed" in out and "the scraper's requests" in out
    assert "agreed rate on average" in out and "wrongly refused" not in out


def test_a_limit_of_one_is_answered_with_the_targets_it_misses(day, capsys):
    """Every user is near a limit of 1, so all of them go through a limiter (grouped by one
    sort; its decisions are tested in test_capstone.py)."""
    design = {**GOOD, "rate_limit": {"algorithm": "sliding-log", "limit": 1, "window": 10}}
    assert not simlab.checks.check_design(design, day=day)
    out = capsys.readouterr().out
    assert "wrongly refused" in out and "the scraper's requests" not in out


@pytest.mark.parametrize("change", [{"size_mb": 10 ** 400}, {"size_mb": 10 ** 5000},
                                    {"ttl": {"product page": "x" * 5000, "dashboard": 60}}])
def test_a_huge_value_in_the_design_is_cut_short(change, capsys):
    """The design's error names the field; a value thousands of characters long is cut."""
    assert not simlab.checks.check_design({**c.EXAMPLE, **change})
    out = capsys.readouterr().out
    assert out.startswith(simlab.checks.NOT_YET) and len(out) < 400
    assert "design[" in out or "thousands of digits" in out
