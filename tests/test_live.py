import json
import os
import re
import shutil
import subprocess
import sys

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
    # With a whiteboard big enough for everything, live and model agree request by request,
    # on the same keys (the workload's labels), with the same attrs.
    assert list(live_df["outcome"]) == list(sim_df["outcome"])
    assert live_df["key"].equals(sim_df["key"])
    assert set(live_df.attrs) == set(sim_df.attrs) == set(simlab.results.ATTRS)
    assert live_df.attrs["fills"] == sim_df.attrs["fills"]
    assert live_df.attrs["keys_at_end"] == sim_df.attrs["keys_at_end"]
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


def test_cleanup_needs_a_prefix_in_the_learners_namespace(redis_client):
    for prefix in ("", "wb:", "wb:someone-else:"):
        with pytest.raises(ValueError, match="prefix must be your own namespace"):
            live.cleanup(redis_client, prefix=prefix)


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


# --- secrets stay secret ---------------------------------------------------------------------

SECRET = "s3cret-p@ss:w/rd"           # URL-special characters, percent-encoded in the URL
ENCODED = "s3cret-p%40ss%3Aw%2Frd"


def _never_shows(text, *secrets):
    for secret in secrets + (SECRET, ENCODED):
        assert secret not in text, f"{secret!r} shown in {text!r}"


def _one_sentence(text):
    assert text.endswith(".") and "\n" not in text
    assert re.search(r"\.\s", text) is None, f"more than one sentence: {text!r}"


@pytest.fixture
def password_server():
    """A private server whose default user needs a password (set through an owned client)."""
    if not live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    with live.PrivateRedis() as server:
        owner = server.client()
        owner.config_set("requirepass", SECRET)
        yield server
        authed = redis.Redis(host="127.0.0.1", port=server.port, password=SECRET)
        authed.config_set("requirepass", "")
        authed.close()


@pytest.mark.real
def test_requirepass_url_connects_and_the_password_is_never_shown(password_server, room):
    url = f"redis://:{ENCODED}@127.0.0.1:{password_server.port}/0"
    r = live.connect(url)
    r.set(live.key("secret-test"), "1")
    assert r.get(live.key("secret-test")) == "1"
    assert f"redis://:***@127.0.0.1:{password_server.port}/0" in r.backend
    _never_shows(r.backend)
    _never_shows(live.backend_banner(r, room))
    r.backend = f"Redis at {url}"                          # whoever sets it, it is redacted
    _never_shows(r.backend)
    with pytest.raises(live.UnsafeCommand) as info:       # a guard message names no password
        r.pipeline().flushdb().execute()
    _never_shows(str(info.value))
    live.cleanup(r)


@pytest.mark.real
def test_a_wrong_password_is_one_sentence_without_it(password_server):
    for url in (f"redis://:wrong-{ENCODED}@127.0.0.1:{password_server.port}/0",
                f"redis://wrong-{ENCODED}@127.0.0.1:{password_server.port}/0",
                f"redis://127.0.0.1:{password_server.port}/0?password=wrong-{ENCODED}",
                f"redis://127.0.0.1:{password_server.port}/0"):
        with pytest.raises(live.RedisUnavailable) as info:
            live.connect(url)
        message = str(info.value)
        _never_shows(message, "wrong-")
        _one_sentence(message)
        assert "refused the credentials" in message and "REDIS_URL" in message
        assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.real
def test_an_acl_user_connects_and_its_password_is_never_shown(private_redis, room):
    owner = private_redis.client()
    owner.acl_setuser("alice", enabled=True, passwords=[f"+{SECRET}"], keys=["wb:*"],
                      commands=["+@all", "-info"], reset=True)
    try:
        url = f"redis://alice:{ENCODED}@127.0.0.1:{private_redis.port}/0"
        r = live.connect(url)                   # no INFO for alice: the version is unknown
        assert r.backend == f"Redis ? at redis://alice:***@127.0.0.1:{private_redis.port}/0"
        assert r.acl_whoami() == "alice"
        r.set(live.key("acl-test"), "1")
        assert live.cleanup(r) == 1
        _never_shows(live.backend_banner(r, room))
        with pytest.raises(live.RedisUnavailable) as info:
            live.connect(f"redis://alice:nope-{ENCODED}@127.0.0.1:{private_redis.port}/0")
        _never_shows(str(info.value), "nope-")
        _one_sentence(str(info.value))
        assert "alice:***@" in str(info.value)
    finally:
        owner.acl_deluser("alice")


@pytest.mark.real
def test_rediss_to_a_server_without_tls_is_one_sentence(private_redis):
    url = f"rediss://:{ENCODED}@127.0.0.1:{private_redis.port}/0"
    with pytest.raises(live.RedisUnavailable) as info:
        live.connect(url)
    message = str(info.value)
    assert message.startswith(f"The server at rediss://:***@127.0.0.1:{private_redis.port}/0 "
                              "did not complete a TLS handshake")
    _never_shows(message)
    _one_sentence(message)


def _tls_files(folder):
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=simlab-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        "server.key", "-out", "server.csr")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-out", "server.crt")
    return {name: str(folder / name) for name in ("ca.crt", "server.crt", "server.key")}


def _redis_has_tls():
    binary = live.redis_server_binary()
    if not binary or not shutil.which("openssl"):
        return False
    out = subprocess.run([binary, "--port", "0", "--tls-port", "0", "--save", ""],
                         capture_output=True, text=True, timeout=10)
    return "Configured to not listen anywhere" in out.stdout + out.stderr   # tls-port known


@pytest.mark.real
def test_rediss_against_a_tls_server(tmp_path, room):
    if not _redis_has_tls():
        pytest.skip("redis-server here has no TLS, or there is no openssl")
    from simlab.live.server import free_port
    files = _tls_files(tmp_path)
    tls_port = free_port()
    config = {"tls-port": tls_port, "tls-cert-file": files["server.crt"],
              "tls-key-file": files["server.key"], "tls-ca-cert-file": files["ca.crt"],
              "tls-auth-clients": "no", "requirepass": SECRET}
    with live.PrivateRedis(config) as server:
        url = (f"rediss://:{ENCODED}@127.0.0.1:{tls_port}/0?ssl_ca_certs={files['ca.crt']}"
               "&ssl_cert_reqs=required")
        r = live.connect(url)
        assert r.ping() and r.backend.startswith("Redis 7")
        assert f"rediss://:***@127.0.0.1:{tls_port}/0" in r.backend
        _never_shows(live.backend_banner(r, room))
        with pytest.raises(live.UnsafeCommand):
            r.flushall()
        with pytest.raises(live.RedisUnavailable) as info:    # a CA it does not trust
            live.connect(f"rediss://:{ENCODED}@127.0.0.1:{tls_port}/0")
        _never_shows(str(info.value))
        _one_sentence(str(info.value))
        assert "TLS" in str(info.value)


@pytest.mark.parametrize("shown, secret", [
    ("redis://:s3cret@localhost:6379/0", "s3cret"),
    ("redis://alice:s3cret@localhost:6379/0", "s3cret"),
    ("rediss://s3cret@cache:6380/0", "s3cret"),
    ("redis://localhost:6379/0?password=s3cret", "s3cret"),
    ("postgresql://alice:s3cret@db:5432/shop?sslmode=require", "s3cret"),
    ("host=db user=alice password=s3cret dbname=shop", "s3cret"),
    ("host=db user=alice password='s3 cret' dbname=shop", "s3 cret"),
    ("host=db PASSWORD = s3cret", "s3cret"),
    ("redis://:s3c/ret@127.0.0.1:7/0", "s3c/ret"),              # unescaped: urlsplit cuts it
    ("redis://:s3c#ret@127.0.0.1:7/0", "s3c#ret"),
    ("redis://:s3c?ret@127.0.0.1:7/0", "s3c?ret"),
    ("redis://:s3c@:/%#?ret@127.0.0.1:7/0", "s3c@:/%#?ret"),
    ("redis://bob:s3c/r@:et@127.0.0.1:7/0", "s3c/r@:et"),
    ("rediss://s3c/ret@cache:6380/0", "s3c/ret"),
    ("postgresql://u:p%zzs3cret@127.0.0.1:1/db", "p%zzs3cret"),
    ("postgresql://u:s3c/ret@db/shop", "s3c/ret"),
])
def test_redact_hides_every_password_form(shown, secret):
    from simlab.live.urls import redact, redact_text
    assert secret not in redact(shown)
    assert "***" in redact(shown)
    assert secret not in redact_text(f"could not connect to {shown} (timeout)")
    assert redact("redis://localhost:6379/0") == "redis://localhost:6379/0"


@pytest.mark.parametrize("url, secret", [
    ("redis://:s3c/ret@127.0.0.1:7/0", "s3c/ret"),
    ("redis://:s3c@:/%#?ret@127.0.0.1:7/0", "s3c@:/%#?ret"),
])
def test_redact_shows_host_and_user_of_a_url_with_unescaped_characters(url, secret):
    from simlab.live.urls import redact, redact_text
    assert redact(url) == "redis://:***@127.0.0.1:7/0"
    assert redact_text(f"Error at {url}.") == "Error at redis://:***@127.0.0.1:7/0."


@pytest.mark.parametrize("url, text, secret", [
    ("postgresql://u:p%zzs3cret@127.0.0.1:1/db",
     'invalid percent-encoded token: "p%zzs3cret"', "zzs3cret"),
    ("redis://:s3c%40ret%2Fx@h:1/0", "AUTH failed for s3c@ret/x", "s3c@ret/x"),   # decoded
    ("redis://:s3c@ret/x@h:1/0", "token s3c%40ret%2Fx", "s3c%40ret%2Fx"),        # encoded
    ("redis://s3cretuser@h:1/0", "WRONGPASS s3cretuser", "s3cretuser"),           # lone info
    ("redis://h:1/0?password=s3c-ret", "bad s3c-ret", "s3c-ret"),
    ("host=db password='s3 cret'", "password s3 cret rejected", "s3 cret"),
])
def test_scrub_removes_the_password_in_every_form_a_driver_quotes(url, text, secret):
    from simlab.live.urls import scrub
    shown = scrub(f"{text} (url {url})", url)
    assert secret not in shown and "***" in shown


def test_scrub_keeps_a_message_readable_around_a_short_password():
    from simlab.live.urls import scrub
    assert scrub("password ab rejected; abc is fine", "redis://:ab@h:1/0") == \
        "password *** rejected; abc is fine"


@pytest.mark.parametrize("url, secret", [
    ("redis://:s3c/ret@127.0.0.1:1/0", "s3c/ret"),
    ("redis://:s3c#ret@127.0.0.1:1/0", "s3c#ret"),
    ("redis://:s3c@ret@127.0.0.1:1/0", "s3c@ret"),
    ("redis://:s3c%40r%2Fet@127.0.0.1:1/0", "s3c%40r%2Fet"),
    ("redis://:p%zzs3cret@127.0.0.1:1/0", "zzs3cret"),
])
def test_connect_errors_never_show_a_password_with_url_characters(url, secret):
    with pytest.raises((live.RedisUnavailable, ValueError)) as info:
        live.connect(url)
    message = str(info.value)
    assert "s3c" not in message and secret not in message, message
    assert "***" in message and "\n" not in message


def _doctor(**env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SIMLAB_PG_SCHEMA")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-m", "simlab.cli", "doctor"], env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return out.stdout + out.stderr


@pytest.mark.parametrize("redis_url, database_url", [
    ("redis://:s3c/ret@127.0.0.1:7/0", "postgresql://u:p%zzs3cret@127.0.0.1:1/db"),
    ("redis://:s3c@:/%#?ret@127.0.0.1:7/0", "postgresql://u:s3c/ret@127.0.0.1:1/db"),
    ("redis://:s3c%40ret%2F@127.0.0.1:1/0", "postgresql://u:s3c%40ret@127.0.0.1:1/db"),
    ("redis://s3c@ret@127.0.0.1:1/0", "postgresql://u:s3c#ret@127.0.0.1:1/db"),
])
def test_the_doctor_never_shows_a_password_with_url_characters(redis_url, database_url):
    out = _doctor(REDIS_URL=redis_url, DATABASE_URL=database_url)
    assert "REDIS_URL" in out and "DATABASE_URL" in out and "Traceback" not in out, out
    assert "s3c" not in out and "zzs3" not in out, out
    assert "***@127.0.0.1" in out


@pytest.mark.real
def test_a_password_with_url_characters_in_banners_and_errors(private_redis, room):
    """A server whose password holds @:/%#? : reachable with the percent-encoded URL, and
    never shown raw, encoded or decoded; the same password written unescaped is refused in one
    sentence that does not show it (redis-py would connect to another host)."""
    from urllib.parse import quote
    secret = "s3c@:/%#?ret"
    owner = private_redis.client()
    owner.config_set("requirepass", secret)
    try:
        good = f"redis://:{quote(secret, safe='')}@127.0.0.1:{private_redis.port}/0"
        r = live.connect(good)
        for text in (r.backend, live.backend_banner(r, room)):
            assert "s3c" not in text and f"***@127.0.0.1:{private_redis.port}" in text
        wrong = f"redis://:{quote('x' + secret, safe='')}@127.0.0.1:{private_redis.port}/0"
        with pytest.raises(live.RedisUnavailable, match="refused the credentials") as info:
            live.connect(wrong)
        assert "s3c" not in str(info.value)
        with pytest.raises(ValueError, match="percent-encode") as info:
            live.connect(f"redis://:{secret}@127.0.0.1:{private_redis.port}/0")
        assert "s3c" not in str(info.value)
        r.close()
    finally:
        authed = redis.Redis(host="127.0.0.1", port=private_redis.port, password=secret)
        authed.config_set("requirepass", "")
        authed.close()


def test_connect_answers_a_bad_database_in_one_line(private_redis):
    """REDIS_URL with /abc is refused before connecting; /99 gets the server's refusal kindly."""
    base = private_redis.url.rsplit("/", 1)[0]
    with pytest.raises(ValueError) as bad:
        live.client.connect(base + "/abc")
    assert "\n" not in str(bad.value) and "abc" in str(bad.value)
    with pytest.raises(live.RedisUnavailable) as missing:
        live.client.connect(base + "/99")
    text = str(missing.value)
    assert "\n" not in text and "database" in text and "Traceback" not in text
    assert live.client.connect(base + "/3").ping()


@pytest.mark.parametrize("url", [123, b"redis://127.0.0.1:1/0", ["redis://"]])
def test_connect_names_a_url_that_is_not_text(url):
    with pytest.raises(TypeError, match=f"url must be a Redis URL string .* got "
                                        f"{type(url).__name__}"):
        live.connect(url)


@pytest.mark.parametrize("option", ["sockettimeout=5", "foo=bar", "Password=hunter2"])
def test_connect_names_a_url_option_redis_py_does_not_take(monkeypatch, option):
    """A typo in REDIS_URL's options: one line naming the option (never its value), before
    any connection; the same through the queue helpers, which check REDIS_URL first."""
    from simlab.live.queues import QueueServer
    url = f"redis://:r-s3cret@127.0.0.1:1/0?{option}"
    name = option.split("=")[0]
    with pytest.raises(ValueError, match=f"REDIS_URL: the option '{name}'") as info:
        live.connect(url)
    assert "s3cret" not in str(info.value) and "hunter2" not in str(info.value)
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(ValueError, match=f"the option '{name}'"):
        QueueServer()


def test_the_queue_helpers_say_in_one_sentence_that_no_server_answers(monkeypatch):
    from simlab.live.queues import QueueServer
    monkeypatch.setenv("REDIS_URL", "redis://:r-s3cret@127.0.0.1:1/0")
    with pytest.raises(live.RedisUnavailable, match="No Redis server answered at "
                                                    r"redis://:\*\*\*@127.0.0.1:1/0") as info:
        QueueServer()
    assert "s3cret" not in str(info.value)
