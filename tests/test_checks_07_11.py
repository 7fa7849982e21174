"""Checks 07, 09, 10 and 11 after a learner's second pass: a returned value the check cannot
compare (an array, a number of 5,000 digits, an object whose ``!=`` or truth value raises) is
named in one kind line, never a traceback and never blamed on the learner's function; a take
that never waits on an empty queue fails; a hyphen in a hash tag separates words; a pool size
written as text is read like every other number; a near cache check given a table instead of
the reads says what to pass; counts read as counts."""
import time

import numpy as np
import pytest

import simlab
from simlab import checks, queueing
from simlab.live.invalidation import RELEASE


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def _fails(check, *args, **kwargs) -> str:
    """``check`` fails lenient with one or two kind lines and no traceback, and strict with
    the same kind of AssertionError; returns the lenient message."""
    verdict = check(*args, **kwargs)
    assert isinstance(verdict, checks.Verdict) and not verdict
    message = verdict.message
    assert message.startswith(checks.NOT_YET) and "Traceback" not in message
    assert len(message.strip().splitlines()) <= 2, message
    return message


def _strict_fails(monkeypatch, check, *args, **kwargs) -> str:
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError) as raised:
        check(*args, **kwargs)
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS")
    assert str(raised.value).startswith(checks.NOT_YET)
    return str(raised.value)


class _TruthRaises:
    def __bool__(self):
        raise RuntimeError("no truth value")


class _CompareRaises:
    def __eq__(self, other):
        raise RuntimeError("no ==")

    def __ne__(self, other):
        raise RuntimeError("no !=")

    __hash__ = object.__hash__


class _ReprRaises:
    def __repr__(self):
        raise RuntimeError("no repr")


# -- 07: what take returns -------------------------------------------------------------------
def _blmove(r, queue, processing):
    return r.blmove(queue, processing, 0.1, "RIGHT", "LEFT")


@pytest.mark.parametrize("returned, named", [
    (lambda job: np.array([job, job]), "an array of 2 values"),
    (lambda job: _CompareRaises(), "_CompareRaises object"),
    (lambda job: _ReprRaises(), "_ReprRaises that cannot be shown"),
])
def test_take_that_returns_what_cannot_be_compared_is_named_in_one_line(monkeypatch, returned,
                                                                        named):
    def take(r, queue, processing):
        return returned(_blmove(r, queue, processing))

    said = _fails(checks.check_crash_safe_take, take)
    assert named in said and "take raised" not in said
    assert named in _strict_fails(monkeypatch, checks.check_crash_safe_take, take)


def test_take_that_returns_an_array_to_the_eight_workers_is_named_not_a_traceback():
    """The first calls return the job; the eight workers' calls (queue "many") an array:
    the check compares what they returned, so it names it first."""
    def take(r, queue, processing):
        job = _blmove(r, queue, processing)
        return np.array([job, job]) if queue == "many" else job

    said = _fails(checks.check_crash_safe_take, take)
    assert "an array of 2 values" in said and "raised" not in said


def test_take_that_returns_none_to_some_workers_is_told_what_went_wrong():
    """A worker told None for a job it moved, or two jobs moved a call (later calls find
    nothing): the check compares None with the jobs moved without a TypeError of its own,
    and never says None was handed to two workers."""
    def hides_one(r, queue, processing):
        job = _blmove(r, queue, processing)
        return None if queue == "many" and job == "job-3" else job

    def moves_two(r, queue, processing):
        if queue == "many":
            r.lmove(queue, processing, "RIGHT", "LEFT")
        return _blmove(r, queue, processing)

    for take in (hides_one, moves_two):
        said = _fails(checks.check_crash_safe_take, take)
        assert "8 workers taking at once: what take returned is not what it moved" in said
        assert "raised" not in said and "None was handed" not in said


# -- 07: a take must wait on an empty queue --------------------------------------------------
def _rpoplpush(r, queue, processing):
    return r.rpoplpush(queue, processing)


def _lmove(r, queue, processing):
    return r.lmove(queue, processing, "RIGHT", "LEFT")


def _lua(r, queue, processing):
    return r.eval("local j = redis.call('RPOP', KEYS[1]); if j then "
                  "redis.call('LPUSH', KEYS[2], j) end; return j", 2, queue, processing)


@pytest.mark.parametrize("take", [_rpoplpush, _lmove, _lua])
def test_take_that_never_waits_on_an_empty_queue_fails_every_time(monkeypatch, take):
    for i in range(5):
        said = _fails(checks.check_crash_safe_take, take)
        assert "empty queue take returned None at once" in said
        assert "0.1" in said
    assert "at once" in _strict_fails(monkeypatch, checks.check_crash_safe_take, take)
    # a wait forever or too long is still named as before
    assert "forever" in _fails(checks.check_crash_safe_take,
                               lambda r, q, p: r.blmove(q, p, 0, "RIGHT", "LEFT"))
    assert "up to 5 s" in _fails(checks.check_crash_safe_take,
                                 lambda r, q, p: r.blmove(q, p, 5, "RIGHT", "LEFT"))


def _brpoplpush(r, queue, processing):
    return r.brpoplpush(queue, processing, 0.1)


def _raw_blmove(r, queue, processing):
    return r.execute_command("BLMOVE", queue, processing, "RIGHT", "LEFT", 0.1)


def _lmove_then_blmove(r, queue, processing):
    return r.lmove(queue, processing, "RIGHT", "LEFT") or _blmove(r, queue, processing)


def _polls(r, queue, processing):
    """No blocking command: polls for 0.1 s by the clock (a right answer, if not the best)."""
    deadline = time.monotonic() + 0.1
    while True:
        job = r.lmove(queue, processing, "RIGHT", "LEFT")
        if job is not None or time.monotonic() >= deadline:
            return job
        time.sleep(0.01)


@pytest.mark.parametrize("take", [_blmove, _brpoplpush, _raw_blmove, _lmove_then_blmove,
                                  _polls])
def test_take_that_waits_on_an_empty_queue_passes_every_time(monkeypatch, take):
    for i in range(3):
        assert checks.check_crash_safe_take(take)
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    assert checks.check_crash_safe_take(take)


# -- 07: a pool size written as text ---------------------------------------------------------
def test_pool_size_reads_a_whole_number_written_as_text(monkeypatch):
    want = next(c for c in range(11, 40)
                if queueing.erlang_c_wait_quantile(5, 2.0, c, 0.95) < 1.0)
    for text in (str(want), f" {want} ", f"{want}.0"):
        assert checks.check_pool_size(text, arrival_rate=5, service_mean=2.0), text
    assert not checks.check_pool_size(str(want - 1), arrival_rate=5, service_mean=2.0)
    said = _fails(checks.check_pool_size, f"{want}.5", arrival_rate=5, service_mean=2.0)
    assert "whole number" in said and f"'{want}.5'" in said
    for text in ("many", "", "nan", "-3"):
        _fails(checks.check_pool_size, text, arrival_rate=5, service_mean=2.0)
    assert "far more" in _fails(checks.check_pool_size, "1" * 5000, arrival_rate=5,
                                service_mean=2.0)
    _strict_fails(monkeypatch, checks.check_pool_size, f"{want}.5", arrival_rate=5,
                  service_mean=2.0)


# -- 09: what release returns ----------------------------------------------------------------
def _release_returning(make):
    def release(r, key, token):
        return make(r.eval(RELEASE, 1, key, token))
    return release


@pytest.mark.parametrize("make, named", [
    (lambda n: 10 ** 5000 if n else 0, "a number of about 5,001 digits"),
    (lambda n: np.array([n, n]), "an array of 2 values"),
    (lambda n: _TruthRaises(), "_TruthRaises object"),
    (lambda n: _ReprRaises(), "_ReprRaises that cannot be shown"),
    (lambda n: "yes" if n else "no", "'yes'"),
    (lambda n: 2 * n, "2"),
])
def test_release_that_returns_no_true_or_false_is_named_not_blamed(monkeypatch, make, named):
    release = _release_returning(make)
    said = _fails(checks.check_release, release)
    assert "must return True or False" in said and named in said
    assert "raised" not in said
    assert "True or False" in _strict_fails(monkeypatch, checks.check_release, release)


@pytest.mark.parametrize("make", [bool, lambda n: n, lambda n: n == 1, np.bool_,
                                  lambda n: np.int64(n)])
def test_release_that_returns_true_or_false_or_one_or_zero_passes(make):
    assert checks.check_release(_release_returning(make))


# -- 10: one policy or several ---------------------------------------------------------------
def test_survivors_names_unknown_policies_in_the_right_number():
    import pandas as pd
    crashes = pd.DataFrame({"acknowledged": [2400, 3800, 2000, 2700, 250],
                            "lost": [2400, 1500, 0, 0, 0]},
                           index=["none", "rdb", "aof-no", "aof-everysec", "aof-always"])
    said = _fails(checks.check_survivors, {"aof_no", "everysec", "always"}, crashes)
    assert "always, aof_no, everysec are not policies in the table" in said
    said = _fails(checks.check_survivors, {"aof-no", "aof-everysec", "always"}, crashes)
    assert "always is not a policy in the table" in said


# -- 11: hash tags ---------------------------------------------------------------------------
def test_same_slot_reads_a_hyphen_in_a_tag_as_a_separator_not_a_minus_sign():
    for tag in ("{user-42}", "{tenant-7:user-42}", "{user:42}", "{user_42}", "{u42}", "{42}",
                "{user:00042}", "{user.42}"):
        assert checks.check_same_slot(f"{tag}:cart", f"{tag}:profile", user_id=42), tag
    # and still fails a tag that is not this user's, or no tag at all
    for tag, words in (("{user-43}", "another number"), ("{user:-42}", "another number"),
                       ("{-42}", "another number"), ("{user-420}", "another number"),
                       ("{user}", "does not name the user"), ("{}", "empty tag")):
        said = _fails(checks.check_same_slot, f"{tag}:cart:42", f"{tag}:profile:42",
                      user_id=42)
        assert words in said, (tag, said)
    _fails(checks.check_same_slot, "user-42:cart", "user-42:profile", user_id=42)


# -- 11: the near cache's workload -----------------------------------------------------------
def test_near_cache_size_given_a_table_or_a_list_says_to_pass_the_reads(monkeypatch):
    reads = simlab.zipf(2_000, 1.0, 3_000, seed=6)
    table = simlab.lru_curve(reads, sizes=[100])
    for wrong, named in ((table, "a DataFrame of 1 row x 3 columns"),
                         (list(reads.keys[:50]), "[")):
        said = _fails(checks.check_near_cache_size, 173, wrong)
        assert named in said and "pass reads" in said
    _strict_fails(monkeypatch, checks.check_near_cache_size, 173, table)


def test_near_cache_size_of_one_key_is_one_key():
    reads = simlab.zipf(2_000, 1.0, 3_000, seed=6)
    assert "with 1 key the near cache" in _fails(checks.check_near_cache_size, 1, reads)


# -- counts read as counts -------------------------------------------------------------------
@pytest.mark.real
def test_cluster_nodes_names_masters_as_whole_numbers():
    if not simlab.live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    from simlab.live import cluster as live_cluster
    with live_cluster.PrivateCluster(masters=3, replicas=1, node_timeout=1000) as c:
        nodes = c.nodes()
    assert str(nodes["master"].dtype) == "Int64"
    replicas = nodes[nodes["role"] == "replica"]
    assert nodes.loc[nodes["role"] == "master", "master"].isna().all()
    assert set(replicas["master"]) <= set(nodes.index[nodes["role"] == "master"])
    assert ".0" not in nodes[["role", "master"]].to_string()
