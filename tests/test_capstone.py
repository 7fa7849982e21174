"""Notebook 12's day, design, simulation and live run (simlab.capstone)."""
from __future__ import annotations

import numpy as np
import pytest

import simlab
from simlab import capstone as c

GOOD = {**c.EXAMPLE, "ttl": {"product page": 3600, "dashboard": 900}, "size_mb": 48}


@pytest.fixture(scope="module")
def small_day():
    return c.make_day(seed=3, n_background=60_000, sale_requests=200_000)


def test_the_recorded_day_has_what_the_lesson_says(tmp_path):
    path = c.save_day(tmp_path / "day.npz")
    day = c.load_day(path)
    assert day["t"].size >= 1_000_000 and np.all(np.diff(day["t"]) >= 0)
    assert set(np.unique(day["kind"])) == {c.PRODUCT, c.DASHBOARD, c.PRICE_CHANGE, c.ORDER}
    sale = (day["t"] >= c.SALE_START) & (day["t"] < c.SALE_END)
    assert np.mean(day["product"][sale] == c.HOT_PRODUCT) > 0.9
    hot_orders = sale & (day["kind"] == c.ORDER) & (day["product"] == c.HOT_PRODUCT)
    assert hot_orders.sum() > 1000                       # writes that invalidate the hot page
    counts = c.window_counts(day["t"], day["user"], c.AGREED["window"])
    partners = np.isin(day["user"], c.PARTNERS)
    assert counts[partners].max() <= c.AGREED["limit"]   # partners stay within the agreement
    assert counts[day["user"] == c.SCRAPER].max() > 3 * c.AGREED["limit"]
    busy = np.bincount((day["t"][~sale] // 3600).astype(int), minlength=24)
    assert busy.max() > 3 * busy.min()                   # a daily cycle
    again = c.make_day()
    assert all(np.array_equal(again[k], day[k]) for k in day)  # seeded


def test_window_counts_match_brute_force():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 50, 400))
    user = rng.integers(0, 5, 400)
    got = c.window_counts(t, user, 3.0)
    want = [np.sum((user == u) & (t > x - 3.0) & (t <= x)) for x, u in zip(t, user)]
    assert got.tolist() == want


def test_rate_limit_burst_and_scraper(small_day):
    fair = c.apply_rate_limit(small_day, {"algorithm": "fixed-window", "limit": 20,
                                          "window": 10.0})
    assert fair["wrongly_refused"] == 0 and fair["refused"] > 0
    assert 1.9 <= fair["scraper_per_s"] <= c.TARGETS["scraper_per_s"]
    strict = c.apply_rate_limit(small_day, {"algorithm": "token-bucket", "limit": 10,
                                            "window": 5.0})
    assert strict["wrongly_refused"] > 0


@pytest.mark.parametrize("algorithm", ["fixed-window", "sliding-log", "sliding-counter",
                                       "token-bucket"])
@pytest.mark.parametrize("limit, window", [(1, 10.0), (3, 0.5), (20, 10.0), (17, 1.0)])
def test_rate_limit_decides_as_one_limiter_per_user(algorithm, limit, window):
    """The day's decisions against the plainest reading: every request of every user through
    that user's own limiter, in time order (the day skips users who cannot be refused and
    groups the rest with one sort)."""
    from simlab.ratelimit import Limiter

    day = c.make_day(seed=5, n_background=20_000, sale_requests=20_000)
    rule = {"algorithm": algorithm, "limit": limit, "window": window}
    got = c._rate_limit(day, rule)
    limiters, want = {}, []
    for t, user in zip(day["t"].tolist(), day["user"].tolist()):
        if user not in limiters:
            limiters[user] = Limiter(algorithm, limit, window)
        want.append(limiters[user].allow(t))
    want = np.array(want)
    assert np.array_equal(got["allowed"], want)
    assert got["refused"] == int((~want).sum())
    scraper = day["user"] == c.SCRAPER
    span = np.ptp(day["t"][scraper])
    assert got["scraper_per_s"] == pytest.approx(want[scraper].sum() / span)


def test_each_choice_moves_its_target(small_day):
    good = c.simulate_day(GOOD, small_day)
    ttl_only = c.simulate_day({**GOOD, "invalidation": "ttl"}, small_day)
    unlocked = c.simulate_day({**GOOD, "stampede": "none"}, small_day)
    short = c.simulate_day({**GOOD, "ttl": {"product page": 5, "dashboard": 5}}, small_day)
    nothing = c.simulate_day({**GOOD, "cache": []}, small_day)
    assert ttl_only["stale_share"] > 5 * good["stale_share"]
    assert unlocked["peak_db_qps"] > good["peak_db_qps"]
    assert short["hit_ratio"] < good["hit_ratio"] and short["p99_ms"] >= good["p99_ms"]
    assert nothing["hit_ratio"] == 0 and nothing["memory_mb"] == 0
    assert good["monthly_cost"] == pytest.approx(48 / 1000 * c.PRICE_PER_GB_MONTH)
    table = c.score(good)
    assert list(table.index) == list(c.TARGETS) and table["met"].dtype == bool


@pytest.mark.parametrize("change, field", [
    ({"size_mb": -1}, "size_mb"), ({"policy": "mru"}, "policy"),
    ({"cache": ["checkout"]}, "cache"), ({"ttl": {"product page": 60}}, "dashboard"),
    ({"rate_limit": {"algorithm": "fixed-window", "limit": 0, "window": 1}}, "limit"),
    ({"colour": "blue"}, "colour"), ({"invalidation": "never"}, "invalidation"),
])
def test_bad_designs_name_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        c.check_design({**c.EXAMPLE, **change})


def test_live_slice_on_the_real_filing_room(redis_client, small_day):
    from simlab.live.shop import shop as open_shop

    sale = c.day_slice(small_day, c.SALE_START, 300)
    shop = open_shop()
    try:
        live = c.run_live(GOOD, redis_client, shop, sale)
    finally:
        shop.close()
    assert live["requests"] == 300 and live["hit_ratio"] > 0.5
    assert live["memory_mb"] > 0
    # every order the limiter let through was handed to the workers, and scored like the day
    orders = np.flatnonzero(sale["kind"] == c.ORDER)
    assert orders.size and live["queue_length"] == orders.size - live["refused_orders"]
    assert set(c.score(live).index) == set(c.TARGETS)
    model = c.simulate_day(GOOD, sale)
    assert abs(live["hit_ratio"] - model["hit_ratio"]) < 0.05
    assert not list(redis_client.scan_iter(simlab.key("capstone", "*")))  # cleaned up
