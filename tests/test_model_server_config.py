"""CONFIG SET and CONFIG GET on model://, case by case against a private redis-server 7.0.15
(never the machine's own): the same reply or the same error text, then the same five eviction
settings (CONFIG GET of each by name). The real runs need a ``redis-server`` binary."""
import pytest
import redis

import simlab
from simlab.live.model_server import server_of

DEFAULTS = {"maxmemory": "0", "maxmemory-policy": "noeviction", "maxmemory-samples": "5",
            "lfu-log-factor": "10", "lfu-decay-time": "1"}
BIG = "1" * 127            # saturates memtoull's strtoull
TOO_LONG = "1" * 128       # does not fit memtoull's 128-byte buffer


def _set(*args):
    return ("CONFIG", "SET") + args


def _get(*args):
    return ("CONFIG", "GET") + args


CASES = [
    # maxmemory: memtoull (digits, then one of b k kb m mb g gb in any case; nothing else)
    *[_set("maxmemory", v) for v in (
        "1mb", "1MB", "1Gb", "1gb", "1k", "1K", "1kb", "1b", "1m", "007", "0", "", "mb",
        "18446744073709551615", "18446744073709551616", "17179869184gb", BIG, TOO_LONG,
        "1 mb", " 1mb", "1mb ", "1 ", "\t1", "5 5", "+5", "-1", "-0", "5.5", "1e3", "0x10",
        "1tb", "1mbb", "１")],
    # maxmemory-policy: an enum, any case, the whole text
    *[_set("maxmemory-policy", v) for v in (
        "allkeys-lru", "ALLKEYS-LRU", "Allkeys-Lfu", "volatile-ttl", "volatile-lfu", "lru", "",
        "noeviction ", "allkeys_lru")],
    # the integers: string2ll (no spaces, no +, no leading zero), then the range
    *[_set("maxmemory-samples", v) for v in (
        "1", "64", "65", "2147483647", "0", "-1", "2147483648", "-2147483648", "+5", "5.5", "",
        "1k", " 5", "5 ", "007", "-0", "0x5", "1e1", "99999999999999999999")],
    *[_set(name, v) for name in ("lfu-log-factor", "lfu-decay-time") for v in (
        "0", "100", "2147483647", "-1", "2147483648", "-2147483649", "+5", "5.5", "", "1k",
        " 5", "007", "abc")],
    # several at once: atomic, checked in order, a parameter once only
    _set("maxmemory", "1mb", "maxmemory-samples", "10"),
    _set("maxmemory", "1mb", "maxmemory-samples", "65"),
    _set("maxmemory", "1mb", "maxmemory-policy", "lru"),
    _set("maxmemory-policy", "lru", "maxmemory", "1mb"),
    _set("maxmemory-samples", "0", "maxmemory-policy", "lru"),
    _set("maxmemory", "1mb", "maxmemory-policy", "allkeys-lfu", "lfu-log-factor", "-1"),
    _set("maxmemory", "1mb", "maxmemory", "2mb"),
    _set("maxmemory", "1mb", "MAXMEMORY", "2mb"),
    _set("maxmemory-policy", "allkeys-lru", "maxmemory-policy", "allkeys-lru"),
    _set("maxmemory", "bad", "maxmemory", "1mb"),
    _set("maxmemory", "1mb", "maxmemory", "bad"),
    _set("maxmemory", "1mb", "maxmemory", "2mb", "nosuchparam", "1"),
    # names: any case; an unknown one, a read-only one
    _set("MAXMEMORY", "1mb"),
    _set("MaxMemory-Policy", "ALLKEYS-LRU"),
    _set("MAXMEMORY", "bad"),
    _set("nosuchparam", "1"),
    _set("maxmemory", "1mb", "nosuchparam", "1"),
    _set("nosuchparam", "1", "maxmemory", "1mb"),
    _set("maxmemory", "1mb", "daemonize", "no"),
    _set("dir", "/tmp", "maxmemory", "1mb"),
    _set("nosuchparam", "1", "daemonize", "no"),
    _set("maxmemory", "1mb", "maxmemory", "2mb", "daemonize", "no"),
    # parameters the model does not model: known (kept as given), or fixed at what it runs with
    _set("maxmemory", "1mb", "slowlog-max-len", "128"),
    _set("maxmemory-clients", "0", "hz", "10", "maxmemory-policy", "allkeys-lru"),
    # arity
    _set(),
    _set("maxmemory"),
    _set("maxmemory", "1mb", "maxmemory-policy"),
    # CONFIG GET: exact names (as asked), patterns (any case), each parameter once
    _get("maxmemory"),
    _get("MAXMEMORY"),
    _get("maxmemory", "MAXMEMORY"),
    _get("LFU-LOG-FACTOR", "lfu-*"),
    _get("lfu-*", "LFU-LOG-FACTOR"),
    _get("maxmemory", "maxmemory-policy", "lfu-log-factor"),
    _get("maxmemory-clients"),
    _get("MAXMEMORY-EVICTION-TENACITY", "hz", "active-expire-effort"),
    _get("lfu-*"),
    _get("LFU-*"),
    _get("Lfu-Log-*"),
    _get("maxmemory-p?licy"),
    _get("maxmemory-[ps]*"),
    _get("lfu-[^l]*"),
    _get("lfu-[a-k]*"),
    _get("lfu-decay-tim[e]"),
    _get("lfu-decay-tim\\e"),
    _get("lfu-decay-tim\\e*"),
    _get("LFU-?ECAY-TIME"),
    _get("lfu-[^]*"),
    _get("lfu-[d-a]*"),
    _get("lfu-[\\d]*"),
    _get("lfu-[-l]*"),
    _get("lfu-log-factor["),
    _get("lfu-\\?ecay*"),
    _get("nosuchparam"),
    _get("nosuch*"),
    _get(),
    # a pattern reaches the parameters the model keeps fixed too (maxmemory-clients,
    # maxmemory-eviction-tenacity, replica-ignore-maxmemory...), as a real server's does
    _get("maxmemory*"),
    _get("*maxmemory*"),
]


def _case_id(case) -> str:
    return " ".join(repr(a) if i >= 2 and (not a or " " in a or not a.isascii() or
                                           not a.isprintable() or len(a) > 30) else a
                    for i, a in enumerate(case))[:80]


def _answer(r, case):
    """The reply (or the error's type and text) and the eviction settings afterwards."""
    try:
        reply = ("reply", r.execute_command(*case))
    except redis.ResponseError as error:
        reply = (type(error).__name__, str(error))
    settings = r.execute_command("CONFIG", "GET", *DEFAULTS)
    return reply, settings


@pytest.fixture
def real(private_redis):
    r = redis.Redis(host="127.0.0.1", port=private_redis.port, decode_responses=True)
    r.execute_command("CONFIG", "SET", *[x for pair in DEFAULTS.items() for x in pair])
    yield r
    r.execute_command("CONFIG", "SET", *[x for pair in DEFAULTS.items() for x in pair])
    r.close()


@pytest.mark.real
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_config_answers_as_redis_does(real, case):
    model = simlab.connect("model://")
    assert _answer(model, case) == _answer(real, case)


@pytest.mark.real
def test_a_refused_config_set_leaves_every_setting_as_it_was(real):
    """Redis 7 applies several parameters all or none: set some, then a bad batch."""
    model = simlab.connect("model://")
    for r in (model, real):
        r.execute_command("CONFIG", "SET", "maxmemory", "3mb", "maxmemory-policy", "allkeys-lfu",
                          "lfu-log-factor", "20")
    bad = _set("maxmemory", "5mb", "maxmemory-policy", "volatile-ttl", "maxmemory-samples",
               "10", "lfu-decay-time", "2", "lfu-log-factor", "x")
    assert _answer(model, bad) == _answer(real, bad)
    assert model.config_get("maxmemory") == {"maxmemory": str(3 * 1024 ** 2)}


def test_samples_past_64_work_in_the_model():
    """CONFIG SET takes maxmemory-samples up to 2**31 - 1, as Redis does; the model then
    samples every key it has, and a policy switch (a new model) keeps the count."""
    r = simlab.connect("model://?maxmemory-policy=allkeys-lru&clock=virtual&seed=1")
    r.config_set("maxmemory-samples", 1000)
    r.config_set("maxmemory-policy", "allkeys-lfu")
    r.set("k", "v")
    assert r.config_get("maxmemory-samples") == {"maxmemory-samples": "1000"}
    assert r.get("k") == "v" and server_of(r).model.samples == 1000


@pytest.mark.parametrize("query", ["maxmemory=1%20mb", "maxmemory=%2B5", "maxmemory-samples=%2B5",
                                   "maxmemory-samples=007", "lfu-log-factor=%205",
                                   "lfu-decay-time=1.0"])
def test_a_model_url_reads_values_as_config_set_does(query):
    with pytest.raises(ValueError, match="model:// option"):
        simlab.connect(f"model://?{query}")
