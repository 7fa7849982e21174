"""The simulated stampede and staleness against their theory, and the `simlab stampede` CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest

from simlab import stampede as st


def cli(*args):
    return subprocess.run([sys.executable, "-m", "simlab.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_none_gives_rate_times_recompute_concurrent_recomputations():
    run = st.simulate_stampede(rate=1000, recompute=0.1, ttl=2, duration=40, strategy="none",
                               seed=1)
    s = run.summary()
    # every request in the 100 ms before the first fill misses: Poisson(100) per expiry
    assert s["recomputations_per_expiry"] == pytest.approx(100, rel=0.1)
    per_cycle = run.queries.groupby("cycle").apply(
        lambda q: st.peak_concurrency(q["start"], q["end"]))
    assert per_cycle.mean() == pytest.approx(100, rel=0.1)
    assert s["cycles"] >= 15


def test_lock_gives_exactly_one_recompute_per_expiry():
    run = st.simulate_stampede(rate=1000, recompute=0.1, ttl=2, duration=40, strategy="lock",
                               seed=1)
    s = run.summary()
    assert s["max_concurrent_recomputations"] == 1
    assert s["recomputations"] == s["cycles"]
    # one expiry every ttl + recompute (+ the gap to the next request)
    assert s["recomputations"] == pytest.approx(40 / 2.1, abs=1.5)
    assert s["waits"] > 0 and s["stale_reads"] == 0


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_xfetch_matches_its_trigger_probability(beta):
    theory = st.xfetch_expected(1000, 0.02, beta)
    run = st.simulate_stampede(rate=1000, recompute=0.02, ttl=0.5, duration=700,
                               strategy="xfetch", beta=beta, seed=3)
    s = run.summary()
    assert s["cycles"] > 1000
    assert s["recomputations_per_expiry"] == pytest.approx(
        theory["recomputations_per_expiry"], rel=0.1)
    assert s["mean_lead_s"] == pytest.approx(theory["lead_time_s"], rel=0.1)
    # the key is almost always recomputed before it expires (P(lead < delta) = e^-7.4 here)
    assert (run.requests["outcome"] == "miss").sum() < 0.01 * s["cycles"]


def test_xfetch_probability_formula():
    assert st.xfetch_probability(0.0, 1.0, 0.1) == 1.0
    assert st.xfetch_probability(0.2, 1.0, 0.1) == pytest.approx(np.exp(-2))


def test_swr_serves_stale_and_refreshes_once():
    s = st.simulate_stampede(rate=1000, recompute=0.1, ttl=2, duration=20, strategy="swr",
                             seed=1).summary()
    assert s["max_concurrent_recomputations"] == 1
    assert s["stale_reads"] == pytest.approx(s["recomputations"] * 100, rel=0.2)
    assert s["p99_ms"] < 1


def test_clients_cap_concurrency():
    s = st.simulate_stampede(rate=1000, recompute=0.1, ttl=2, duration=10, strategy="none",
                             clients=8, seed=1).summary()
    assert s["max_concurrent_recomputations"] == 8


def test_same_seed_same_run():
    a = st.simulate_stampede(rate=500, recompute=0.05, ttl=1, duration=5, strategy="xfetch",
                             seed=9)
    b = st.simulate_stampede(rate=500, recompute=0.05, ttl=1, duration=5, strategy="xfetch",
                             seed=9)
    assert a.summary() == b.summary()


def test_bad_parameters_name_themselves():
    with pytest.raises(ValueError, match="strategy"):
        st.simulate_stampede(rate=1, recompute=1, ttl=1, duration=1, strategy="nope")
    with pytest.raises(ValueError, match="recompute"):
        st.simulate_stampede(rate=1, recompute=-1, ttl=1, duration=1)
    with pytest.raises(TypeError, match="clients"):
        st.simulate_stampede(rate=1, recompute=1, ttl=1, duration=1, clients=2.5)


def test_ttl_only_staleness_matches_simulation():
    events = st.staleness_events(50, 5.0, 0.5, 200, seed=1)
    sim = st.simulate_staleness(events, policy="ttl", ttl=2.0)
    theory = st.ttl_only_staleness(5.0, 0.5, 2.0)
    assert sim["stale_share"] == pytest.approx(theory["stale_share"], rel=0.05)
    assert sim["mean_stale_age_s"] == pytest.approx(theory["mean_stale_age_s"], rel=0.05)
    assert st.simulate_staleness(events, policy="delete", ttl=2.0)["stale_reads"] == 0


def test_write_behind_simulation_loses_the_unflushed_tail():
    out = st.simulate_write_behind_crash(rate=200, flush_interval=0.5, crash_at=10.3, seed=1)
    assert out["lost"] == pytest.approx(out["expected_lost"], abs=4 * np.sqrt(60))
    assert out["acknowledged"] == out["in_filing_room"] + out["lost"]
    assert 0 < out["window_max_ms"] <= 500


def test_cli_json_keys():
    out = cli("stampede", "--rate", "1000", "--recompute", "0.1", "--ttl", "2", "--duration",
              "10", "--strategy", "lock", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for name in ("requests", "recomputations", "max_concurrent_recomputations",
                 "db_queries_per_s_peak", "stale_reads", "p99_ms", "seed", "elapsed_s"):
        assert name in data
    assert data["max_concurrent_recomputations"] == 1 and data["seed"] == 1


def test_cli_json_is_strict_with_no_requests():
    out = cli("stampede", "--rate", "0.001", "--recompute", "0.1", "--ttl", "2",
              "--duration", "1", "--strategy", "none", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert "NaN" not in out.stdout
    assert json.loads(out.stdout)["p99_ms"] is None


@pytest.mark.parametrize("args, name", [
    (["--rate", "-1"], "--rate"), (["--recompute", "0"], "--recompute"),
    (["--strategy", "fast"], "--strategy"), (["--beta", "nan"], "--beta"),
    (["--clients", "0"], "--clients")])
def test_cli_bad_argument_one_line(args, name):
    base = {"--rate": "100", "--recompute": "0.1", "--ttl": "1", "--duration": "2",
            "--strategy": "none"}
    base.update(dict(zip(args[::2], args[1::2])))
    out = cli("stampede", *[x for kv in base.items() for x in kv])
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and name in out.stderr
