import sqlite3

import pytest

from simlab.live import FilingRoom, filing_room, make_users


def test_dataset_is_seeded():
    assert list(make_users(50, seed=1)) == list(make_users(50, seed=1))
    assert list(make_users(50, seed=1)) != list(make_users(50, seed=2))


def test_sqlite_file_is_real_and_indexed(sqlite_path):
    con = sqlite3.connect(sqlite_path)
    plan = con.execute("EXPLAIN QUERY PLAN SELECT * FROM whiteboard_users WHERE id = 5").fetchall()
    assert "PRIMARY KEY" in str(plan) or "INTEGER PRIMARY KEY" in str(plan)
    assert con.execute("SELECT count(*) FROM whiteboard_users").fetchone()[0] == 3000


def test_get_and_update(room):
    user = room.get_user(42)
    assert user["id"] == 42 and "@example.com" in user["email"]
    assert room.get_user(10**9) is None
    room.update_user(42, plan="team")
    assert room.get_user(42)["plan"] == "team"
    with pytest.raises(ValueError, match="fields must be among"):
        room.update_user(42, password="x")
    assert (room.time_get_user([1, 2, 3]) > 0).all()


def test_make_users_checks_n():
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        list(make_users(0))


def test_default_is_sqlite(monkeypatch, tmp_path, sqlite_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SIMLAB_DATA", str(sqlite_path.parent))
    assert filing_room().kind == "sqlite"


@pytest.mark.postgres
def test_postgres_filing_room(database_url):
    room = FilingRoom.postgres(database_url)
    try:
        assert room.kind == "postgres" and room.n_users == 100_000
        # user 77: the notebooks and other tests update some users (42, 8) in a shared database
        user = room.get_user(77)
        assert user == dict(zip(user, next(r for r in make_users() if r[0] == 77)))
    finally:
        room.close()


@pytest.mark.postgres
def test_seed_get_user_against_postgres(database_url):
    import simlab.live as live
    room = FilingRoom.postgres(database_url)
    r = live.connect(None)
    try:
        ca = live.CacheAside(r, room, ttl=30)
        assert ca.get_user(5) == ca.get_user(5)
        assert list(ca.table()["outcome"]) == ["miss", "hit"]
    finally:
        live.cleanup(r)
        room.close()


def test_unreachable_postgres_is_friendly():
    pytest.importorskip("psycopg")
    with pytest.raises(ConnectionError, match="No PostgreSQL answered at .* unset it to use SQLite"):
        FilingRoom.postgres("postgresql://postgres@127.0.0.1:1/test")
