"""`simlab doctor` only looks: it creates, loads and changes nothing, and shows no password.

PostgreSQL tests run in a scratch database of their own, created and dropped here.
"""
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from simlab.live import redis_server_binary

LEARNER_ROWS = [(1, "my own row"), (2, "another of mine")]


def with_password(url, password):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(
        netloc=f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port}"))


def doctor(tmp_path, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SIMLAB_PG_SCHEMA")}
    env["SIMLAB_DATA"] = str(tmp_path / "data")
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-m", "simlab.cli", "doctor"], env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return out.stdout


def catalogue(url):
    """Every schema, relation and its row estimate outside the system catalogues, and the
    learner's table's rows: what a write of any kind would change."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        relations = con.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', "
            "'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' "
            "ORDER BY 1, 2").fetchall()
        spaces = con.execute("SELECT nspname, obj_description(oid, 'pg_namespace') "
                             "FROM pg_namespace ORDER BY 1").fetchall()
        rows = con.execute("SELECT * FROM public.whiteboard_users ORDER BY id").fetchall() \
            if ("public", "whiteboard_users", "r") in relations else None
    return relations, spaces, rows


def learner_table(url, qualified):
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified.split('.')[0]}")
        con.execute(f"CREATE TABLE {qualified} (id INTEGER PRIMARY KEY, note TEXT)")
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO {qualified} VALUES (%s, %s)", LEARNER_ROWS)


def test_doctor_never_builds_the_sqlite_file(tmp_path):
    out = doctor(tmp_path)
    assert "not built yet: built on first use" in out
    assert not (tmp_path / "data").exists()


def test_doctor_reads_an_existing_sqlite_file_without_changing_it(tmp_path):
    from simlab.live import build_sqlite
    path = build_sqlite(tmp_path / "data" / "users.sqlite", n=30)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert f"{path} (30 users)" in doctor(tmp_path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["users.sqlite"]


@pytest.mark.postgres
def test_doctor_leaves_a_database_without_the_schema_as_it_was(scratch_url, tmp_path):
    learner_table(scratch_url, "public.whiteboard_users")
    before = catalogue(scratch_url)
    out = doctor(tmp_path, DATABASE_URL=with_password(scratch_url, "pg-s3cret"))
    assert catalogue(scratch_url) == before
    assert before[2] == LEARNER_ROWS
    assert "schema whiteboard  absent: simlab creates it" in out
    assert "PostgreSQL 1" in out and ":***@" in out and "pg-s3cret" not in out


@pytest.mark.postgres
def test_doctor_reports_simlabs_schema_and_a_foreign_one(scratch_url, tmp_path):
    from simlab.live import FilingRoom
    FilingRoom.postgres(scratch_url).close()
    before = catalogue(scratch_url)
    out = doctor(tmp_path, DATABASE_URL=scratch_url)
    assert "schema whiteboard  simlab's, 100,000 users, created " in out
    assert catalogue(scratch_url) == before
    learner_table(scratch_url, "theirs.users")
    before = catalogue(scratch_url)
    out = doctor(tmp_path, DATABASE_URL=scratch_url, SIMLAB_PG_SCHEMA="theirs")
    assert "schema theirs  exists and simlab did not create it" in out
    assert catalogue(scratch_url) == before


def test_doctor_hides_passwords_of_servers_that_do_not_answer(tmp_path):
    pytest.importorskip("psycopg")
    out = doctor(tmp_path, REDIS_URL="redis://:r-s3cret@127.0.0.1:1/0",
                 DATABASE_URL="postgresql://alice:pg-s3cret@127.0.0.1:1/shop")
    assert "NOT ANSWERING: no Redis server answered at redis://:***@127.0.0.1:1/0" in out
    assert "NOT USABLE: No PostgreSQL answered at postgresql://alice:***@127.0.0.1:1/shop" in out
    assert "s3cret" not in out


def test_doctor_names_an_option_redis_py_does_not_take(tmp_path):
    out = doctor(tmp_path, REDIS_URL="redis://:r-s3cret@127.0.0.1:1/0?sockettimeout=5")
    assert "NOT USABLE: the option 'sockettimeout' (after '?') is not one redis-py takes" in out
    assert "s3cret" not in out and "Traceback" not in out


READ_ONLY = {"info", "ping", "hello", "auth", "select", "client|setinfo"}


@pytest.mark.real
def test_doctor_only_reads_from_redis(tmp_path):
    """Against a private server with a password: the keyspace is the same afterwards and every
    command the server counted in between is a read (INFO's own commandstats)."""
    if not redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    import redis

    from simlab.live import PrivateRedis
    server = PrivateRedis({"requirepass": "r-s3cret"}).start()
    try:
        r = redis.Redis(port=server.port, password="r-s3cret")
        r.set("learner:1", "mine")
        r.set("wb:user:1", "cached", ex=600)
        r.rpush("learner:list", "a", "b")
        before = {k: r.dump(k) for k in r.keys("*")}
        stats = r.info("commandstats")
        out = doctor(tmp_path, REDIS_URL=f"redis://:r-s3cret@127.0.0.1:{server.port}/0")
        after_stats = r.info("commandstats")
        sent = {name.removeprefix("cmdstat_") for name, v in after_stats.items()
                if v["calls"] != stats.get(name, {}).get("calls", 0)}
        assert sent <= READ_ONLY, sent
        assert {k: r.dump(k) for k in r.keys("*")} == before
        assert "Redis 7" in out and "redis://:***@127.0.0.1" in out and "r-s3cret" not in out
    finally:
        server.stop()


LIBPQ_SECRETS = [      # (what follows "password=" in a libpq string, what libpq reads)
    (r"Hunter2\ TopSecretTail", "Hunter2 TopSecretTail"),             # an escaped space
    (r"Hunter2\\\ TopSecret\\Tail", "Hunter2\\ TopSecret\\Tail"),      # escaped backslashes
    (r"'Hunter2 \'TopSecret\' Tail'", "Hunter2 'TopSecret' Tail"),     # quoted, escaped quotes
    (r"'Hunter2 TopSecret\\Tail\\'", "Hunter2 TopSecret\\Tail\\"),   # ... and backslashes
    (r"Hunter2'TopSecretTail", "Hunter2'TopSecretTail"),              # a quote inside
]


@pytest.mark.parametrize("written, value", LIBPQ_SECRETS)
def test_a_libpq_password_is_hidden_as_libpq_reads_it(written, value):
    """`password=Hunter2\\ TopSecretTail` (libpq: a backslash escapes a space) was shown as
    `password=*** TopSecretTail`."""
    from simlab.live.urls import redact, redact_text, scrub, secrets_of
    conninfo = f"host=127.0.0.1 user=postgres password={written} dbname=shop"
    conninfo_to_dict = pytest.importorskip("psycopg.conninfo").conninfo_to_dict
    assert conninfo_to_dict(conninfo)["password"] == value          # libpq's own reading
    assert redact(conninfo) == "host=127.0.0.1 user=postgres password=*** dbname=shop"
    assert "TopSecret" not in redact(conninfo)
    assert redact(f"host=db password={written}") == "host=db password=***"
    assert "TopSecret" not in redact_text(f"DATABASE_URL {conninfo} (refused)")
    assert value in secrets_of(conninfo)
    said = scrub(f"authentication failed for {value}; as written {written}", conninfo)
    assert "TopSecret" not in said and "Tail" not in said, said


@pytest.mark.postgres
def test_doctor_hides_an_escaped_libpq_password(scratch_url, tmp_path):
    parts = urlsplit(scratch_url)
    conninfo = (f"host={parts.hostname} port={parts.port} dbname={parts.path.lstrip('/')} "
                rf"user={parts.username or 'postgres'} password=Hunter2\ TopSecretTail")
    out = doctor(tmp_path, DATABASE_URL=conninfo)                # trust auth ignores it
    assert "PostgreSQL 1" in out and "password=***" in out
    out += doctor(tmp_path, DATABASE_URL=conninfo + " sslmode=bogus")    # NOT USABLE
    assert "NOT USABLE" in out
    assert "TopSecret" not in out and "Hunter2" not in out and "Tail" not in out, out
