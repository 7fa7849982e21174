"""Lesson 12's checks: kind feedback per target, never the expected value, never a traceback."""
from __future__ import annotations

import re
import numpy as np
import pytest

import simlab
from simlab import capstone as c
from simlab.checks import lesson12

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


def test_a_whole_float_limit_and_an_upper_case_policy_are_read_as_meant(day, capsys):
    """20.0 is the integer 20, and "LRU" the policy "lru": the design is simulated as the
    course's own spelling of it (the same verdict, word for word), and the learner's dict is
    left as it was."""
    assert simlab.checks.check_design(GOOD, day=day)
    want = capsys.readouterr().out
    design = {**GOOD, "policy": "LRU", "rate_limit": {**GOOD["rate_limit"], "limit": 20.0}}
    assert simlab.checks.check_design(design, day=day)
    assert capsys.readouterr().out == want
    assert design["policy"] == "LRU" and design["rate_limit"]["limit"] == 20.0
    assert isinstance(design["rate_limit"]["limit"], float)


@pytest.mark.parametrize("policy, meant", [
    ("LRU", "lru"), ("Lfu", "lfu"), (" FIFO ", "fifo"), ("RANDOM", "random"),
    ("allkeys-lru", "lru"), ("ALLKEYS_LFU", "lfu"), ("allkeys-random", "random"),
    ("volatile-lru", "lru"),        # every page on the whiteboard has a TTL (lesson 08)
    ("least recently used", "lru"), ("Least-Frequently-Used", "lfu"),
])
def test_a_policy_is_read_in_any_case_and_by_its_redis_name(policy, meant, day, capsys):
    design = {**GOOD, "policy": policy}
    assert lesson12._as_the_course_spells_it(design) == ({**GOOD, "policy": meant}, None)
    assert simlab.checks.check_design(design, c.simulate_day({**GOOD, "policy": meant}, day))
    assert capsys.readouterr().out.startswith(simlab.checks.GOOD)


def test_the_other_choices_are_read_in_any_case(day, capsys):
    design = {**GOOD, "invalidation": "Delete", "stampede": "LOCK", "rate_limit": {
        "algorithm": "Fixed Window", "limit": np.float64(20.0), "window": 10}}
    read, problem = lesson12._as_the_course_spells_it(design)
    assert problem is None and read == GOOD and type(read["rate_limit"]["limit"]) is int
    assert simlab.checks.check_design(design, c.simulate_day(GOOD, day))


@pytest.mark.parametrize("policy, hint", [
    ("volatile-ttl", "allkeys-lru, allkeys-lfu and allkeys-random are 'lru', 'lfu' and"),
    ("noeviction", "must evict something"),
    ("clock", "allkeys-lru"),
])
def test_a_policy_the_simulation_does_not_know_is_told_the_choices(policy, hint, capsys):
    assert not simlab.checks.check_design({**GOOD, "policy": policy})
    out = capsys.readouterr().out
    assert out.startswith(simlab.checks.NOT_YET) and len(out.strip().splitlines()) == 2
    assert f"design['policy'] is '{policy}'" in out and hint in out
    assert "'lru', 'lfu', 'fifo' or 'random'" in out


@pytest.mark.parametrize("limit", [20.5, np.float64(20.5), 0.5])
def test_a_limit_that_is_not_whole_names_the_field_the_rule_and_the_value(limit, capsys):
    assert not simlab.checks.check_design({**GOOD, "rate_limit": {**GOOD["rate_limit"],
                                                                  "limit": limit}})
    out = capsys.readouterr().out
    assert out.startswith(simlab.checks.NOT_YET) and len(out.strip().splitlines()) == 2
    assert "design['rate_limit']['limit'] must be a whole number of requests" in out
    assert f"got {float(limit)!r}." in out and "Traceback" not in out


@pytest.mark.parametrize("limit", [-20.0, 0.0, float("inf"), float("nan")])
def test_a_limit_that_is_no_positive_number_keeps_the_designs_own_message(limit, capsys):
    assert not simlab.checks.check_design({**GOOD, "rate_limit": {**GOOD["rate_limit"],
                                                                  "limit": limit}})
    out = capsys.readouterr().out
    assert "design['rate_limit']['limit'] must be a positive integer" in out
    assert f"got {limit!r}" in out


def test_a_wrong_design_spelled_differently_fails_the_same(day, capsys):
    """Reading "LRU" as "lru" must not pass a design the course's spelling fails."""
    spelled = {**FAILING, "policy": "LRU", "invalidation": "TTL",
               "rate_limit": {**FAILING["rate_limit"], "limit": 10.0}}
    assert not simlab.checks.check_design(spelled, day=day)
    out = capsys.readouterr().out
    assert "share of stale reads" in out and "wrongly refused" in out


def test_missed_targets_read_with_their_units_and_no_scientific_notation(capsys):
    from simlab import capstone
    loose = {**capstone.EXAMPLE, "rate_limit": {**capstone.EXAMPLE["rate_limit"], "limit": 1}}
    verdict = simlab.checks.check_design(loose)
    assert not verdict
    assert re.search(r"p99 read latency: [\d.]+ ms, the target is at most 22\.0 ms", verdict.message)
    assert re.search(r"wrongly refused by the rate limit: [\d,]+, the target is at most 0\.",
                     verdict.message)
    assert "e+" not in verdict.message


def test_a_design_that_caches_nothing_is_told_so_once(capsys):
    from simlab import capstone
    verdict = simlab.checks.check_design({**capstone.EXAMPLE, "cache": []})
    assert not verdict
    assert verdict.message.count("names no reads") == 1
    assert "flash sale" not in verdict.message          # not the lock's hint: nothing is cached
    assert re.search(r"peak filing-room queries: [\d,]+ a second", verdict.message)


def test_the_days_results_are_plain_python_numbers():
    from simlab import capstone
    result = capstone.simulate_day(capstone.EXAMPLE, capstone.load_day())
    assert not any(isinstance(v, np.generic) for v in result.values())
