import numpy as np
import pandas as pd
import pytest

import simlab
from simlab.workloads import GET, SET, TraceError


def test_zipf_probabilities_follow_the_power_law():
    p = simlab.workloads.zipf_probabilities(1000, 1.2)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[9] == pytest.approx(10 ** 1.2)
    assert np.all(np.diff(p) < 0)


def test_alpha_zero_is_uniform():
    p = simlab.workloads.zipf_probabilities(50, 0)
    assert np.allclose(p, 1 / 50)


def test_zipf_draws_match_the_popularity():
    w = simlab.zipf(20, 1.0, 200_000, seed=3)
    counts = np.bincount(w.keys, minlength=20) / len(w)
    assert np.allclose(counts, simlab.workloads.zipf_probabilities(20, 1.0), atol=0.004)


def test_same_seed_same_workload_bit_for_bit():
    a = simlab.zipf(1000, 0.9, 5000, rate=100.0, read_fraction=0.8, seed=11)
    b = simlab.zipf(1000, 0.9, 5000, rate=100.0, read_fraction=0.8, seed=11)
    c = simlab.zipf(1000, 0.9, 5000, rate=100.0, read_fraction=0.8, seed=12)
    for name in ("keys", "ops", "times", "sizes"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.keys, c.keys)
    assert a.params["seed"] == 11


def test_streams_are_independent():
    """Turning on writes must not change which keys are drawn."""
    a = simlab.zipf(1000, 0.9, 5000, seed=5)
    b = simlab.zipf(1000, 0.9, 5000, read_fraction=0.5, rate=10.0, seed=5)
    assert np.array_equal(a.keys, b.keys)


def test_poisson_arrivals_have_the_rate():
    t = simlab.workloads.poisson_arrivals(100_000, 250.0, rng=1)
    assert np.all(np.diff(t) >= 0)
    assert 1 / np.mean(np.diff(t)) == pytest.approx(250.0, rel=0.02)


def test_read_fraction_and_hot_set():
    w = simlab.hot_set(1000, 100_000, hot_fraction=0.2, hot_share=0.8, read_fraction=0.9, seed=1)
    assert np.mean(w.ops == GET) == pytest.approx(0.9, abs=0.01)
    assert np.mean(w.keys < 200) == pytest.approx(0.8, abs=0.01)
    assert set(np.unique(w.ops)) <= {GET, SET}


def test_value_size_distribution():
    w = simlab.zipf(10, 1.0, 10_000, value_size=simlab.LogNormal(100, 1000), seed=1)
    assert np.median(w.sizes) == pytest.approx(100, rel=0.1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_keys=0, alpha=1.0, n_requests=10), "n_keys must be a positive integer, got 0"),
    (dict(n_keys=10, alpha=-1.0, n_requests=10), "alpha must be a non-negative"),
    (dict(n_keys=10, alpha=1.0, n_requests=-3), "n_requests must be a positive integer, got -3"),
    (dict(n_keys=10, alpha=1.0, n_requests=10, rate=0), "rate must be a positive"),
    (dict(n_keys=10, alpha=1.0, n_requests=10, read_fraction=1.5), "read_fraction must be"),
    (dict(n_keys=10, alpha=1.0, n_requests=10, ttl=-1), "ttl must be a positive"),
    (dict(n_keys=10, alpha=1.0, n_requests=10, value_size=0), "value_size must be a positive"),
])
def test_bad_zipf_arguments_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simlab.zipf(**kwargs)


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="n_keys must be a positive integer, got '10'"):
        simlab.zipf("10", 1.0, 10)
    with pytest.raises(TypeError, match="alpha"):
        simlab.zipf(10, "high", 10)


def test_text_trace(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\nb\na\nc\n\na\n")
    w = simlab.read_trace(path)
    assert len(w) == 5
    assert list(w.key_names[w.keys]) == ["a", "b", "a", "c", "a"]
    assert w.times is None and np.all(w.ops == GET)


def test_csv_trace_with_all_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("key,t,op,size,ttl\nu1,0.0,get,100,\nu2,0.5,SET,20,30\nu1,1.5,del,0,\n")
    w = simlab.read_trace(path)
    assert list(w.times) == [0.0, 0.5, 1.5]
    assert list(w.ops) == [0, 1, 2]
    assert list(w.sizes) == [100, 20, 0]
    assert np.isnan(w.ttls[0]) and w.ttls[1] == 30


@pytest.mark.parametrize("body, message", [
    ("key,t\na,1\nb,0.5\n", "column 't' must hold non-decreasing times; row 2 has '0.5'"),
    ("key,t\na,soon\n", "column 't' must hold a finite time in seconds >= 0; row 1 has 'soon'"),
    ("key,t\na,0\nb,inf\n", "column 't' must hold a finite time in seconds >= 0; row 2 has 'inf'"),
    ("key,op\na,put\n", "column 'op' must hold one of get, set, del; row 1 has 'put'"),
    ("key,size\na,-4\n", "column 'size' must hold a size in bytes from 0 to "
                         "9223372036854775807; row 1 has '-4'"),
    ("key,size\na,3\nb,1e30\n", "column 'size' must hold a size in bytes from 0 to "
                                "9223372036854775807; row 2 has '1e30'"),
    ("key,ttl\na,0\n", "column 'ttl' must hold a finite TTL in seconds > 0 or nothing; "
                       "row 1 has '0'"),
    ("key,ttl\na,inf\n", "column 'ttl' must hold a finite TTL in seconds > 0 or nothing; "
                         "row 1 has 'inf'"),
    ("id,t\na,1\n", "needs a 'key' column"),
    ("key,when\na,1\n", "unknown column"),
])
def test_bad_csv_traces_name_column_and_row(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(TraceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        simlab.read_trace(path)


def test_missing_trace_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="trace file not found"):
        simlab.read_trace(tmp_path / "nope.txt")


def test_workload_head_and_repr():
    w = simlab.zipf(10, 1.0, 20, seed=1)
    assert "20 requests" in repr(w)
    assert isinstance(w.head(), pd.DataFrame)
