"""The filing room with real work in it: a small shop (users, products, a million orders).

Notebook 02 times three queries against it: a primary-key lookup (a user), a join (a user's
last orders with the products' names) and an aggregate (a dashboard: orders and revenue per
month over the last twelve months, for one category), each against one GET of the cached
result on the whiteboard. Notebook 03 caches the dashboard with cache-aside.

The data come from a seeded, vectorised generator (:func:`make_shop`): the same seed gives the
same rows on SQLite (``data/shop.sqlite``, built on first use) and on PostgreSQL (tables in
simlab's own schema, loaded with COPY). Money is in integer cents and times are whole seconds,
so both databases return exactly the same answers.
"""
from __future__ import annotations

import heapq
import io
import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .. import _validate as v
from .client import key as course_key, namespace
from .filing_room import N_USERS, SEED, default_data_dir, make_users

fr = sys.modules[__package__ + ".filing_room"]   # the module (the package exports a function
                                                 # of the same name)

N_PRODUCTS = 10_000
N_ORDERS = 1_000_000
#: the shop's history ends here (exclusive); "the last twelve months" count back from it
END = np.datetime64("2026-11-01T00:00:00", "s")
HISTORY_DAYS = 730
CATEGORIES = ("books", "music", "games", "garden", "kitchen", "tools", "toys", "sports",
              "outdoor", "office", "pets", "baby", "beauty", "health", "shoes", "bags",
              "lighting", "bikes", "camera", "audio")
_ADJECTIVES = ("red blue quiet rapid tiny giant golden silver wooden smart classic modern "
               "compact deluxe eco").split()
_NOUNS = ("lamp kettle novel board chair drill ball tent pen leash pram brush boot satchel "
          "bulb bell lens speaker mug clock").split()

USER_COLUMNS = ("id", "name", "email", "city", "plan", "signup_date", "bio")
ORDER_COLUMNS = ("id", "created_at", "product", "quantity", "price_cents")
DASHBOARD_COLUMNS = ("month", "orders", "revenue_cents")


def make_shop(n_users: int = N_USERS, n_products: int = N_PRODUCTS, n_orders: int = N_ORDERS,
              seed: int = SEED) -> dict:
    """The shop's products and orders as NumPy columns, the same for the same arguments.

    Parameters
    ----------
    n_users, n_products, n_orders : int
        Table sizes (users are the course's users, :func:`simlab.live.make_users`).
    seed : int
        Seed of the generator.

    Returns
    -------
    dict
        ``products``: ``id``, ``name``, ``category``, ``price_cents``; ``orders``: ``id``,
        ``user_id``, ``product_id``, ``quantity``, ``price_cents``, ``created_at``
        (``datetime64[s]``, increasing with ``id``), over :data:`HISTORY_DAYS` days up to
        :data:`END`. Users and products are skewed: a few buy, and are bought, far more.
    """
    n_users = v.positive_int("n_users", n_users)
    n_products = v.positive_int("n_products", n_products)
    n_orders = v.positive_int("n_orders", n_orders)
    rng = np.random.default_rng([seed, 2])
    pid = np.arange(1, n_products + 1)
    adjective = rng.integers(len(_ADJECTIVES), size=n_products)
    noun = rng.integers(len(_NOUNS), size=n_products)
    names = np.char.add(np.char.add(np.asarray(_ADJECTIVES)[adjective], " "),
                        np.asarray(_NOUNS)[noun])
    names = np.char.add(np.char.add(names, " #"), pid.astype(str))
    category = np.asarray(CATEGORIES)[rng.integers(len(CATEGORIES), size=n_products)]
    price = np.round(rng.lognormal(np.log(2500), 0.9, size=n_products)).astype(np.int64) + 99
    user_weight = rng.lognormal(0.0, 1.0, size=n_users)
    product_weight = rng.lognormal(0.0, 1.5, size=n_products)
    user = _weighted(rng, user_weight, n_orders)
    product = _weighted(rng, product_weight, n_orders)
    quantity = np.minimum(rng.geometric(0.6, size=n_orders), 9)
    seconds = np.sort(rng.integers(0, HISTORY_DAYS * 86_400, size=n_orders))
    created = END - np.timedelta64(HISTORY_DAYS * 86_400, "s") + seconds.astype("timedelta64[s]")
    return {"products": {"id": pid, "name": names, "category": category, "price_cents": price},
            "orders": {"id": np.arange(1, n_orders + 1), "user_id": user, "product_id": product,
                       "quantity": quantity, "price_cents": price[product - 1],
                       "created_at": created}}


def _weighted(rng, weights, n):
    """``n`` ids in 1..len(weights), drawn with probability proportional to ``weights``."""
    cdf = np.cumsum(weights)
    u = rng.random(n) * cdf[-1]
    order = np.argsort(u)                  # searching in sorted order is ten times faster
    out = np.empty(n, dtype=np.int64)
    out[order] = np.searchsorted(cdf, u[order], side="right") + 1
    return out


def dashboard_since(months: int = 12) -> str:
    """The first instant (ISO text) of the dashboard's window of ``months`` months."""
    months = v.positive_int("months", months)
    end = END.astype("datetime64[M]")
    return str((end - months).astype("datetime64[s]")).replace("T", " ")


# --------------------------------------------------------------------------------- SQLite --

_SQLITE_SCHEMA = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, "
    "city TEXT, plan TEXT, signup_date TEXT, bio TEXT)",
    "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "category TEXT NOT NULL, price_cents INTEGER NOT NULL)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, "
    "product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, price_cents INTEGER NOT NULL, "
    "created_at TEXT NOT NULL)",
)
_INDEXES = (
    "CREATE INDEX orders_user_created ON orders (user_id, created_at)",
    # the dashboard's: a category's products, then their orders since a date, from the index
    "CREATE INDEX orders_product_created ON orders (product_id, created_at, quantity, "
    "price_cents)",
    "CREATE INDEX products_category ON products (category)",
)


def build_shop_sqlite(path: Path | str | None = None, *, n_users: int = N_USERS,
                      n_products: int = N_PRODUCTS, n_orders: int = N_ORDERS,
                      seed: int = SEED) -> Path:
    """Write the shop to a SQLite file (replacing it, atomically); return the path."""
    path = Path(path) if path else default_data_dir() / "shop.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = make_shop(n_users, n_products, n_orders, seed)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")     # 256 MiB while the indexes are built
        with con:
            for statement in _SQLITE_SCHEMA:
                con.execute(statement)
            con.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?)",
                            make_users(n_users, seed))
            p = data["products"]
            con.executemany("INSERT INTO products VALUES (?,?,?,?)",
                            zip(p["id"].tolist(), p["name"].tolist(), p["category"].tolist(),
                                p["price_cents"].tolist()))
            o = data["orders"]
            con.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?)",
                            zip(o["id"].tolist(), o["user_id"].tolist(),
                                o["product_id"].tolist(), o["quantity"].tolist(),
                                o["price_cents"].tolist(),
                                np.char.replace(np.datetime_as_string(o["created_at"], unit="s"),
                                                "T", " ").tolist()))
            for statement in _INDEXES:
                con.execute(statement)
            con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
            con.executemany("INSERT INTO meta VALUES (?, ?)",
                            [("n_users", str(n_users)), ("n_products", str(n_products)),
                             ("n_orders", str(n_orders)), ("seed", str(seed))])
        con.execute("ANALYZE")
    finally:
        con.close()
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- PostgreSQL --

SHOP_VERSION = 1        # bump when the shop's rows or columns change: PostgreSQL reloads
_PG_TABLES = ("shop_products", "shop_orders", "shop_meta")
_PG_SCHEMA = (
    "CREATE TABLE {s}.shop_products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "category TEXT NOT NULL, price_cents INTEGER NOT NULL)",
    "CREATE TABLE {s}.shop_orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, "
    "product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, price_cents INTEGER NOT NULL, "
    "created_at TIMESTAMP NOT NULL)",
)
_PG_INDEXES = (
    "CREATE INDEX ON {s}.shop_orders (user_id, created_at)",
    "CREATE INDEX ON {s}.shop_orders (product_id, created_at) INCLUDE (quantity, price_cents)",
    "CREATE INDEX ON {s}.shop_products (category)",
)


def _shop_tables(cur, schema: str, state: dict) -> dict:
    """``{name: oid or None}`` of the shop's tables in simlab's schema (``state``: what
    :func:`~simlab.live.filing_room._inspect_pg` found there, simlab's).

    Raises NotOwnedError, naming it, if one of those names is taken by a table (or anything
    else) that simlab's marker does not list by oid: simlab never replaces it."""
    listed = set(state["shop_oids"])
    found = {}
    for name in _PG_TABLES:
        oid = fr._table_oid(cur, schema, name)
        if oid is not None and oid not in listed:
            raise fr.NotOwnedError(
                f"{schema}.{name} is not a table simlab created (its marker does not list it), "
                f"so simlab will not replace it with the shop's: rename or move it, or set "
                f"SIMLAB_PG_SCHEMA to a name that is free (e.g. SIMLAB_PG_SCHEMA={schema}_course).")
        found[name] = oid
    return found


def _pg_shop_ready(cur, schema: str, state: dict) -> bool:
    if None in _shop_tables(cur, schema, state).values():
        return False
    cur.execute(f'SELECT n_products, n_orders, seed, version FROM "{schema}".shop_meta')
    return cur.fetchone() == (N_PRODUCTS, N_ORDERS, SEED, SHOP_VERSION)


def _ensure_pg_shop(con, url: str, schema: str) -> None:
    """Load the shop into simlab's schema unless it is there: one transaction under the
    filing room's advisory lock, so concurrent starts wait for the first and find it done.
    Only the shop's tables that simlab's marker lists by oid are ever replaced; a table of
    the same name that it does not list is refused (NotOwnedError), and nothing changes."""
    psycopg = fr._psycopg()

    def not_ours(cur):
        state = fr._inspect_pg(cur, schema)
        if state["state"] != "ours":   # _ensure_pg made it ours; a race dropped it
            raise fr.NotOwnedError(fr._not_ours_message(url, schema,
                                                        state.get("why", "it is gone")))
        return state

    try:
        with con.cursor() as cur:
            if _pg_shop_ready(cur, schema, not_ours(cur)):
                return
            with con.transaction():
                cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)",
                            (fr._lock_key(schema),))
                state = not_ours(cur)
                if _pg_shop_ready(cur, schema, state):
                    return
                _load_pg_shop(cur, schema, state)
            cur.execute(f'VACUUM ANALYZE "{schema}".shop_orders')     # index-only scans
            cur.execute(f'ANALYZE "{schema}".shop_products')
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.DuplicateTable,
            psycopg.errors.DuplicateObject, psycopg.errors.DependentObjectsStillExist) as exc:
        raise fr.NotOwnedError(
            f"simlab could not load the shop into its schema {schema} in {fr.redact(url)} "
            f"({fr._reason(exc, url)}), so it changed nothing: run it once as "
            "the schema's owner, or set SIMLAB_PG_SCHEMA to a name that is free.") from None


def _copy_frame(cur, table: str, frame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, sep="\t", header=False, index=False)
    with cur.copy(f"COPY {table} FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def _load_pg_shop(cur, schema: str, state: dict) -> None:
    """(Re)build the shop's tables in simlab's schema and list their oids in the marker.

    Only tables the marker lists are dropped first (a half-built or older shop of simlab's);
    a same-named table it does not list stops everything (NotOwnedError)."""
    import pandas as pd
    from psycopg import sql
    s = f'"{schema}"'
    ours = [name for name, oid in _shop_tables(cur, schema, state).items() if oid is not None]
    if ours:
        cur.execute(f"DROP TABLE {', '.join(f'{s}.{t}' for t in ours)}")
    for statement in _PG_SCHEMA:
        cur.execute(statement.format(s=s))
    data = make_shop()
    _copy_frame(cur, f"{s}.shop_products", pd.DataFrame(data["products"]))
    orders = pd.DataFrame(data["orders"])
    orders = orders[["id", "user_id", "product_id", "quantity", "price_cents", "created_at"]]
    _copy_frame(cur, f"{s}.shop_orders", orders)
    for statement in _PG_INDEXES:
        cur.execute(statement.format(s=s))
    cur.execute(f"CREATE TABLE {s}.shop_meta (n_products INTEGER, n_orders INTEGER, "
                "seed BIGINT, version INTEGER)")
    cur.execute(f"INSERT INTO {s}.shop_meta VALUES (%s, %s, %s, %s)",
                (N_PRODUCTS, N_ORDERS, SEED, SHOP_VERSION))
    cur.execute(sql.SQL("UPDATE {} SET shop_oids = ARRAY(SELECT c.oid FROM pg_catalog.pg_class c "
                        "WHERE c.relnamespace = %s AND c.relkind = 'r' "
                        "AND c.relname = ANY(%s) ORDER BY c.relname) WHERE marker = %s")
                .format(fr._q(schema, fr.PG_MARKER_TABLE)),
                (state["schema_oid"], list(_PG_TABLES), fr.MARKER))


# ------------------------------------------------------------------------------ the queries --

def _queries(schema: str, ph: str) -> dict:
    """The three queries in one database's dialect (``schema``: prefix of the table names)."""
    f = "" if ph == "?" else "pg_catalog."      # PostgreSQL: the built-in functions, always
    month = ("substr(o.created_at, 1, 7)" if ph == "?"
             else "pg_catalog.to_char(o.created_at, 'YYYY-MM')")
    created = ("o.created_at" if ph == "?"
               else "pg_catalog.to_char(o.created_at, 'YYYY-MM-DD HH24:MI:SS')")
    s = schema
    products, orders = ("products", "orders") if ph == "?" else ("shop_products", "shop_orders")
    return {
        "user": f"SELECT {', '.join(USER_COLUMNS)} FROM {s}users WHERE id = {ph}",
        "orders": (f"SELECT o.id, {created}, p.name, o.quantity, o.price_cents "
                   f"FROM {s}{orders} o JOIN {s}{products} p ON p.id = o.product_id "
                   f"WHERE o.user_id = {ph} ORDER BY o.created_at DESC, o.id DESC LIMIT {ph}"),
        "dashboard": (f"SELECT {month} AS month, {f}count(*) AS orders, "
                      f"{f}sum(o.quantity * o.price_cents) AS revenue_cents "
                      f"FROM {s}{orders} o JOIN {s}{products} p ON p.id = o.product_id "
                      f"WHERE p.category = {ph} AND o.created_at >= {ph} "
                      "GROUP BY 1 ORDER BY 1"),
    }


class Shop:
    """The shop in the filing room: :meth:`get_user`, :meth:`recent_orders`, :meth:`dashboard`.

    Use :meth:`sqlite`, :meth:`postgres` or :func:`shop` to get one. Every query counts in
    ``queries``; :meth:`time` times any of them.
    """

    def __init__(self, connect, kind: str, backend: str, schema: str, placeholder: str,
                 counts: dict):
        self._connect = connect
        self._con = connect()
        self.kind, self.backend = kind, backend
        self.n_users, self.n_products, self.n_orders = (counts["users"], counts["products"],
                                                        counts["orders"])
        self._sql = _queries(schema, placeholder)
        self.queries = 0

    @classmethod
    def sqlite(cls, path: Path | str | None = None) -> "Shop":
        """The shop in SQLite; builds ``data/shop.sqlite`` on first use (a few seconds)."""
        path = Path(path) if path else default_data_dir() / "shop.sqlite"
        if not path.exists():
            build_shop_sqlite(path)
        uri = f"{path.resolve().as_uri()}?mode=ro"

        def connect():
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

        con = connect()
        try:
            counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("users", "products", "orders")}
        finally:
            con.close()
        backend = (f"SQLite {sqlite3.sqlite_version} ({path.name}: {counts['users']:,} users, "
                   f"{counts['products']:,} products, {counts['orders']:,} orders)")
        return cls(connect, "sqlite", backend, "", "?", counts)

    @classmethod
    def postgres(cls, url: str, schema: str | None = None) -> "Shop":
        """The shop in PostgreSQL at ``url``, in simlab's own schema (the filing room's,
        ``whiteboard`` by default): its ``users`` and the shop's tables ``shop_products``,
        ``shop_orders``, ``shop_meta``, loaded on first use (several seconds) under the
        filing room's advisory lock, and listed by oid in its marker (a table of one of those
        names that simlab did not create is refused, never replaced). Queries run on
        read-only sessions.

        Raises
        ------
        NotOwnedError
            If a schema of that name exists and is not simlab's, or one of the shop's
            tables there is not.
        ConnectionError
            If no PostgreSQL answers at ``url``.
        """
        schema = fr.pg_schema(schema)
        con = fr._connect_pg(url)
        try:
            fr._ensure_pg(con, url, schema)
            _ensure_pg_shop(con, url, schema)
            version = con.info.server_version
        finally:
            con.close()

        def connect():
            return fr._connect_pg(url, read_only=True)

        con = connect()
        try:
            with con.cursor() as cur:
                counts = {}
                for key, table in (("users", fr.PG_TABLE), ("products", "shop_products"),
                                   ("orders", "shop_orders")):
                    cur.execute(f'SELECT pg_catalog.count(*) FROM "{schema}"."{table}"')
                    counts[key] = cur.fetchone()[0]
        finally:
            con.close()
        backend = (f"PostgreSQL {version // 10000}.{version % 10000} (schema {schema}: "
                   f"{counts['users']:,} users, {counts['products']:,} products, "
                   f"{counts['orders']:,} orders)")
        return cls(connect, "postgres", backend, f'"{schema}".', "%s", counts)

    def connect(self):
        """A new connection of this shop's own (one per thread for concurrent clients)."""
        return self._connect()

    def _run(self, name: str, params, con=None):
        cur = (con or self._con).cursor()
        try:
            cur.execute(self._sql[name], params)
            rows = cur.fetchall()
        finally:
            cur.close()
        self.queries += 1
        return rows

    def get_user(self, user_id: int) -> dict | None:
        """One user by primary key (an index lookup: the cheapest query a database has)."""
        rows = self._run("user", (int(user_id),))
        return dict(zip(USER_COLUMNS, rows[0])) if rows else None

    def recent_orders(self, user_id: int, n: int = 10, *, con=None) -> list:
        """The user's last ``n`` orders with the products' names (a join over an index)."""
        n = v.positive_int("n", n)
        rows = self._run("orders", (int(user_id), n), con)
        return [dict(zip(ORDER_COLUMNS, row)) for row in rows]

    def dashboard(self, category: str = "books", months: int = 12, *, con=None) -> list:
        """Orders and revenue (cents) per month over the last ``months`` months, for one
        category: an aggregate over tens of thousands of orders. ``con``: a connection from
        :meth:`connect` (for a client thread of its own)."""
        v.choice("category", category, CATEGORIES)
        rows = self._run("dashboard", (category, dashboard_since(months)), con)
        return [dict(zip(DASHBOARD_COLUMNS, (m, int(n), int(rev)))) for m, n, rev in rows]

    def time(self, query: str, args) -> np.ndarray:
        """Seconds taken by ``query`` (``"user"``, ``"orders"`` or ``"dashboard"``) for each
        argument in ``args`` (a user id, or a category for the dashboard)."""
        v.choice("query", query, ("user", "orders", "dashboard"))
        call = {"user": self.get_user, "orders": self.recent_orders,
                "dashboard": self.dashboard}[query]
        args = list(args)
        out = np.empty(len(args))
        for i, arg in enumerate(args):
            tic = time.perf_counter()
            call(arg)
            out[i] = time.perf_counter() - tic
        return out

    def close(self) -> None:
        self._con.close()

    def __repr__(self):
        return f"<Shop {self.backend}>"


def shop(url: str | None = None) -> Shop:
    """The shop: PostgreSQL when ``url`` or ``DATABASE_URL`` is set; otherwise SQLite."""
    url = url or os.environ.get("DATABASE_URL") or None
    return Shop.postgres(url) if url else Shop.sqlite()


# ------------------------------------------------------------------ the cached result --

def time_cached_gets(r, value, n: int = 500, *, name: str | None = None) -> np.ndarray:
    """Seconds taken by ``n`` GETs of ``value`` (stored as JSON under ``name``), each with
    the ``json.loads`` that turns it back into rows: what a cache hit costs the application."""
    n = v.positive_int("n", n)
    name = course_key("shop", "dashboard") if name is None else name
    if not str(name).startswith(namespace()):
        raise ValueError(f"name must lie in your own namespace {namespace()!r} (build it with "
                         f"simlab.key(...)), got {name!r}")
    r.set(name, json.dumps(value), ex=600)
    out = np.empty(n)
    try:
        for i in range(n):
            tic = time.perf_counter()
            json.loads(r.get(name))
            out[i] = time.perf_counter() - tic
    finally:
        r.delete(name)
    return out


# ---------------------------------------------------------------------------------- load --

CLIENTS = (1, 2, 4, 8, 16, 32, 64)


def concurrent_latency(make_call, clients=CLIENTS, *, duration_s: float = 0.25,
                       think_s: float = 0.002) -> dict:
    """Latency under load, measured with real concurrent clients (threads).

    Each client owns a call (``make_call(i)`` builds it: one connection per client), and
    loops: call, then think for ``think_s`` seconds, for ``duration_s`` seconds. This is a
    closed system, like a pool of application threads sharing one database.

    Returns
    -------
    dict
        ``{clients: seconds per call (array)}`` for each number of clients.
    """
    levels = [v.positive_int("clients", c) for c in clients]
    duration_s = v.positive_real("duration_s", duration_s)
    think_s = v.nonnegative_real("think_s", think_s)
    calls = [make_call(i) for i in range(max(levels))]
    return {level: _run_clients(calls[:level], duration_s, think_s) for level in levels}


def _run_clients(calls, duration_s, think_s) -> np.ndarray:
    results = [[] for _ in calls]
    start = threading.Barrier(len(calls) + 1)
    stop = time.perf_counter() + duration_s + 0.05

    def client(call, out):
        start.wait()
        while True:
            tic = time.perf_counter()
            if tic >= stop:
                return
            call()
            out.append(time.perf_counter() - tic)
            if think_s:
                time.sleep(think_s)

    threads = [threading.Thread(target=client, args=(c, out), daemon=True)
               for c, out in zip(calls, results)]
    for t in threads:
        t.start()
    stop = time.perf_counter() + duration_s
    start.wait()
    for t in threads:
        t.join()
    return np.asarray([x for out in results for x in out])


def closed_loop_latency(service, *, servers: int, clients: int, think_s: float = 0.002,
                        requests: int = 4000, seed: int | None = 0) -> np.ndarray:
    """Latency under load, simulated: the finite-source M/G/c queue (machine repairman).

    ``clients`` clients each send a request, wait for its answer, think ``think_s`` seconds
    (constant) and send the next; ``servers`` servers answer in arrival order, each request
    taking a draw from ``service`` (a latency distribution, e.g. ``Empirical`` of measured
    times). With one exponential server this is the model that mean-value analysis solves
    exactly.

    Returns
    -------
    numpy.ndarray
        Response times (queueing + service, seconds) of ``requests`` requests, after the
        first ``clients`` (the start-up, when every client arrives at once) are dropped.
    """
    servers = v.positive_int("servers", servers)
    clients = v.positive_int("clients", clients)
    think_s = v.nonnegative_real("think_s", think_s)
    requests = v.positive_int("requests", requests)
    if not hasattr(service, "sample"):
        raise TypeError(f"service must be a latency distribution, got {service!r}")
    rng = np.random.default_rng(seed)
    total = requests + clients
    work = np.asarray(service.sample(total, rng), dtype=float)
    arrivals = [(float(t), i) for i, t in enumerate(rng.uniform(0, think_s, clients))]
    heapq.heapify(arrivals)
    free = [0.0] * servers                 # when each server is next free
    out = np.empty(total)
    for k in range(total):
        t_arrive, who = heapq.heappop(arrivals)
        t_free = heapq.heappop(free)
        done = max(t_arrive, t_free) + work[k]
        heapq.heappush(free, done)
        out[k] = done - t_arrive
        heapq.heappush(arrivals, (done + think_s, who))
    return out[clients:]


def load_curves(shop: Shop, r, query_samples, cached_samples, *, clients=CLIENTS,
                think_s: float = 0.002, requests: int = 3000, measure: bool = True,
                db_levels=(1, 4, 16, 64), duration_s: float = 0.2, seed: int = 0):
    """p50 and p99 of the dashboard query and of its cached GET against concurrent clients.

    Always the model (:func:`closed_loop_latency`, service times resampled from the measured
    ``query_samples`` and ``cached_samples``; the database gets one server per core, Redis
    one); and, with ``measure``, real threads (:func:`concurrent_latency`) against a real
    PostgreSQL (at ``db_levels`` clients) and a real Redis (at every level of ``clients``).

    Returns
    -------
    DataFrame
        ``system``, ``how`` (``model`` or ``measured``), ``clients``, ``p50_ms``, ``p99_ms``.
    """
    import pandas as pd

    from ..latency import Empirical
    cores = os.cpu_count() or 1
    whiteboard = r.backend.split(" (")[0].split(" at ")[0]
    db = f"dashboard query ({shop.kind}, {cores} cores)"
    board = f"cached dashboard ({whiteboard}, 1 thread)"
    rows = []

    def add(system, how, n, lat):
        rows.append({"system": system, "how": how, "clients": n,
                     "p50_ms": float(np.median(lat) * 1e3),
                     "p99_ms": float(np.quantile(lat, 0.99) * 1e3)})

    for system, samples, servers in ((db, query_samples, cores), (board, cached_samples, 1)):
        service = Empirical(samples)
        for n in clients:
            add(system, "model", n, closed_loop_latency(service, servers=servers, clients=n,
                                                        think_s=think_s, requests=requests,
                                                        seed=seed + n))
    if measure and shop.kind == "postgres":
        def db_client(i):
            con = shop.connect()
            return lambda: shop.dashboard(CATEGORIES[i % len(CATEGORIES)], con=con)
        for n, lat in concurrent_latency(db_client, db_levels, duration_s=duration_s,
                                         think_s=think_s).items():
            add(db, "measured", n, lat)
    if measure and not r.backend.startswith("fakeredis"):
        import redis
        name = course_key("shop", "dashboard", "load")
        r.set(name, json.dumps(shop.dashboard("books")), ex=60)
        pool = r.connection_pool

        def redis_client(i):
            client = redis.Redis(connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class, **pool.connection_kwargs))
            return lambda: json.loads(client.get(name))
        try:
            for n, lat in concurrent_latency(redis_client, clients, duration_s=duration_s,
                                             think_s=think_s).items():
                add(board, "measured", n, lat)
        finally:
            r.delete(name)
    return pd.DataFrame(rows)
