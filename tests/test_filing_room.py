import hashlib
import sqlite3
import subprocess
import sys

import pytest

from simlab.live import FilingRoom, build_sqlite, filing_room, make_users
from simlab.live.filing_room import NotOwnedError, remove_sqlite


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def test_a_lessons_writes_never_reach_the_shared_file(tmp_path):
    """update_user writes a private copy: the file is unchanged, byte for byte; another room
    (the next run of the notebook) reads the original; restore() and close() undo it."""
    path = build_sqlite(tmp_path / "users.sqlite", n=500)
    before = _digest(path)
    with FilingRoom.sqlite(path) as room:
        original = room.get_user(42)
        room.update_user(42, city="Lisbon", plan="enterprise")
        room.update_user(42, city="Porto")          # a second write to the same user
        room.update_user(10**9, city="Nowhere")     # no such user: still none
        assert room.get_user(42)["city"] == "Porto"
        assert room.get_user(42)["plan"] == "enterprise"
        assert room.get_user(10**9) is None
        assert room.get_user(43) == dict(zip(original, next(r for r in make_users(500)
                                                             if r[0] == 43)))
        assert room.changed == [42, 10**9]
        with FilingRoom.sqlite(path) as other:      # a rerun, a second learner
            assert other.get_user(42) == original
        assert room.restore() == 2 and room.changed == []
        assert room.get_user(42) == original
        room.update_user(42, city="Lisbon")
    assert _digest(path) == before
    with FilingRoom.sqlite(path) as again:
        assert again.get_user(42) == original


def test_sqlite_room_opens_the_file_read_only(tmp_path):
    path = build_sqlite(tmp_path / "users.sqlite", n=100)
    with FilingRoom.sqlite(path) as room:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            room._con.execute("DELETE FROM whiteboard_users")


def test_sqlite_refuses_a_file_simlab_did_not_build(tmp_path):
    path = tmp_path / "users.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE mine (x)")
    con.commit()
    con.close()
    before = _digest(path)
    with pytest.raises(NotOwnedError, match="not a filing room simlab built"):
        FilingRoom.sqlite(path)
    with pytest.raises(NotOwnedError, match="leaves it alone"):
        remove_sqlite(path)
    assert _digest(path) == before


def test_remove_sqlite_removes_only_its_own_file(tmp_path):
    path = build_sqlite(tmp_path / "users.sqlite", n=50)
    assert remove_sqlite(path) == f"removed {path} (rebuilt on first use)"
    assert not path.exists()
    assert remove_sqlite(path).startswith("nothing to remove")


def test_three_processes_building_sqlite_at_once(tmp_path):
    """First use in three kernels at once: each builds under its own temporary name and
    renames it into place, so all three open a complete file."""
    code = ("import sys; from simlab.live import FilingRoom; r = FilingRoom.sqlite(sys.argv[1]); "
            "print(r.n_users, r.get_user(99_999)['email'])")
    path = tmp_path / "users.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert len({out for out, _ in outs}) == 1 and outs[0][0].startswith("100000 ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.sqlite"]   # no temp files


def test_make_users_checks_n():
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        list(make_users(0))


def test_default_is_sqlite(monkeypatch, tmp_path, sqlite_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SIMLAB_DATA", str(sqlite_path.parent))
    assert filing_room().kind == "sqlite"


@pytest.mark.postgres
def test_postgres_filing_room(scratch_url):
    room = FilingRoom.postgres(scratch_url)
    try:
        assert room.kind == "postgres" and room.n_users == 100_000
        assert room.table == '"whiteboard"."users"'
        user = room.get_user(77)
        assert user == dict(zip(user, next(r for r in make_users() if r[0] == 77)))
        room.update_user(77, city="Lisbon")
        assert room.get_user(77)["city"] == "Lisbon"
        with FilingRoom.postgres(scratch_url) as other:   # another learner, or a rerun
            assert other.get_user(77) == user
    finally:
        room.close()
    with FilingRoom.postgres(scratch_url) as again:
        assert again.get_user(77) == user


@pytest.mark.postgres
def test_seed_get_user_against_postgres(scratch_url):
    import simlab.live as live
    room = FilingRoom.postgres(scratch_url)
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


def test_unreachable_postgres_hides_the_password():
    pytest.importorskip("psycopg")
    with pytest.raises(ConnectionError) as info:
        FilingRoom.postgres("postgresql://postgres:s3cret@127.0.0.1:1/test")
    assert "s3cret" not in str(info.value) and "postgres:***@127.0.0.1:1" in str(info.value)
