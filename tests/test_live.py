import json

import pytest
import redis

import simlab
import simlab.live as live


def test_backend_line(redis_client):
    assert redis_client.backend.startswith(("fakeredis", "Redis"))
    assert "\n" not in redis_client.backend


def test_commands_are_timed_with_hits_and_misses(redis_client):
    redis_client.reset_log()
    redis_client.get(live.key("absent"))
    redis_client.set(live.key("present"), "1")
    redis_client.get(live.key("present"))
    log = redis_client.commands()
    assert list(log["command"]) == ["GET", "SET", "GET"]
    assert list(log["hit"]) == [False, None, True]
    assert (log["latency"] > 0).all()
    assert log["time"].is_monotonic_increasing


def test_cache_aside_miss_then_hit(redis_client, room, capsys):
    ca = live.CacheAside(redis_client, room, ttl=60, verbose=True)
    first = ca.get_user(7)
    second = ca.get_user(7)
    assert first == second and first["id"] == 7
    out = capsys.readouterr().out
    assert out.index("MISS") < out.index("HIT")
    table = ca.table()
    assert list(table["outcome"]) == ["miss", "hit"]
    assert table.loc[0, "filing_room_latency"] > 0 and table.loc[1, "filing_room_latency"] == 0
    assert 0 < redis_client.ttl(live.key("user", 7)) <= 60


def test_update_deletes_the_whiteboard_copy(redis_client, room):
    ca = live.CacheAside(redis_client, room, ttl=None)
    ca.get_user(8)
    ca.update_user(8, city="Oslo")
    assert redis_client.get(live.key("user", 8)) is None
    assert ca.get_user(8)["city"] == "Oslo"
    assert list(ca.table()["outcome"]) == ["miss", "write", "miss"]


def test_live_run_has_the_simulation_table_shape(redis_client, room):
    w = simlab.zipf(200, 1.0, 400, read_fraction=0.95, seed=1)
    live_df = live.CacheAside(redis_client, room, ttl=60).run(w)
    sim_df = simlab.simulate(w, cache_size=1000, seed=1)
    assert list(live_df.columns) == list(sim_df.columns)
    for col in ("op", "outcome"):
        assert list(live_df[col].cat.categories) == list(sim_df[col].cat.categories)
    # With a whiteboard big enough for everything, live and model agree request by request.
    assert list(live_df["outcome"]) == list(sim_df["outcome"])
    s = simlab.summarize(live_df)
    assert s["requests"] == 400


def test_seed_get_user(redis_client, room):
    user = live.get_user(redis_client, room, 11, ttl=30)
    assert json.loads(redis_client.get(live.key("user", 11)))["email"] == user["email"]
    assert live.get_user(redis_client, room, 11) == user


def test_cleanup_deletes_only_our_prefix(redis_client):
    redis_client.set("someone-else:key", "keep")
    for i in range(1200):
        redis_client.set(live.key("tmp", i), i)
    assert live.cleanup(redis_client) >= 1200
    assert redis_client.get("someone-else:key") == "keep"
    redis_client.delete("someone-else:key")


def test_destructive_commands_refused_on_servers_we_did_not_start(redis_client):
    for call in (redis_client.flushdb, redis_client.flushall,
                 lambda: redis_client.config_set("maxmemory", "1mb")):
        with pytest.raises(live.UnsafeCommand, match="did not start that server"):
            call()


def test_cleanup_needs_a_prefix(redis_client):
    with pytest.raises(ValueError, match="prefix must be non-empty"):
        live.cleanup(redis_client, prefix="")


def test_unreachable_url_gives_one_friendly_sentence():
    with pytest.raises(live.RedisUnavailable) as info:
        live.connect("redis://127.0.0.1:1/0")
    message = str(info.value)
    assert "redis://127.0.0.1:1/0" in message and "unset REDIS_URL" in message
    assert info.value.__cause__ is None


def test_redis_url_from_environment(private_redis, monkeypatch):
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    r = live.connect()
    assert r.backend.startswith("Redis 7") or r.backend.startswith("Redis ")
    assert private_redis.url in r.backend


@pytest.mark.real
def test_private_server_is_ours_and_goes_away():
    if not live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    with live.PrivateRedis({"maxmemory": "2mb"}) as server:
        r = server.client()
        assert r.owned
        assert r.config_get("maxmemory")["maxmemory"] == str(2 * 1024 * 1024)
        r.config_set("maxmemory-policy", "allkeys-lru")
        r.set("x", 1)
        r.flushdb()
        assert r.dbsize() == 0
        assert r.config_get("save")["save"] == ""
        url = server.url
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def test_banner(room):
    text = live.backend_banner(live.connect(), room)
    assert "Whiteboard:" in text and "Filing room:  SQLite" in text
