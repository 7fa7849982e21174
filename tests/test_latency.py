import numpy as np
import pytest

import simlab
from simlab.latency import PRESETS, Constant, fanout_latency


def test_lognormal_from_median_and_p99():
    d = simlab.LogNormal(median=1e-3, p99=8e-3)
    assert d.quantile(0.5) == pytest.approx(1e-3)
    assert d.quantile(0.99) == pytest.approx(8e-3)
    x = d.sample(200_000, rng=1)
    assert np.median(x) == pytest.approx(1e-3, rel=0.02)
    assert np.quantile(x, 0.99) == pytest.approx(8e-3, rel=0.05)
    assert x.mean() == pytest.approx(d.mean, rel=0.03)
    assert repr(d) == "LogNormal(median=0.001, p99=0.008)"


def test_same_seed_same_draws():
    d = simlab.latency.Gamma(shape=2, mean=0.01)
    assert np.array_equal(d.sample(100, rng=7), d.sample(100, rng=7))


@pytest.mark.parametrize("make, mean", [
    (lambda: simlab.latency.Gamma(shape=3, mean=0.002), 0.002),
    (lambda: simlab.latency.Exponential(mean=0.004), 0.004),
    (lambda: simlab.latency.Constant(0.5), 0.5),
    (lambda: simlab.latency.Empirical([1.0, 2.0, 3.0]), 2.0),
    (lambda: simlab.latency.Mixture([(0.9, simlab.latency.Constant(1.0)),
                                     (0.1, simlab.latency.Constant(11.0))]), 2.0),
])
def test_means_match_samples(make, mean):
    d = make()
    assert d.mean == pytest.approx(mean)
    assert d.sample(100_000, rng=2).mean() == pytest.approx(mean, rel=0.03)


def test_mixture_quantile_inverts_its_cdf():
    m = simlab.latency.Mixture([(0.99, simlab.LogNormal(1e-4, 3e-4)),
                                (0.01, simlab.LogNormal(5e-3, 2e-2))])
    q = m.quantile(0.995)
    assert float(m.cdf(q)) == pytest.approx(0.995, abs=1e-6)
    assert "Mixture" in repr(m)


def test_empirical_fit():
    x = simlab.LogNormal(2e-4, 1e-3).sample(50_000, rng=3)
    fitted = simlab.LogNormal.fit(x)
    assert fitted.median == pytest.approx(2e-4, rel=0.03)
    assert fitted.p99 == pytest.approx(1e-3, rel=0.08)


@pytest.mark.parametrize("make, message", [
    (lambda: simlab.LogNormal(median=-1, p99=1), "median must be a positive"),
    (lambda: simlab.LogNormal(median=2, p99=1), r"p99 must be greater than median \(2\), got 1"),
    (lambda: simlab.latency.Gamma(shape=0, mean=1), "shape must be a positive"),
    (lambda: simlab.latency.Exponential(mean=float("inf")), "mean must be a positive finite"),
    (lambda: simlab.latency.Constant(-0.1), "value must be a non-negative"),
    (lambda: simlab.latency.Empirical([]), "samples must hold at least one value"),
    (lambda: simlab.latency.Mixture([]), "components must hold"),
])
def test_bad_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_quantile_range_checked():
    with pytest.raises(ValueError, match="q must be between 0 and 1, got 1.5"):
        simlab.latency.Exponential(1.0).quantile(1.5)


def test_presets_say_where_numbers_come_from():
    for name in PRESETS:
        p = simlab.preset(name)
        assert len(p.source) > 40
        assert p.sample(10, rng=1).shape == (10,)
        assert name in repr(p)
    with pytest.raises(ValueError, match="name must be one of"):
        simlab.preset("carrier-pigeon")


def test_fanout():
    pages = fanout_latency(Constant(0.001), 10, 100, seed=1)
    assert np.allclose(pages, 0.001)
    serial = fanout_latency(Constant(0.001), 10, 100, parallel=False, seed=1)
    assert np.allclose(serial, 0.01)
    model = simlab.LogNormal(1e-3, 8e-3)
    slow = np.mean(fanout_latency(model, 10, 200_000, seed=2) > model.quantile(0.99))
    assert slow == pytest.approx(1 - 0.99 ** 10, abs=0.003)
