"""The shop in the filing room: seeded data, real SQLite files, the same answers on PostgreSQL."""
import json
import sqlite3

import numpy as np
import pytest
from conftest import scratch_database

import simlab

from simlab.live import FilingRoom, make_users
from simlab.live import shop as shop_module
from simlab.live.filing_room import NotOwnedError, pg_schema
from simlab.live.shop import (CATEGORIES, END, HISTORY_DAYS, Shop, build_shop_sqlite,
                              dashboard_since, make_shop, time_cached_gets)

SMALL = dict(n_users=400, n_products=60, n_orders=6000, seed=7)


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory):
    path = build_shop_sqlite(tmp_path_factory.mktemp("shop") / "shop.sqlite", **SMALL)
    shop = Shop.sqlite(path)
    yield shop
    shop.close()


def test_make_shop_is_seeded():
    a, b = make_shop(50, 10, 500, seed=1), make_shop(50, 10, 500, seed=1)
    c = make_shop(50, 10, 500, seed=2)
    for table in ("products", "orders"):
        for column in a[table]:
            assert np.array_equal(a[table][column], b[table][column])
    assert not np.array_equal(a["orders"]["user_id"], c["orders"]["user_id"])


def test_make_shop_rows_are_sensible():
    data = make_shop(**SMALL)
    p, o = data["products"], data["orders"]
    assert len(p["id"]) == 60 and len(o["id"]) == 6000
    assert o["user_id"].min() >= 1 and o["user_id"].max() <= 400
    assert o["product_id"].min() >= 1 and o["product_id"].max() <= 60
    assert np.all(np.diff(o["created_at"].astype(np.int64)) >= 0)       # ids follow time
    start = END - np.timedelta64(HISTORY_DAYS, "D")
    assert o["created_at"].min() >= start and o["created_at"].max() < END
    assert np.array_equal(o["price_cents"], p["price_cents"][o["product_id"] - 1])
    assert set(p["category"]) <= set(CATEGORIES) and (o["quantity"] >= 1).all()


def test_make_shop_checks_its_arguments():
    with pytest.raises(ValueError, match="n_orders must be a positive integer, got 0"):
        make_shop(n_orders=0)
    with pytest.raises(TypeError, match="n_products must be a positive integer"):
        make_shop(n_products=2.5)


def test_sqlite_file_has_the_rows_and_indexes(small_shop, tmp_path):
    assert (small_shop.n_users, small_shop.n_products, small_shop.n_orders) == (400, 60, 6000)
    path = build_shop_sqlite(tmp_path / "again.sqlite", **SMALL)
    con = sqlite3.connect(path)
    indexes = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"orders_user_created", "orders_product_created", "products_category"} <= indexes
    plan = str(con.execute("EXPLAIN QUERY PLAN SELECT * FROM orders WHERE user_id = 3 "
                           "ORDER BY created_at DESC LIMIT 10").fetchall())
    assert "orders_user_created" in plan
    assert not list(tmp_path.glob("*.tmp"))


def test_shop_file_is_opened_read_only(small_shop):
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        small_shop._con.execute("DELETE FROM orders")


def test_get_user_is_the_course_user(small_shop):
    row = next(r for r in make_users(400, 7) if r[0] == 77)
    assert small_shop.get_user(77) == dict(zip(small_shop.get_user(77), row))
    assert small_shop.get_user(10**6) is None


def test_recent_orders_agree_with_numpy(small_shop):
    o, p = make_shop(**SMALL)["orders"], make_shop(**SMALL)["products"]
    user = int(np.bincount(o["user_id"]).argmax())          # a user with many orders
    mine = np.flatnonzero(o["user_id"] == user)
    last = mine[np.lexsort((-o["id"][mine], -o["created_at"][mine].astype(np.int64)))][:10]
    got = small_shop.recent_orders(user)
    assert len(mine) > 10 and len(got) == 10
    assert [g["id"] for g in got] == o["id"][last].tolist()
    assert [g["product"] for g in got] == p["name"][o["product_id"][last] - 1].tolist()
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        small_shop.recent_orders(user, 0)


def test_dashboard_agrees_with_numpy(small_shop):
    data = make_shop(**SMALL)
    o, p = data["orders"], data["products"]
    since = np.datetime64(dashboard_since(12).replace(" ", "T"))
    category = p["category"][o["product_id"] - 1]
    for cat in ("books", "toys"):
        keep = (category == cat) & (o["created_at"] >= since)
        months = o["created_at"][keep].astype("datetime64[M]").astype(str)
        revenue = (o["quantity"] * o["price_cents"])[keep]
        want = [{"month": m, "orders": int((months == m).sum()),
                 "revenue_cents": int(revenue[months == m].sum())} for m in np.unique(months)]
        assert small_shop.dashboard(cat) == want
        assert 1 <= len(want) <= 12
    with pytest.raises(ValueError, match="category must be one of .*got 'sweets'"):
        small_shop.dashboard("sweets")


def test_time_times_each_call(small_shop):
    assert (small_shop.time("user", [1, 2, 3]) > 0).all()
    assert small_shop.time("dashboard", ["books", "toys"]).shape == (2,)
    with pytest.raises(ValueError, match="query must be one of"):
        small_shop.time("everything", [1])


def test_dashboard_since_counts_back_from_the_end():
    assert dashboard_since(12) == "2025-11-01 00:00:00"
    assert dashboard_since(1) == "2026-10-01 00:00:00"


def test_cached_gets_read_the_value_and_leave_nothing(redis_client):
    value = [{"month": "2026-10", "orders": 3, "revenue_cents": 1200}]
    name = simlab.key("test", "dashboard")
    out = time_cached_gets(redis_client, value, 20, name=name)
    assert out.shape == (20,) and (out > 0).all()
    assert redis_client.exists(name) == 0
    gets = redis_client.commands().query("command == 'GET'")
    assert len(gets) == 20 and gets["hit"].all()
    for foreign in ("dashboard", "wb:bob:dashboard", "wb:test:dashboard"):   # not the learner's
        with pytest.raises(ValueError, match="name must lie in your own namespace"):
            time_cached_gets(redis_client, value, 5, name=foreign)


@pytest.fixture(scope="module")
def shop_url(database_url):
    """A scratch database of this module's own on DATABASE_URL's server (the full shop is
    loaded into it once), dropped afterwards: the database DATABASE_URL names is untouched."""
    with scratch_database(database_url, "simlab_test_shop") as url:
        yield url


def sql_rows(url, query, params=()):
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        return con.execute(query, params or None).fetchall()


@pytest.fixture
def small_pg_shop(monkeypatch):
    """The shop's PostgreSQL loader with 60 products and 6,000 orders (the users stay the
    course's 100,000), so that a test can load it, and load it again, in a second."""
    make = shop_module.make_shop
    monkeypatch.setattr(shop_module, "N_PRODUCTS", 60)
    monkeypatch.setattr(shop_module, "N_ORDERS", 6000)
    monkeypatch.setattr(shop_module, "make_shop", lambda: make(n_products=60, n_orders=6000))
    monkeypatch.delenv("SIMLAB_PG_SCHEMA", raising=False)


def shop_oids(url):
    listed = sql_rows(url, "SELECT shop_oids FROM whiteboard.simlab_owner")[0][0]
    actual = sql_rows(url, "SELECT c.oid FROM pg_class c WHERE c.relnamespace = "
                           "'whiteboard'::regnamespace AND c.relname LIKE 'shop%' "
                           "AND c.relkind = 'r'")
    return sorted(listed), sorted(row[0] for row in actual)


@pytest.mark.postgres
def test_postgres_shop_gives_the_same_answers(shop_url):
    import psycopg
    pg, lite = Shop.postgres(shop_url), Shop.sqlite()
    try:
        assert (pg.n_users, pg.n_products, pg.n_orders) == (lite.n_users, lite.n_products,
                                                             lite.n_orders)
        for user in (1, 77, 4321, 99_999):
            assert pg.recent_orders(user) == lite.recent_orders(user)
        assert pg.get_user(77) == lite.get_user(77)
        for cat in CATEGORIES:
            assert pg.dashboard(cat) == lite.dashboard(cat)
        json.dumps(pg.dashboard("books"))                    # cacheable as it comes
    finally:
        pg.close()
        lite.close()
    with psycopg.connect(shop_url) as con:                   # nothing of ours in public
        row = con.execute("SELECT to_regclass('public.shop_orders'), "
                          "to_regclass(%s)", (f'{pg_schema()}.shop_orders',)).fetchone()
    assert row[0] is None and row[1] is not None


@pytest.mark.postgres
def test_postgres_shop_sessions_are_read_only(shop_url):
    import psycopg
    pg = Shop.postgres(shop_url)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            pg._con.execute(f'DELETE FROM "{pg_schema()}".shop_orders WHERE id = 1')
        assert pg._con.execute("SHOW search_path").fetchone()[0] == "pg_catalog, pg_temp"
    finally:
        pg.close()


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["shop_orders", "shop_products", "shop_meta"])
def test_postgres_shop_never_replaces_a_learners_table(scratch_url, small_pg_shop, name):
    """A learner's own table in simlab's schema, named like one of the shop's: loading the
    shop used to DROP it and put the shop's in its place (or, for shop_meta, fail with an
    UndefinedColumn traceback). Now: one line naming it, and nothing changes."""
    import psycopg
    FilingRoom.postgres(scratch_url).close()
    with psycopg.connect(scratch_url, autocommit=True) as con:
        con.execute(f"CREATE TABLE whiteboard.{name} (id INTEGER PRIMARY KEY, note TEXT)")
        con.execute(f"INSERT INTO whiteboard.{name} VALUES (1, 'mine'), (2, 'also mine')")
    before = sql_rows(scratch_url, "SELECT relname FROM pg_class WHERE relnamespace = "
                                   "'whiteboard'::regnamespace ORDER BY 1")
    for _ in range(2):
        with pytest.raises(NotOwnedError) as info:
            Shop.postgres(scratch_url)
        message = str(info.value)
        assert message.startswith(f"whiteboard.{name} is not a table simlab created (its "
                                  "marker does not list it), so simlab will not replace it")
        assert "\n" not in message and "SIMLAB_PG_SCHEMA=whiteboard_course" in message
    assert sql_rows(scratch_url, f"SELECT * FROM whiteboard.{name} ORDER BY id") == \
        [(1, "mine"), (2, "also mine")]
    assert sql_rows(scratch_url, "SELECT relname FROM pg_class WHERE relnamespace = "
                                 "'whiteboard'::regnamespace ORDER BY 1") == before
    assert shop_oids(scratch_url)[0] == []


@pytest.mark.postgres
def test_postgres_shop_tables_are_listed_rebuilt_and_cleaned(scratch_url, small_pg_shop):
    """The shop's tables are listed by oid in simlab's marker; a shop of simlab's that is
    incomplete is rebuilt (and listed anew); `simlab clean --database` then drops them."""
    import os
    import subprocess
    import sys
    Shop.postgres(scratch_url).close()
    listed, actual = shop_oids(scratch_url)
    assert len(listed) == 3 and listed == actual
    deleted = sql_rows(scratch_url, "DELETE FROM whiteboard.shop_meta RETURNING version")
    assert deleted == [(shop_module.SHOP_VERSION,)]             # now half-built: reloaded
    pg = Shop.postgres(scratch_url)
    try:
        assert pg.n_orders == 6000 and pg.dashboard("books")
    finally:
        pg.close()
    again, actual = shop_oids(scratch_url)
    assert len(again) == 3 and again == actual and not set(again) & set(listed)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SIMLAB_PG_SCHEMA")}
    out = subprocess.run([sys.executable, "-m", "simlab.cli", "clean", "--database"],
                         env={**env, "DATABASE_URL": scratch_url}, capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith("with its tables users (100,000 users), shop_products, "
                                        "shop_orders, shop_meta, simlab_owner")
    assert sql_rows(scratch_url, "SELECT to_regnamespace('whiteboard')") == [(None,)]
