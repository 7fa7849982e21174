"""Latency under load: the finite-source queue model, and real concurrent clients."""
import threading
import time

import numpy as np
import pytest

import simlab
from simlab.live.shop import (Shop, build_shop_sqlite, closed_loop_latency, concurrent_latency,
                              load_curves)


def mva_response(service_mean, think, clients):
    """Exact mean response time of one exponential server and ``clients`` clients that think
    ``think`` seconds between requests (mean-value analysis)."""
    queue = 0.0
    for n in range(1, clients + 1):
        response = service_mean * (1 + queue)
        queue = n / (response + think) * response
    return response


@pytest.mark.parametrize("clients", [1, 2, 5, 10, 20])
def test_model_matches_mean_value_analysis(clients):
    service = simlab.latency.Exponential(0.001)
    lat = closed_loop_latency(service, servers=1, clients=clients, think_s=0.005,
                              requests=60_000, seed=3)
    assert lat.mean() == pytest.approx(mva_response(0.001, 0.005, clients), rel=0.05)


def test_one_client_never_waits():
    lat = closed_loop_latency(simlab.latency.Constant(0.002), servers=1, clients=1, think_s=0.001,
                              requests=100)
    assert np.allclose(lat, 0.002)


def test_as_many_servers_as_clients_never_wait():
    lat = closed_loop_latency(simlab.latency.Constant(0.002), servers=8, clients=8, think_s=0.0,
                              requests=200)
    assert np.allclose(lat, 0.002)


def test_past_the_knee_every_client_adds_a_service_time():
    # no thinking, one server: each request waits for all the others (R = N x S)
    lat = closed_loop_latency(simlab.latency.Constant(0.001), servers=1, clients=16, think_s=0.0,
                              requests=500)
    assert np.allclose(lat, 0.016)
    two = closed_loop_latency(simlab.latency.Constant(0.001), servers=2, clients=16, think_s=0.0,
                              requests=500)
    assert np.allclose(two, 0.008)


def test_model_is_seeded():
    service = simlab.latency.Exponential(0.001)
    a = closed_loop_latency(service, servers=2, clients=8, requests=500, seed=1)
    assert np.array_equal(a, closed_loop_latency(service, servers=2, clients=8, requests=500,
                                                 seed=1))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(servers=0), ValueError, "servers must be a positive integer, got 0"),
    (dict(clients=-1), ValueError, "clients must be a positive integer, got -1"),
    (dict(think_s=-0.1), ValueError, "think_s must be a non-negative finite number"),
    (dict(requests=2.5), TypeError, "requests must be a positive integer"),
])
def test_model_checks_its_arguments(kwargs, error, match):
    args = dict(servers=1, clients=1, think_s=0.0, requests=10)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        closed_loop_latency(simlab.latency.Constant(0.001), **args)
    with pytest.raises(TypeError, match="service must be a latency distribution"):
        closed_loop_latency(0.001, servers=1, clients=1)


def test_real_clients_queue_for_a_shared_server():
    lock = threading.Lock()

    def make_call(i):
        def call():                 # one "server": a critical section of 2 ms
            with lock:
                time.sleep(0.002)
        return call

    lat = concurrent_latency(make_call, (1, 4), duration_s=0.15, think_s=0.0)
    assert set(lat) == {1, 4} and all(len(v) > 0 for v in lat.values())
    # Four clients wait for each other: the mean latency grows (Little's law: the lock serves
    # one call each 2 ms, whoever gets it). Not the median: Python's lock is not fair, so one
    # thread may take it again and again while the others starve, and the median call of
    # the four can be an uncontended 2 ms (seen once on a loaded machine).
    assert np.mean(lat[4]) > 1.5 * np.mean(lat[1])


def test_real_clients_check_their_arguments():
    with pytest.raises(ValueError, match="clients must be a positive integer, got 0"):
        concurrent_latency(lambda i: (lambda: None), (1, 0))
    with pytest.raises(ValueError, match="duration_s must be a positive finite number"):
        concurrent_latency(lambda i: (lambda: None), (1,), duration_s=0)


@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory):
    path = build_shop_sqlite(tmp_path_factory.mktemp("load") / "shop.sqlite", n_users=200,
                             n_products=40, n_orders=3000, seed=5)
    shop = Shop.sqlite(path)
    yield shop
    shop.close()


def test_load_curves_model_and_real_redis(tiny_shop, redis_client):
    query = tiny_shop.time("dashboard", ["books"] * 5)
    cached = np.full(50, 2e-5)
    df = load_curves(tiny_shop, redis_client, query, cached, clients=(1, 8), requests=300,
                     duration_s=0.05)
    assert set(df.columns) == {"system", "how", "clients", "p50_ms", "p99_ms"}
    model = df[df.how == "model"]
    assert len(model) == 4 and (model.p99_ms >= model.p50_ms).all()
    measured = df[df.how == "measured"]
    real = not redis_client.backend.startswith("fakeredis")
    assert len(measured) == (2 if real else 0)        # SQLite: model only; real Redis: both
    assert redis_client.exists("wb:shop:dashboard:load") == 0
