"""Lesson 06's checks, from a learner tester's report: an ``allow`` that returns no bool is
told so (not blamed for the check's own TypeError); one that never counts in Redis is told
that, not that its TTL is too short; a TTL check between INCR and EXPIRE, and EXPIRE before
INCR, get the diagnosis of what they do (a counter without expiry), not a race or a hint they
already follow; and the sliding log's memory names every mistake a value matches and no
mistake it does not. Each check runs the learner's function on its own fakeredis lab."""
import numpy as np
import pytest

import simlab
from simlab import checks, ratelimit

REPEAT = 10     # the race lab's verdicts must never change from run to run


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def fails(check, *args, strict=True) -> str:
    """The message of a failing verdict, lenient (falsy, printed) and strict (raised); one
    problem line and one hint line at most, never a traceback."""
    verdict = check(*args)
    assert isinstance(verdict, checks.Verdict) and not verdict, verdict.message
    message = verdict.message
    assert message.startswith(checks.NOT_YET) and "Traceback" not in message
    assert len(message.strip().splitlines()) <= 2, message
    if strict:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SIMLAB_STRICT_CHECKS", "1")
            with pytest.raises(AssertionError) as raised:
                check(*args)
        assert str(raised.value).startswith(checks.NOT_YET)
    return message


def passes(check, *args):
    verdict = check(*args)
    assert verdict, verdict.message


def _name(user, now, window):
    return simlab.key("rl", user, int(now // window))


# -- 1. allow must return True or False -------------------------------------------------------
def _no_return(r, user, limit, window, now):          # the tester's repro, word for word
    name = simlab.key("rl", user, int(now // window))
    p = r.pipeline(transaction=True)
    p.incr(name)
    p.expire(name, int(window) + 1)
    p.execute()


def _yes_or_no(r, user, limit, window, now):
    p = r.pipeline(transaction=True)
    p.incr(_name(user, now, window))
    p.expire(_name(user, now, window), int(window) + 1)
    count, _ = p.execute()
    return "yes" if count <= limit else "no"


def test_allow_without_return_is_told_to_return_a_bool_not_blamed_for_a_typeerror():
    said = fails(checks.check_fixed_window, _no_return)
    assert "allow must return True or False; it returned None" in said
    assert "forget `return`" in said
    assert "TypeError" not in said and "raised" not in said and "by hand" not in said


def test_allow_returning_a_string_is_shown_what_it_returned():
    said = fails(checks.check_fixed_window, _yes_or_no)
    assert "allow must return True or False; it returned 'yes'" in said
    assert "TypeError" not in said and "forget `return`" not in said


def test_print_passed_as_allow_is_named(capsys):
    said = fails(checks.check_fixed_window, print)
    assert "built-in `print`" in said and "True or False" in said
    assert "TypeError" not in said and "raised" not in said
    assert "FakeRedis" not in capsys.readouterr().out      # never called: no noise printed


def test_numpy_bools_are_answers():
    def numpy_bool(r, user, limit, window, now):
        p = r.pipeline(transaction=True)
        p.incr(_name(user, now, window))
        p.expire(_name(user, now, window), int(window) + 1)
        count, _ = p.execute()
        return np.int64(count) <= limit                 # np.bool_

    passes(checks.check_fixed_window, numpy_bool)


# -- 2. nothing counted is not a TTL too short --------------------------------------------------
def test_a_limiter_that_never_touches_redis_is_told_nothing_was_counted():
    def always(r, user, limit, window, now):
        return True

    def never(r, user, limit, window, now):
        return False

    for fn in (always, never):
        said = fails(checks.check_fixed_window, fn)
        assert "sent no command" in said and "nothing was counted" in said
        assert "INCR a key per user and window" in said
        assert "gone before its window" not in said and "EXPIRE takes" not in said
    assert "every request got through" in fails(checks.check_fixed_window, always)


def test_a_limiter_that_only_reads_is_told_it_wrote_nothing():
    def reads_only(r, user, limit, window, now):
        return int(r.get(_name(user, now, window)) or 0) < limit

    said = fails(checks.check_fixed_window, reads_only)
    assert "only read from Redis (GET)" in said and "nothing was counted" in said
    assert "gone before its window" not in said


def test_keys_written_but_gone_are_still_a_ttl_too_short():
    def ttl_of_zero(r, user, limit, window, now):              # EXPIRE 0 deletes the key
        p = r.pipeline(transaction=True)
        p.incr(_name(user, now, window))
        p.expire(_name(user, now, window), int(window) - 1)
        count, _ = p.execute()
        return count <= limit

    said = fails(checks.check_fixed_window, ttl_of_zero)
    assert "gone before its window ended" in said and "nothing was counted" not in said


# -- 3. a TTL check between INCR and EXPIRE -----------------------------------------------------
def _ttl_then_expire(r, user, limit, window, now):     # the tester's repro, word for word
    name = simlab.key("rl", user, int(now // window))
    c = r.incr(name)
    if r.ttl(name) == -1:
        r.expire(name, int(window) + 1)
    return c <= limit


def _pttl_then_pexpire(r, user, limit, window, now):
    name = _name(user, now, window)
    c = r.incr(name)
    if r.pttl(name) < 0:
        r.pexpire(name, int(window * 1000) + 1000)
    return c <= limit


@pytest.mark.parametrize("wrong", [_ttl_then_expire, _pttl_then_pexpire])
def test_a_ttl_check_between_incr_and_expire_is_a_key_without_expiry_not_a_race(wrong):
    for i in range(REPEAT):
        said = fails(checks.check_fixed_window, wrong, strict=bool(i % 2))
        assert "had no expiry from `INCRBY" in said and "TTL check" in said
        assert "never expire" in said and "one transaction" in said and "NX" in said
        assert "8 clients" not in said and "Read-then-write" not in said
        assert "INCR returns the new count" not in said


def test_a_read_of_the_count_then_a_write_is_still_the_race():
    def get_then_set(r, user, limit, window, now):
        name = _name(user, now, window)
        count = int(r.get(name) or 0)
        if count >= limit:
            return False
        r.set(name, count + 1, ex=int(window) + 1)
        return True

    for i in range(REPEAT):
        said = fails(checks.check_fixed_window, get_then_set, strict=bool(i % 2))
        assert "both read" in said and "Read-then-write" in said


def test_incr_then_expire_nx_in_one_transaction_passes():
    def expire_nx(r, user, limit, window, now):
        p = r.pipeline(transaction=True)
        p.incr(_name(user, now, window))
        p.expire(_name(user, now, window), int(window) + 1, nx=True)
        count, _ = p.execute()
        return count <= limit

    passes(checks.check_fixed_window, expire_nx)


# -- 4. EXPIRE before INCR ----------------------------------------------------------------------
def _expire_first_in_multi(r, user, limit, window, now):      # the tester's repro
    name = _name(user, now, window)
    p = r.pipeline()
    p.expire(name, int(window) + 1)
    p.incr(name)
    _, c = p.execute()
    return c <= limit


def _expire_first_in_a_plain_pipeline(r, user, limit, window, now):
    name = _name(user, now, window)
    p = r.pipeline(transaction=False)
    p.expire(name, int(window) + 1)
    p.incr(name)
    _, c = p.execute()
    return c <= limit


def _expire_first_in_two_round_trips(r, user, limit, window, now):
    name = _name(user, now, window)
    r.expire(name, int(window) + 1)
    return r.incr(name) <= limit


def test_expire_before_incr_in_one_transaction_is_told_the_order():
    for i in range(REPEAT):
        said = fails(checks.check_fixed_window, _expire_first_in_multi, strict=bool(i % 2))
        assert "`EXPIRE " in said and "came before `INCRBY " in said
        assert "does not exist yet does nothing" in said
        assert "INCR first, then EXPIRE, in the same transaction" in said
        assert "send INCR and EXPIRE together" not in said


@pytest.mark.parametrize("wrong", [_expire_first_in_a_plain_pipeline,
                                   _expire_first_in_two_round_trips])
def test_expire_before_incr_outside_a_transaction_is_told_the_order_and_the_transaction(wrong):
    said = fails(checks.check_fixed_window, wrong)
    assert "came before `INCRBY " in said and "does not exist yet does nothing" in said
    assert "INCR first, then EXPIRE, in one transaction: r.pipeline(transaction=True)" in said


def test_an_expire_that_did_nothing_but_is_sent_again_after_incr_passes():
    def expire_around(r, user, limit, window, now):
        name = _name(user, now, window)
        p = r.pipeline(transaction=True)
        p.expire(name, int(window) + 1)       # nothing the first time; harmless
        p.incr(name)
        p.expire(name, int(window) + 1)
        _, count, _ = p.execute()
        return count <= limit

    passes(checks.check_fixed_window, expire_around)


# -- 5. the sliding log's memory ----------------------------------------------------------------
ENTRY, COUNTER = ratelimit.BYTES_PER_LOG_ENTRY, ratelimit.BYTES_PER_COUNTER
USERS, LIMIT = 1_000_000, 100
WANT = USERS * (COUNTER + LIMIT * ENTRY)


def _not_revealed(said):
    for form in (f"{WANT:,}", str(WANT), f"{WANT / 1e9:.2f}", f"{WANT / 1e9:.1f} GB",
                 f"{WANT / 1e6:,.0f} MB"):
        assert form not in said, (form, said)


def test_one_users_log_names_both_causes():
    said = fails(checks.check_sliding_log_memory, COUNTER + LIMIT * ENTRY)
    assert "one user's log" in said and "MB" in said and "all the users" in said
    _not_revealed(said)


def test_one_users_entries_without_the_key_names_both_causes_and_the_key():
    said = fails(checks.check_sliding_log_memory, LIMIT * ENTRY)
    assert "one user's entries" in said and "MB" in said and "BYTES_PER_COUNTER" in said
    _not_revealed(said)


@pytest.mark.parametrize("wrong", [WANT * 1.01, WANT * 2, WANT * 3.3])
def test_too_high_is_not_blamed_on_one_key_per_entry_unless_it_is(wrong):
    said = fails(checks.check_sliding_log_memory, wrong)
    assert "per entry" not in said and "high" in said
    assert "BYTES_PER_COUNTER" in said and "BYTES_PER_LOG_ENTRY" in said
    _not_revealed(said)


def test_infinite_memory_is_told_to_be_finite():
    said = fails(checks.check_sliding_log_memory, float("inf"))
    assert "finite" in said and "per entry" not in said


@pytest.mark.parametrize("wrong", [USERS * LIMIT * COUNTER, USERS * LIMIT * (COUNTER + ENTRY)])
def test_one_key_per_entry_is_named(wrong):
    said = fails(checks.check_sliding_log_memory, wrong)
    assert "one key (BYTES_PER_COUNTER) per entry" in said
    _not_revealed(said)


def test_other_named_mistakes():
    said = fails(checks.check_sliding_log_memory, USERS * COUNTER)
    assert "one counter per user" in said and "fixed window" in said
    said = fails(checks.check_sliding_log_memory, USERS * (COUNTER + ENTRY))
    assert "one entry per user" in said
    said = fails(checks.check_sliding_log_memory, 8 * WANT)
    assert "bits" in said and "per entry" not in said
    said = fails(checks.check_sliding_log_memory, round(WANT / 1e9, 2))
    assert "looks like GB" in said and "one user" not in said
    said = fails(checks.check_sliding_log_memory, USERS * LIMIT * ENTRY)
    assert "each user's key" in said


def test_the_lessons_formula_passes():
    passes(checks.check_sliding_log_memory,
           USERS * (ratelimit.BYTES_PER_COUNTER + LIMIT * ratelimit.BYTES_PER_LOG_ENTRY))


def test_a_ttl_of_milliseconds_that_runs_out_in_the_minute_window_is_named():
    """A TTL of 10 ms outlives the first window's calls when they come fast, and runs out in
    the minute's window when the machine pauses between two calls: that is still a TTL too
    short, not a window number that ignores the window argument."""
    import time

    def pexpire_10ms_with_a_pause(r, user, limit, window, now):
        if user == "dave" and window == 60.0:
            time.sleep(0.03)                     # a busy machine, between two calls
        p = r.pipeline(transaction=True)
        p.incr(_name(user, now, window))
        p.pexpire(_name(user, now, window), 10)
        count, _ = p.execute()
        return count <= limit

    said = fails(checks.check_fixed_window, pexpire_10ms_with_a_pause, strict=False)
    assert "before its window end" in said and "window argument" not in said
