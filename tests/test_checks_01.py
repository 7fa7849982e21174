"""Checks of lessons 00 and 01, after a learner tester's findings: a huge int as the analogy's
answer; right answers that also rule out the filing room; two views a call blamed on a race;
messages that were false about the code (a lock in Redis called a lock in Python, WATCH
without retry, the race named by the string order of the values read); the session check's
messages for a client replaced by an int, an expired key, a hash without a 'user' field."""
import threading

import fakeredis
import pytest
import redis

import simlab
from simlab import checks
from simlab.checks._race import RaceLab, describe_race, read_then_write


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def fails(monkeypatch, capsys, check, *args) -> str:
    """``check`` fails lenient (a falsy Verdict, one problem line and a hint line at most, no
    traceback) and strict (AssertionError); returns the message."""
    verdict = check(*args)
    printed = capsys.readouterr().out
    assert isinstance(verdict, checks.Verdict) and not verdict, printed
    assert printed.startswith(checks.NOT_YET) and "Traceback" not in printed
    assert len(verdict.message.strip().splitlines()) <= 2, verdict.message
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError) as raised:
        check(*args)
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS")
    assert str(raised.value).startswith(checks.NOT_YET)
    return verdict.message


def passes(monkeypatch, capsys, check, *args) -> None:
    verdict = check(*args)
    assert verdict, capsys.readouterr().out
    monkeypatch.setenv("SIMLAB_STRICT_CHECKS", "1")
    assert check(*args)
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS")
    capsys.readouterr()


# -- 00: the analogy -------------------------------------------------------------------------
def test_analogy_names_a_huge_int_by_its_size(monkeypatch, capsys):
    for answer in (10 ** 5000, 10 ** 400):
        message = fails(monkeypatch, capsys, checks.check_analogy, answer)
        assert len(message) < 300 and "0" * 100 not in message, message
    assert "5,001 digits" in checks.check_analogy(10 ** 5000).message


@pytest.mark.parametrize("answer", [3.5, ["whiteboard"], 42])
def test_analogy_other_types_fail_kindly(monkeypatch, capsys, answer):
    assert "should be a word in quotes" in fails(monkeypatch, capsys, checks.check_analogy,
                                                 answer)


@pytest.mark.parametrize("answer", [
    "the whiteboard, not the filing room", "Not the filing room, the whiteboard",
    "whiteboard (not the filing room)", "the whiteboard is not the database",
    "the whiteboard and not the filing room", "not the filing room but the whiteboard",
    "the whiteboard rather than the filing room", "the whiteboard isn\u2019t the filing room",
    "the filing room is not Redis, the whiteboard is", "It's the whiteboard!",
])
def test_analogy_passes_the_whiteboard_with_the_filing_room_ruled_out(monkeypatch, capsys,
                                                                       answer):
    passes(monkeypatch, capsys, checks.check_analogy, answer)


@pytest.mark.parametrize("answer, words", [
    ("the filing room, not the whiteboard", "more than one thing"),
    ("not the whiteboard but the filing room", "more than one thing"),
    ("the whiteboard or the filing room", "more than one thing"),
    ("anything but the filing room", "says what Redis is not"),
    ("neither the filing room nor the whiteboard", "says what Redis is not"),
    ("not the whiteboard", "says what Redis is not"),
    ("the filing room", "is not what the course calls Redis"),
    ("the database", "is not what the course calls Redis"),
])
def test_analogy_fails_what_rules_out_the_whiteboard_or_names_the_filing_room(
        monkeypatch, capsys, answer, words):
    message = fails(monkeypatch, capsys, checks.check_analogy, answer)
    assert words in message, message


# -- 01: the view counter --------------------------------------------------------------------
def _views(page):
    return simlab.key("views", page)


def test_view_counter_two_views_a_call_is_not_blamed_on_a_race(monkeypatch, capsys):
    def count_twice(r, page):
        r.incr(_views(page))
        r.incr(_views(page))

    message = fails(monkeypatch, capsys, checks.check_view_counter, count_twice, None)
    assert "exactly one view" in message, message
    assert "another client" not in message and "round trip" not in message


def _redis_lock(expiry: bool):
    def count_view(r, page):
        name = _views(page)
        lock = name + ":lock"
        while not r.set(lock, "1", nx=True, px=1000 if expiry else None):
            pass
        r.set(name, int(r.get(name) or 0) + 1)
        r.delete(lock)
    return count_view


@pytest.mark.parametrize("expiry", [True, False])
def test_view_counter_a_lock_in_redis_is_not_called_a_lock_in_python(monkeypatch, capsys,
                                                                      expiry):
    message = fails(monkeypatch, capsys, checks.check_view_counter, _redis_lock(expiry), None)
    assert "lock in Python" not in message, message
    assert "lock in Redis" in message and "separate round trip" in message, message
    assert ("expires" in message) == expiry, message


def test_view_counter_a_lock_in_python_is_still_named(monkeypatch, capsys):
    lock = threading.Lock()

    def count_view(r, page):
        with lock:
            r.set(_views(page), int(r.get(_views(page)) or 0) + 1)

    message = fails(monkeypatch, capsys, checks.check_view_counter, count_view, None)
    assert "lock in Python" in message and "lock in Redis" not in message, message


def _watch(tries, swallow=True):
    def count_view(r, page):
        name = _views(page)
        with r.pipeline() as pipe:
            for _ in range(tries):
                try:
                    pipe.watch(name)
                    count = int(pipe.get(name) or 0)
                    pipe.multi()
                    pipe.set(name, count + 1)
                    pipe.execute()
                    return
                except redis.WatchError:
                    if not swallow:
                        raise
    return count_view


@pytest.mark.parametrize("tries", [1, 3])
def test_view_counter_watch_without_retry_gets_the_retry_hint(monkeypatch, capsys, tries):
    message = fails(monkeypatch, capsys, checks.check_view_counter, _watch(tries), None)
    assert "updates were lost" in message and "start again from WATCH" in message, message


def test_view_counter_a_watch_error_says_what_watch_saw(monkeypatch, capsys):
    message = fails(monkeypatch, capsys, checks.check_view_counter, _watch(1, swallow=False),
                    None)
    assert "WatchError" in message and "another client" in message, message
    assert "loop until EXEC succeeds" in message and "by hand" not in message, message


def test_view_counter_watch_with_retry_still_passes(monkeypatch, capsys):
    passes(monkeypatch, capsys, checks.check_view_counter, _watch(10 ** 6), None)


def test_describe_race_names_the_first_race_in_the_log():
    """Two clients read 9 first, then 10: the race named is the one on 9 (as strings, '10'
    sorts before '9')."""
    with RaceLab() as lab:
        lab.admin.set("k", 9)
        lab.run(lambda r: r.set("k", int(r.get("k")) + 1), clients=2, calls=2)
        found = read_then_write(lab.trips)
        assert {f.value for f in found} == {"9", "10"}
        assert "both read 9 from k" in describe_race(found)
    with RaceLab() as lab:
        lab.admin.set("k", 9)
        lab.call(lambda r: r.set("k", int(r.get("k")) + 1), client=1)
        lab.admin.set("k", 10 ** 399)
        lab.call(lambda r: r.set("k", int(r.get("k")) + 1), client=1)
        sentence = describe_race(read_then_write(lab.trips))
        assert "client 1 read 9 from k" in sentence, sentence


def test_describe_race_names_a_long_value_by_its_size():
    with RaceLab() as lab:
        lab.admin.set("k", 10 ** 399)
        lab.run(lambda r: r.set("k", int(r.get("k")) + 1), clients=2, calls=1)
        sentence = describe_race(read_then_write(lab.trips))
        assert "a number of 400 digits" in sentence and "0" * 50 not in sentence, sentence


# -- 01: the session -------------------------------------------------------------------------
@pytest.fixture
def fake():
    return fakeredis.FakeRedis(decode_responses=True)


def test_session_a_client_replaced_by_what_hset_returned(monkeypatch, capsys, fake):
    name = simlab.key("session", "alice")
    r = fake.hset(name, mapping={"user": "alice"})        # r = r.hset(...): an int now
    message = fails(monkeypatch, capsys, checks.check_session, r)
    assert "not a Redis client" in message and "r = r.hset" in message, message
    assert "AttributeError" not in message
    message = fails(monkeypatch, capsys, checks.check_session, fake.expire(name, 1800))
    assert "not a Redis client" in message and "r = r.expire" in message, message
    assert "not a Redis client" in fails(monkeypatch, capsys, checks.check_session, "r")


def test_session_an_expiry_of_zero_deletes_the_key(monkeypatch, capsys, fake):
    name = simlab.key("session", "alice")
    fake.hset(name, mapping={"user": "alice"})
    fake.expire(name, 0)
    message = fails(monkeypatch, capsys, checks.check_session, fake)
    assert "expired" in message and "TTL of 0" in message, message


def test_session_a_hash_without_a_user_field(monkeypatch, capsys, fake):
    name = simlab.key("session", "alice")
    fake.hset(name, mapping={"theme": "dark"})
    fake.expire(name, 1800)
    message = fails(monkeypatch, capsys, checks.check_session, fake)
    assert "has no 'user' field" in message and "None" not in message, message
    fake.hset(name, "user", "bob")
    assert "'user' field is 'bob'" in fails(monkeypatch, capsys, checks.check_session, fake)
    fake.hset(name, "user", "alice")
    passes(monkeypatch, capsys, checks.check_session, fake)
