"""Lesson 02's checks: the right answer passes, typical wrong ones fail with a hint and
without the value."""
import numpy as np
import pytest

from simlab.checks import check_fanout, check_speedup

rng = np.random.default_rng(0)
CACHED = rng.lognormal(np.log(5e-5), 0.3, 500)
QUERY = rng.lognormal(np.log(3e-2), 0.8, 40)         # long tail: mean far above median
WANT = np.median(QUERY) / np.median(CACHED)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def test_speedup_right():
    assert check_speedup(WANT, CACHED, QUERY)
    assert check_speedup(float(WANT) * 1.01, CACHED, QUERY)


@pytest.mark.parametrize("answer, words", [
    (1 / WANT, "slow time over the fast one"),
    (QUERY.mean() / CACHED.mean(), "ratio of means"),
    (WANT * 2, "not the ratio of the two medians"),
    (np.median(CACHED), "not the ratio"),
])
def test_speedup_wrong(answer, words, capsys):
    verdict = check_speedup(answer, CACHED, QUERY)
    out = capsys.readouterr().out
    assert not verdict and words in out and "Hint:" in out
    assert f"{WANT:.3g}" not in out and f"{WANT:,.0f}" not in out and f"{WANT:.2f}" not in out


def test_speedup_ratio_of_means_fails_even_within_rounding_of_the_medians(capsys):
    """Samples whose mean ratio lies within 1% of the median ratio: the mean ratio as computed
    still fails (the rounding allowance is for the medians' ratio)."""
    cached = np.random.default_rng(2).lognormal(np.log(1e-4), 0.3, 400)
    query = 250 * cached
    query[np.argmax(query)] *= 3          # one slow outlier moves the mean, not the median
    means, medians = query.mean() / cached.mean(), np.median(query) / np.median(cached)
    assert means != medians and abs(means / medians - 1) < 0.02
    verdict = check_speedup(means, cached, query)
    assert not verdict and "ratio of means" in capsys.readouterr().out
    assert check_speedup(round(medians), cached, query)


def test_speedup_missing_and_strict(monkeypatch, capsys):
    assert not check_speedup(None, CACHED, QUERY)
    assert "still None" in capsys.readouterr().out
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError, match="Not yet"):
        check_speedup(1 / WANT, CACHED, QUERY)


def test_fanout_right():
    assert check_fanout(1 - 0.99 ** 10)


@pytest.mark.parametrize("answer, words", [
    (0.99 ** 10, "every lookup is fast"),
    (0.1, "more than once"),
    (1.5, "not a probability"),
    (0.5, "is not it"),
])
def test_fanout_wrong(answer, words, capsys):
    verdict = check_fanout(answer)
    out = capsys.readouterr().out
    assert not verdict and words in out and "Hint:" in out
    assert "0.0956" not in out and "9.6%" not in out and "1 - 0.99" not in out
