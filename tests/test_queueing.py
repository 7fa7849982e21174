"""The queue simulation against Erlang C and Little's law; crashes; the CLI."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import simlab
from simlab.queueing import (erlang_c, erlang_c_wait, queue_length, queue_summary,
                             simulate_queue)


def test_erlang_c_known_values():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)                  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_wait(5, 0.1, 1) == pytest.approx(0.1)          # rho/(mu - lambda)
    assert erlang_c_wait(20, 0.1, 1) == math.inf


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.9])
def test_mean_wait_matches_erlang_c(rho):
    """200,000 jobs, exponential service, 4 workers, six seeds. Theory is evaluated at the
    arrival rate and service mean the random draws actually produced (at rho = 0.9 a 0.3%
    deviation there moves the mean wait by 3%). One run's mean wait scatters around theory
    (waits are correlated: 3% between runs at rho = 0.7, 6% at 0.9), so the mean of the six
    relative errors must lie within three of its own standard errors of zero, and that
    standard error must be small enough (under 3%) for the check to catch a biased queue."""
    c, mean = 4, 0.1
    errors = []
    for seed in range(6):
        df = simulate_queue(arrival_rate=rho * c / mean, service_mean=mean, workers=c,
                            jobs=200_000, seed=seed)
        theory = erlang_c_wait(df.attrs["realized_arrival_rate"],
                               df.attrs["realized_service_mean"], c)
        errors.append(df["wait"].mean() / theory - 1)
        assert abs(df.attrs["utilisation"] - rho) < 0.01
    standard_error = np.std(errors, ddof=1) / np.sqrt(len(errors))
    assert standard_error < 0.03, errors
    assert abs(np.mean(errors)) < 3 * standard_error, errors


def test_service_and_crashes_draw_from_their_own_streams():
    """Each component has its own stream of the run's seed (SPEC 7): the service times are
    the ``"service"`` stream's draws, so turning crashes on changes neither the arrivals nor
    the first service time, and no component borrows another's (the filing room's, the
    policy's) stream."""
    from simlab._random import STREAMS, stream
    df = simulate_queue(arrival_rate=5, service_mean=0.01, workers=1, jobs=50, seed=3)
    served = (df["finish"] - df["start"]).to_numpy()
    assert np.allclose(served, stream(3, "service").exponential(0.01, 50))
    crashing = simulate_queue(arrival_rate=5, service_mean=0.01, workers=1, jobs=50,
                              crash_rate=0.5, reliable=True, seed=3)
    assert np.array_equal(crashing["arrival"], df["arrival"])
    assert len(set(STREAMS.values())) == len(STREAMS)


def test_littles_law():
    df = simulate_queue(arrival_rate=30, service=simlab.LogNormal(0.08, 0.5), workers=4,
                        jobs=100_000, seed=2)
    s = queue_summary(df)
    assert s["littles_L"] == pytest.approx(s["littles_lambda_W"], rel=0.03)


def test_backlog_grows_without_bound_when_arrivals_outrun_workers():
    df = simulate_queue(arrival_rate=50, service_mean=0.1, workers=4, jobs=20_000, seed=1)
    q = queue_length(df, points=10)["waiting"].to_numpy()
    assert np.all(np.diff(q[1:]) > 0)                               # it only grows
    assert q[-1] > 0.15 * len(df)                                   # (50 - 40)/50 of arrivals


def test_crashes_lose_jobs_with_plain_pop_and_redeliver_with_the_reliable_queue():
    kw = dict(arrival_rate=20, service_mean=0.1, workers=4, jobs=5000, crash_rate=0.5, seed=1)
    plain = queue_summary(simulate_queue(**kw))
    reliable = queue_summary(simulate_queue(reliable=True, **kw))
    assert plain["lost"] > 0 and plain["processed"] + plain["lost"] == 5000
    assert reliable["lost"] == 0 and reliable["processed"] == 5000
    assert reliable["redelivered"] > 0


def test_same_seed_same_result():
    a = simulate_queue(arrival_rate=10, service_mean=0.2, workers=3, jobs=1000, seed=5)
    b = simulate_queue(arrival_rate=10, service_mean=0.2, workers=3, jobs=1000, seed=5)
    assert a.equals(b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(arrival_rate=0, service_mean=1, workers=1, jobs=1), "arrival_rate must be a positive"),
    (dict(arrival_rate=1, service_mean=1, workers=0, jobs=1), "workers must be a positive integer"),
    (dict(arrival_rate=1, workers=1, jobs=1), "service or service_mean must be given"),
    (dict(arrival_rate=1, service_mean=1, workers=1, jobs=1, crash_rate=-1), "crash_rate"),
])
def test_bad_queue_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_queue(**kwargs)


def test_queue_cli():
    out = subprocess.run([sys.executable, "-m", "simlab.cli", "queue", "--arrival-rate", "20",
                          "--service-mean", "0.1", "--workers", "4", "--jobs", "3000",
                          "--crash-rate", "0.5", "--reliable", "--seed", "1", "--json"],
                         capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    for field in ("processed", "lost", "redelivered", "mean_wait_s", "p95_wait_s",
                  "utilisation"):
        assert field in data
    assert data["lost"] == 0 and data["processed"] == 3000
    bad = subprocess.run([sys.executable, "-m", "simlab.cli", "queue", "--arrival-rate", "-1",
                          "--service-mean", "0.1", "--workers", "4", "--jobs", "10"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "argument --arrival-rate" in bad.stderr
