"""Lesson 11's checks: the right answer passes, typical wrong ones fail, no value revealed."""
import pytest

import simlab
from simlab import checks


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def test_same_slot(capsys):
    assert checks.check_same_slot("shop:{user:42}:cart", "shop:{user:42}:profile")
    assert not checks.check_same_slot("user:42:cart", "user:42:profile")
    assert not checks.check_same_slot("{}user:42:cart", "{}user:42:profile")
    assert "empty tag" in capsys.readouterr().out
    assert not checks.check_same_slot("{user}:42:cart", "{user}:42:profile")
    assert "does not name the user" in capsys.readouterr().out
    assert not checks.check_same_slot(None, "x")
    assert not checks.check_same_slot("{42}a", "{42}a")


def test_hot_shard_ratio(capsys):
    want = simlab.workloads.zipf_probabilities(100_000, 1.0)[0] * 100
    assert checks.check_hot_shard_ratio(want, 100, 100_000, 1.0)
    capsys.readouterr()
    for wrong in (want / 100, 0.01, 1.0, want * 3, "x"):
        assert not checks.check_hot_shard_ratio(wrong, 100, 100_000, 1.0)
    out = capsys.readouterr().out
    assert f"{want:.3g}" not in out and f"{want:.2f}" not in out


def test_hot_shard_ratio_tells_a_percentage_from_the_ratio(capsys):
    """At 64 shards (notebook 11's exercise) the hottest key's share in percent is not the
    answer, and is named."""
    top = simlab.workloads.zipf_probabilities(100_000, 1.0)[0]
    assert checks.check_hot_shard_ratio(top * 64, 64, 100_000, 1.0)
    capsys.readouterr()
    assert not checks.check_hot_shard_ratio(top * 100, 64, 100_000, 1.0)
    assert "percentage" in capsys.readouterr().out


def test_same_slot_names_exactly_this_user(capsys):
    for wrong in ("{user:420}", "{u4242}", "{user:1042}"):
        assert not checks.check_same_slot(wrong + ":cart", wrong + ":profile")
        assert "another number" in capsys.readouterr().out
    assert not checks.check_same_slot("{user:-42}:cart", "{user:-42}:profile")
    assert checks.check_same_slot("{user:42:x}:cart", "{user:42:x}:profile")
    assert not checks.check_same_slot(b"{user:42}:cart", "{user:42}:cart")
    assert "same key" in capsys.readouterr().out
    # a brute-forced collision without a tag: same slot by luck
    from simlab.sharding import key_slot
    target = key_slot("user:42:cart")
    lucky = next(f"user:42:profile{i}" for i in range(10 ** 6)
                 if key_slot(f"user:42:profile{i}") == target)
    assert not checks.check_same_slot("user:42:cart", lucky)
    assert "without a hash tag" in capsys.readouterr().out
    assert checks.check_same_slot("{42}:cart", "{42}:profile")


def test_near_cache_size(capsys):
    w = simlab.zipf(2_000, 1.0, 3_000, seed=6)
    curve = simlab.lru_curve(w, sizes=list(range(1, 2001)))
    want = int(curve.loc[curve["hit_ratio"] >= 0.5, "size"].iloc[0])
    assert checks.check_near_cache_size(want, w)
    capsys.readouterr()
    assert not checks.check_near_cache_size(want - 1, w)
    assert not checks.check_near_cache_size(want * 3, w)
    assert not checks.check_near_cache_size(0.5, w)
    for absurd in (float("inf"), float("-inf"), -3, True):
        assert not checks.check_near_cache_size(absurd, w)
    assert "Traceback" not in capsys.readouterr().out
    assert str(want) not in capsys.readouterr().out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        checks.check_same_slot("a", "b")
