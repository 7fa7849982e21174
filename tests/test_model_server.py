"""model://: simlab's Redis model behind redis-py, checked command by command against a private
redis-server (never the machine's own).

Each ``both`` test runs the same redis-py code on ``model://`` (virtual clock) and on a private
real server reconfigured for the test; the real runs need a ``redis-server`` binary.
"""
import numpy as np
import pytest
import redis

import simlab
from simlab.clock import RealClock
from simlab.live import client as live_client
from simlab.live.model_server import EMPTY_USED_MEMORY, parse_model_url, server_of
from simlab.redis_cache import RedisCache, lfu_counter_range

DEFAULTS = {"maxmemory": 0, "maxmemory-policy": "noeviction", "maxmemory-samples": 5,
            "lfu-log-factor": 10, "lfu-decay-time": 1}


def _fresh_real(private_redis):
    r = private_redis.client()
    r.flushall()
    for name, value in DEFAULTS.items():
        r.config_set(name, value)
    r.config_resetstat()
    return r, RealClock()


def _fresh_model():
    r = simlab.connect("model://?clock=virtual&seed=1")
    return r, r.clock


@pytest.fixture(params=["model", pytest.param("real", marks=pytest.mark.real)])
def both(request):
    """(client, clock) on model:// or on a private real server, empty, default settings."""
    if request.param == "model":
        return _fresh_model()
    return _fresh_real(request.getfixturevalue("private_redis"))


@pytest.fixture
def pair(private_redis):
    """(model client, model clock), (real client, real clock): the same run on each."""
    return _fresh_model(), _fresh_real(private_redis)


def _fill(r, n, *, value=b"x" * 100, prefix="key:", start=0, ex=None):
    pipe = r.pipeline(transaction=False)
    for i in range(start, start + n):
        pipe.set(f"{prefix}{i:08d}", value, ex=ex)
        if i % 100 == 99:          # small pipelines: client buffers count against maxmemory
            pipe.execute()
    pipe.execute()


# --- connect and options ---------------------------------------------------------------------

def test_connect_model_gives_the_guarded_instrumented_client():
    r = simlab.connect("model://?maxmemory=2mb&maxmemory-policy=allkeys-lru&maxmemory-samples=7")
    assert isinstance(r, live_client._fake_class())
    assert r.owned and r.backend.startswith("simlab's Redis model")
    assert r.config_get("maxmemory*") == {"maxmemory": str(2 * 1024 ** 2),
                                          "maxmemory-policy": "allkeys-lru",
                                          "maxmemory-samples": "7", "maxmemory-clients": "0",
                                          "maxmemory-eviction-tenacity": "10"}
    assert r.set("wb:k", "v") and r.get("wb:k") == "v"
    assert r.commands()["command"].tolist()[-2:] == ["SET", "GET"]
    assert isinstance(r.clock, RealClock)                 # clock=wall is the default


def test_each_model_url_is_a_server_of_its_own():
    a, b = simlab.connect("model://"), simlab.connect("model://")
    a.set("k", "1")
    assert b.get("k") is None


def test_redis_url_may_name_the_model(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "model://?maxmemory=1mb")
    assert simlab.connect().info("memory")["maxmemory"] == 1024 ** 2


@pytest.mark.parametrize("query, words", [
    ("maxmemory=lots", ["maxmemory", "memory value", "'lots'"]),
    ("maxmemory-policy=lru", ["maxmemory-policy", "allkeys-lru", "'lru'"]),
    ("maxmemory-samples=0", ["maxmemory-samples", "1 to 64", "'0'"]),
    ("maxmemory-samples=65", ["maxmemory-samples", "1 to 64", "'65'"]),
    ("lfu-log-factor=-1", ["lfu-log-factor", "integer", "'-1'"]),
    ("lfu-decay-time=x", ["lfu-decay-time", "integer", "'x'"]),
    ("clock=fast", ["clock", "'wall' or 'virtual'", "'fast'"]),
    ("maxmemroy=1mb", ["'maxmemroy'", "not known", "maxmemory-policy"]),
    ("clock=virtual&start=nan", ["start", "seconds since the epoch", "'nan'"]),
    ("clock=virtual&start=-1", ["start", "seconds since the epoch", "'-1'"]),
    ("start=1800000000", ["start", "clock=virtual", "clock=wall"]),
])
def test_bad_options_name_option_rule_and_value(query, words):
    with pytest.raises(ValueError) as info:
        simlab.connect(f"model://?{query}")
    text = str(info.value)
    assert "\n" not in text and all(w in text for w in words), text


def test_a_virtual_clock_starts_where_told():
    r = simlab.connect("model://?clock=virtual&start=1800000000.25")
    assert r.clock.now() == 1_800_000_000.25
    r.set("k", "v", px=500)
    r.clock.advance(0.4)
    assert r.get("k") == "v"
    r.clock.advance(0.2)
    assert r.get("k") is None


def test_a_seeded_experiment_repeats_request_for_request():
    """Seeded model runs start their virtual clock at the same moment: the LRU clock's whole
    seconds fall between the same requests (once they fell wherever the wall clock was)."""
    from simlab.eviction import replay
    from simlab.traces import real_like
    w = real_like(3000, seed=5)
    sent = np.repeat(np.arange(30) * 0.03, 100)     # 0.9 s: a whole second falls inside
    runs = [replay(w, "allkeys-lru", 150_000, source="model", schedule=sent, seed=2)
            for _ in range(3)]
    assert runs[0].attrs["model"]["evictions"] > 0
    for other in runs[1:]:
        assert np.array_equal(runs[0]["hit"], other["hit"])
        assert other.attrs["model"]["evictions"] == runs[0].attrs["model"]["evictions"]


def test_memory_units_follow_redis():
    assert parse_model_url("model://?maxmemory=2mb")["maxmemory"] == 2 * 1024 ** 2
    assert parse_model_url("model://?maxmemory=2m")["maxmemory"] == 2_000_000
    assert parse_model_url("model://?maxmemory=100KB")["maxmemory"] == 102_400
    with pytest.raises(ValueError, match="options only"):
        parse_model_url("model://host:6379/0")


@pytest.mark.parametrize("url", ["model://:hunter22@?maxmemory=1mb",
                                 "model://alice:hunter22@localhost/0",
                                 "model://hunter22@host"])
def test_a_password_in_a_model_url_is_never_shown(url):
    """A model:// URL takes no user-info; a careless learner who pastes one with a password
    gets the rule, with the password hidden (through connect too)."""
    for call in (parse_model_url, simlab.connect):
        with pytest.raises(ValueError, match="options only") as caught:
            call(url)
        assert "hunter22" not in str(caught.value) and "***" in str(caught.value)


def test_memory_values_past_64_bits_as_redis_reads_them(both):
    """memtoull's arithmetic: the number saturates at 2**64 - 1, the unit's product wraps
    around (redis-server 7.0.15 measured so); the model's parser, then CONFIG SET, agree."""
    r, _ = both
    expected = {"18446744073709551616": 2 ** 64 - 1, "17179869184gb": 0,
                "17179869185gb": 2 ** 30, "99999999999999999999gb": 2 ** 64 - 2 ** 30}
    for text, value in expected.items():
        r.config_set("maxmemory", text)
        assert r.config_get("maxmemory") == {"maxmemory": str(value)}, text
    r.config_set("maxmemory", 0)
    assert parse_model_url("model://?maxmemory=99999999999999999999gb")["maxmemory"] == \
        2 ** 64 - 2 ** 30


def test_a_memory_value_too_long_for_memtoulls_buffer_is_refused_as_redis_does(both):
    """127 digits saturate; 128 or more (and 5,000, past Python's int-from-text limit) do
    not fit memtoull's 128-byte buffer: CONFIG SET fails, and the model:// URL says so."""
    r, _ = both
    r.config_set("maxmemory", "1" * 127)
    assert r.config_get("maxmemory") == {"maxmemory": str(2 ** 64 - 1)}
    for text in ("1" * 128, "9" * 5000):
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            r.config_set("maxmemory", text)
    r.config_set("maxmemory", 0)
    with pytest.raises(ValueError, match="maxmemory must be a memory value"):
        parse_model_url("model://?maxmemory=" + "9" * 5000)


def test_a_limit_past_int64_simulates_as_no_limit():
    w = simlab.zipf(500, 1.0, 5_000, seed=1, value_size=100)
    free = simlab.simulate(w, policy="allkeys-lru", maxmemory=0, seed=1)
    for limit in (2 ** 63, 2 ** 64 - 1):
        huge = simlab.simulate(w, policy="allkeys-lru", maxmemory=limit, seed=1)
        assert huge["outcome"].equals(free["outcome"])
        assert huge.attrs["maxmemory"] == limit


def test_config_set_checks_like_redis(both):
    r, _ = both
    with pytest.raises(redis.ResponseError, match="maxmemory-policy"):
        r.config_set("maxmemory-policy", "lru")
    with pytest.raises(redis.ResponseError, match="maxmemory'"):
        r.config_set("maxmemory", "abc")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


# --- eviction ----------------------------------------------------------------------------------

def test_fill_past_maxmemory_evicts_and_counts(both):
    r, _ = both
    base = r.info("memory")["used_memory"]
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.config_set("maxmemory", base + 300_000)
    _fill(r, 3000)                                   # about 560 kB of data
    used = r.info("memory")["used_memory"]
    r.config_set("maxmemory", 0)                     # or a big reply (INFO) evicts more
    kept, evicted = r.dbsize(), r.info("stats")["evicted_keys"]
    assert 0 < kept < 3000 and evicted > 0
    assert kept + evicted == 3000
    # 100-byte values cost 186.5 B a key, so the budget holds about 1,600 of them; a real
    # server also counts its client buffers (about 60 kB with these 100-command pipelines,
    # measured: 1,275 keys stayed), which the model does not: 5% plus 64 kB worth of keys
    expected = 300_000 / 186.5
    assert expected - (0.05 * expected + 64_000 / 186.5) <= kept <= expected * 1.05, kept
    assert used <= base + 300_000 + 20_000


def test_volatile_policy_evicts_only_keys_with_a_ttl(both):
    r, _ = both
    base = r.info("memory")["used_memory"]
    _fill(r, 500, prefix="keep:")
    r.config_set("maxmemory-policy", "volatile-lru")
    r.config_set("maxmemory", base + 300_000)         # room for client buffers (real)
    _fill(r, 2500, prefix="ttl:", ex=3600)
    assert r.info("stats")["evicted_keys"] > 0
    assert all(r.exists(f"keep:{i:08d}") for i in range(500))


def test_noeviction_refuses_writes_with_redis_text(pair):
    texts = []
    for r, _ in pair:
        r.set("wb:old", "v")
        r.config_set("maxmemory", 1)
        with pytest.raises(redis.exceptions.OutOfMemoryError) as info:
            r.set("wb:new", "v")
        texts.append(str(info.value))
        assert r.get("wb:old") == "v" and r.delete("wb:old") == 1   # reads and DEL still work
        with pytest.raises(redis.exceptions.OutOfMemoryError) as info:
            r.eval("return redis.call('set', KEYS[1], 'x')", 1, "wb:script")
        texts.append(str(info.value).split(" script:")[0])
        assert r.eval("return redis.call('get', KEYS[1])", 1, "wb:nothing") is None
        assert r.info("stats")["evicted_keys"] == 0
    assert texts[0] == texts[2] == "command not allowed when used memory > 'maxmemory'."
    assert texts[1] == texts[3] == texts[0]


def test_volatile_policy_with_no_ttl_acts_like_noeviction(both):
    r, _ = both
    _fill(r, 50)
    r.config_set("maxmemory-policy", "volatile-lru")
    r.config_set("maxmemory", 1)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("one-more", "v")
    assert r.dbsize() == 50


def test_object_freq_grows_under_lfu_and_errors_under_lru(pair):
    answers = []
    for r, _ in pair:
        r.config_set("maxmemory-policy", "allkeys-lfu")
        r.set("k", "v")
        first = r.object("freq", "k")
        pipe = r.pipeline(transaction=False)
        for _ in range(1000):
            pipe.get("k")
        pipe.execute()
        answers.append((first, r.object("freq", "k")))
        assert r.object("freq", "missing") is None
        r.config_set("maxmemory-policy", "allkeys-lru")
        with pytest.raises(redis.ResponseError) as info:
            r.object("freq", "k")
        answers.append(str(info.value))
    (model_first, model_after), model_error, (real_first, real_after), real_error = answers
    assert model_first == real_first == 5
    # 1,000 GETs give 22 on the server (shared facts); the counter is random: the bounds
    # hold it but once in ten million runs
    low, high = lfu_counter_range(1000)
    assert low <= model_after <= high and low <= real_after <= high
    assert model_error == real_error and "LFU maxmemory policy is not selected" in model_error


def test_object_idletime_follows_the_clock(both):
    r, clock = both
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.set("k", "v")
    r.set("other", "v")
    assert r.object("idletime", "k") in (0, 1)
    clock.sleep(2.05)
    assert r.object("idletime", "k") in (2, 3)        # one-second LRU clock
    r.get("k")
    assert r.object("idletime", "k") == 0
    assert r.object("idletime", "other") in (2, 3)    # OBJECT itself does not touch
    r.config_set("maxmemory-policy", "allkeys-lfu")
    with pytest.raises(redis.ResponseError, match="idle time not tracked"):
        r.object("idletime", "k")


def _replies(r, commands) -> list:
    out = []
    for command in commands:
        try:
            out.append(r.execute_command(*command))
        except redis.ResponseError as exc:
            out.append(f"error: {exc}")
    return out


def test_restore_idletime_and_freq_as_redis_sets_them(pair):
    """RESTORE's REPLACE, ABSTTL, IDLETIME and FREQ (fakeredis knows REPLACE only): the same
    replies, ages and counters on model:// and on a private server, errors included."""
    answers = []
    for r, clock in pair:
        r.config_set("maxmemory-policy", "allkeys-lru")
        r.set("k", "v")
        payload = r.dump("k")
        now_ms = int(clock.now() * 1000)
        replies = _replies(r, [
            ("RESTORE", "a", 0, payload, "IDLETIME", 100),
            ("RESTORE", "a", 0, payload),                                   # BUSYKEY
            ("RESTORE", "b", 0, payload, "IDLETIME", -1),
            ("RESTORE", "b", 0, payload, "IDLETIME", "x"),
            ("RESTORE", "b", 0, payload, "IDLETIME", 5, "FREQ", 3),         # one or the other
            ("RESTORE", "b", 0, payload, "FREQ", 256),
            ("RESTORE", "b", 0, payload, "IDLETIME"),
            ("RESTORE", "b", 0, payload, "BOGUS"),
            ("RESTORE", "b", -5, payload),
            ("RESTORE", "b", 0, b"not a dump"),
            ("RESTORE", "c", 0, payload, "idletime", 10, "IDLETIME", 20),   # the last wins
            ("RESTORE", "d", 0, payload, "FREQ", 7),                        # LRU: ignored
            ("RESTORE", "e", now_ms - 5, payload, "ABSTTL"),                # expired: not made
            ("RESTORE", "a", now_ms - 5, payload, "ABSTTL", "REPLACE"),     # and deleted
            ("RESTORE", "f", now_ms + 60_000, payload, "ABSTTL"),
        ])
        ages = [r.object("idletime", k) for k in ("c", "d")]
        made = [r.exists(k) for k in ("a", "b", "e", "f")]
        ttl = r.pttl("f")
        r.config_set("maxmemory-policy", "allkeys-lfu")
        lfu = _replies(r, [("RESTORE", "g", 0, payload, "FREQ", 77),
                           ("RESTORE", "h", 0, payload, "IDLETIME", 77)])   # LFU: ignored
        answers.append((replies, ages, made, lfu, r.object("freq", "g"), r.object("freq", "h")))
        assert 50_000 < ttl <= 60_000
    model, real = answers
    assert model == real
    replies, ages, made, lfu, freq_g, freq_h = model
    assert replies[0] in (b"OK", "OK") and "BUSYKEY" in replies[1]
    assert ages == [20, 0] and made == [0, 0, 0, 1] and (freq_g, freq_h) == (77, 5)


def test_restore_idletime_orders_eviction():
    """Keys RESTOREd older are evicted first under allkeys-lru, with no time passing."""
    r = simlab.connect("model://?clock=virtual&maxmemory-policy=allkeys-lru"
                       "&maxmemory-samples=64")
    r.set("probe", "x" * 10)
    payload = r.dump("probe")
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.restore(f"key:{i:08d}", 0, payload, replace=True, idletime=100 if i < 1000 else 1)
    pipe.execute()
    r.config_set("maxmemory", r.info("memory")["used_memory"])
    _fill(r, 500, value=b"x" * 10, start=5000)
    r.config_set("maxmemory", 0)
    old = sum(r.exists(f"key:{i:08d}") for i in range(1000))
    young = sum(r.exists(f"key:{i:08d}") for i in range(1000, 2000))
    assert young == 1000 and old < 600


def test_info_stats_hits_and_misses_equal_on_both(pair):
    seen = []
    for r, _ in pair:
        r.set("a", "1")
        r.get("a"), r.get("b")
        r.mget("a", "b", "c")
        r.exists("a", "b")
        r.hset("h", "f", "v")
        r.hget("h", "f"), r.hget("nohash", "f")
        r.ttl("a"), r.type("h")
        r.incr("n")
        r.getdel("a"), r.getdel("a")
        r.eval("return redis.call('get', KEYS[1])", 1, "n")
        r.object("encoding", "n")
        stats = r.info("stats")
        seen.append((stats["keyspace_hits"], stats["keyspace_misses"]))
    assert seen[0] == seen[1], seen


def test_memory_usage_as_redis_counts_it(both):
    r, _ = both
    r.set("key:00000001", "x" * 10)
    r.set("key:00000002", "x" * 100)
    assert r.memory_usage("key:00000001") == 72        # shared facts, redis-server 7.0.15
    assert r.memory_usage("key:00000002") == 168
    assert r.memory_usage("missing") is None


def test_used_memory_is_an_empty_server_plus_the_model():
    """10-byte values under 12-byte names: 80 B a key plus 8 B per bucket (2,048 for 2,000
    keys), the model's figure (90.8 B measured with 100,000 keys and 131,072 buckets). A real
    server adds its client buffers (about 80 kB after these pipelines), so no real twin."""
    r, _ = _fresh_model()
    assert r.info("memory")["used_memory"] == EMPTY_USED_MEMORY
    _fill(r, 2000, value=b"x" * 10)
    assert r.info("memory")["used_memory"] == EMPTY_USED_MEMORY + 2000 * 80 + 8 * 2048
    assert r.info("memory")["used_memory_dataset"] == server_of(r).model.used_memory


def _survival(r, clock, *, batches=4, batch_size=1500, new_keys=3000):
    """Write batches a second apart, freeze maxmemory at the usage, write new keys; the share
    of each batch left. The same code for model:// and a real server."""
    r.config_set("maxmemory-policy", "allkeys-lru")
    for b in range(batches):
        _fill(r, batch_size, value=b"x" * 10, start=b * batch_size)
        clock.sleep(1.0)
    r.config_set("maxmemory", r.info("memory")["used_memory"])
    _fill(r, new_keys, value=b"x" * 10, start=batches * batch_size)
    r.config_set("maxmemory", 0)                       # or looking would evict
    pipe = r.pipeline(transaction=False)
    for i in range(batches * batch_size):
        pipe.exists(f"key:{i:08d}")
    present = np.array(pipe.execute(), dtype=bool)
    return present.reshape(batches, batch_size).mean(axis=1)


def test_batch_survival_agrees_with_a_real_server(pair):
    """Tolerance 0.15 per batch and 0.08 on the mean share: the model's memory per key is
    within 1 B of the server's, so the same number of keys go; which ones go depends on the
    sampling, which the model imitates (runs of neighbouring buckets) but cannot replay draw
    for draw; 1,500-key batches add a standard error of about 0.013 per share."""
    (model, model_clock), (real, real_clock) = pair
    m = _survival(model, model_clock)
    real_share = _survival(real, real_clock)
    assert np.all(np.diff(m) >= -0.05) and m[-1] > m[0]      # newer batches survive more
    assert np.max(np.abs(m - real_share)) <= 0.15, (m, real_share)
    assert abs(m.mean() - real_share.mean()) <= 0.08, (m, real_share)


# --- expiry and the clock ----------------------------------------------------------------------

def test_ttl_expiry_on_a_virtual_clock():
    r = simlab.connect("model://?clock=virtual")
    r.set("otp", "1234", ex=300)
    r.set("forever", "x")
    r.clock.advance(299)
    assert r.get("otp") == "1234" and r.ttl("otp") == 1
    r.clock.advance(2)
    assert r.get("otp") is None and r.ttl("otp") == -2
    assert r.info("stats")["expired_keys"] == 1
    _fill(r, 1000, ex=10)                            # nobody touches these again
    r.clock.advance(11)
    assert r.dbsize() == 1                           # the active cycle removed them
    assert r.info("stats")["expired_keys"] == 1001
    assert r.info("memory")["used_memory"] < EMPTY_USED_MEMORY + 1000


def test_active_expiry_leaves_a_backlog_as_redis_does():
    """Keys that nobody touches go by the active cycle only: a tenth of a second after their
    deadline part of them is still counted by DBSIZE (Redis keeps looping only while more than
    10% of a sample had expired), and all are gone once the cycle has walked the table."""
    r = simlab.connect("model://?clock=virtual")
    _fill(r, 2000, value=b"v", prefix="p:")
    _fill(r, 2000, value=b"v", prefix="t:", ex=1)
    r.clock.advance(1.05)
    r.ping()
    r.clock.advance(0.1)
    lingering = r.dbsize() - 2000
    assert lingering >= 0
    r.clock.advance(10)
    assert r.dbsize() == 2000
    assert r.info("stats")["expired_keys"] == 2000


def test_virtual_clock_refuses_to_go_back():
    r = simlab.connect("model://?clock=virtual")
    with pytest.raises(ValueError, match="seconds"):
        r.clock.advance(-1)


def test_flushall_empties_the_model_too():
    r = simlab.connect("model://?maxmemory=2mb&maxmemory-policy=allkeys-lru")
    _fill(r, 500)
    assert r.info("memory")["used_memory"] > EMPTY_USED_MEMORY
    r.flushall()
    assert r.info("memory")["used_memory"] == EMPTY_USED_MEMORY and r.dbsize() == 0
    assert len(server_of(r).model) == 0


def test_transaction_refused_whole_under_oom():
    r = simlab.connect("model://?maxmemory=1")
    r.set("a", "1")                                   # 0 bytes used before it: allowed
    pipe = r.pipeline(transaction=True)
    pipe.get("a")
    pipe.set("b", "2")
    with pytest.raises(redis.exceptions.ResponseError, match="OOM command not allowed"):
        pipe.execute()
    assert r.get("b") is None


# --- the model through redis-py equals the model called directly -------------------------------

def test_cache_aside_hit_ratio_equals_the_model_called_directly():
    """Cache-aside (GET, SET on a miss) of a Zipf workload, one request after another, through
    redis-py on model://, and through RedisCache's methods directly: the hit ratios agree within
    0.01 (the server evicts before the next command where the direct model evicts before the
    write, and its random draws come in another order)."""
    w = simlab.zipf(n_keys=2000, alpha=1.0, n_requests=6000, rate=1000.0, seed=3)
    budget = 60_000
    r = simlab.connect(f"model://?maxmemory={EMPTY_USED_MEMORY + budget}"
                       "&maxmemory-policy=allkeys-lru&clock=virtual&seed=5")
    direct = RedisCache("allkeys-lru", budget, rng=5)
    start = r.clock.now()
    hits_server = hits_direct = 0
    for key, t in zip(w.keys, w.times):
        name = f"key:{key:08d}"
        r.clock.advance(start + t - r.clock.now())
        if r.get(name) is not None:
            hits_server += 1
        else:
            r.set(name, "x" * 100)
        if direct.get(name, start + t):
            hits_direct += 1
        else:
            direct.put(name, start + t, None, 100)
    n = len(w.keys)
    assert r.info("stats")["keyspace_hits"] == hits_server
    assert r.info("stats")["evicted_keys"] > 0 and direct.evictions > 0
    assert abs(hits_server / n - hits_direct / n) <= 0.01, (hits_server / n, hits_direct / n)
