"""The filing room: a real database holding the course's users.

SQLite (standard library) by default, built from a seeded generator into ``data/users.sqlite``;
PostgreSQL through psycopg when ``DATABASE_URL`` is set. Both answer :meth:`FilingRoom.get_user`
with an indexed primary-key SELECT, the query the seed article caches.

What simlab changes in a database, and only that:

- PostgreSQL: one schema of its own, ``whiteboard`` (or ``SIMLAB_PG_SCHEMA``), marked as
  simlab's by a fixed comment and a marker table ``simlab_owner``; the users live in its table
  ``users``. simlab writes into no schema or table it cannot prove it created: a schema of that
  name without the marker is refused with one sentence saying what to do. Creating and loading
  happen in one transaction under an advisory lock, so learners starting at once all succeed.
  The marker lists, by oid, every table simlab created there (users, the shop's): only those
  are ever emptied, replaced or dropped, whatever their names. :func:`drop_postgres`
  (``simlab clean --database``) removes them and the schema, and refuses if anything else is
  in it. Every session looks names up in ``pg_catalog`` only (see :data:`PG_SEARCH_PATH`).
- SQLite: the file ``data/users.sqlite``, built once, then opened read-only.
- A lesson's writes (:meth:`FilingRoom.update_user`) go to a private copy of the rows they touch,
  a temporary table of the room's own connection: the shared data never changes, the database
  drops the copy when the connection ends (however the kernel dies), and rerunning a notebook
  gives the same output. :meth:`FilingRoom.restore` discards the copy earlier.
"""
from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import _validate as v
from .urls import redact, scrub

N_USERS = 100_000
SEED = 20261126
TABLE = "whiteboard_users"          # the SQLite table (and the legacy PostgreSQL table's name)
PG_SCHEMA = "whiteboard"            # the default PostgreSQL schema, simlab's own
PG_TABLE = "users"
PG_MARKER_TABLE = "simlab_owner"
# The tables simlab creates in its schema (the shop lesson's too), in the order clean names
# them. A name is no proof: clean drops only the tables the marker lists by oid.
PG_OWNED_TABLES = (PG_TABLE, "shop_products", "shop_orders", "shop_meta", PG_MARKER_TABLE)
MARKER = "simlab-whiteboard"
SCHEMA_COMMENT = ("simlab: The Whiteboard course's filing room, created by simlab; "
                  "remove it with `simlab clean --database`")   # fixed: the ownership marker
SIMLAB_CLEAN_HINT = "remove it with `simlab clean --database`"
DATA_VERSION = 1                    # bump when the rows or columns change
COLUMNS = ("id", "name", "email", "city", "plan", "signup_date", "bio")
_DDL = ("(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, city TEXT, "
        "plan TEXT, signup_date TEXT, bio TEXT)")
_SCRATCH = "simlab_changes"         # the room's private copy of the rows it wrote
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_FIRST = ("Ada Alan Grace Edsger Barbara Donald Frances Ken Margaret Dennis Radia Tim Linus "
          "Guido Anita Leslie Shafi Judea Yukihiro Hedy Katherine Niklaus John Sophie Carol "
          "Ivan Jean Whitfield Annie Bjarne").split()
_LAST = ("Lovelace Turing Hopper Dijkstra Liskov Knuth Allen Thompson Hamilton Ritchie Perlman "
         "Berners-Lee Torvalds Rossum Borg Lamport Goldwasser Pearl Matsumoto Lamarr Johnson "
         "Wirth McCarthy Wilson Shaw Sutherland Sammet Diffie Easley Stroustrup").split()
_CITIES = ("Lisbon Nairobi Osaka Lima Oslo Pune Accra Quito Hanoi Tunis Porto Cork Bergen "
           "Leeds Gdansk Turin Lyon Graz Brno Tartu").split()
_PLANS = ("free", "pro", "team", "enterprise")
_WORDS = ("cache whiteboard filing room latency queue redis database index replica shard "
          "expiry eviction token session counter stream worker pipeline").split()


class NotOwnedError(RuntimeError):
    """A schema, table or file simlab would write to or remove, and cannot prove it created."""


def default_data_dir() -> Path:
    """``data/`` beside the package in a checkout; otherwise a user cache folder."""
    env = os.environ.get("SIMLAB_DATA")
    if env:
        return Path(env)
    repo_data = Path(__file__).resolve().parents[2] / "data"
    if repo_data.is_dir():
        return repo_data
    return Path.home() / ".cache" / "simlab"


def default_sqlite_path() -> Path:
    """Where the SQLite filing room lives: ``users.sqlite`` in :func:`default_data_dir`."""
    return default_data_dir() / "users.sqlite"


def make_users(n: int = N_USERS, seed: int = SEED):
    """The course's users as rows (tuples), the same for the same ``n`` and ``seed``."""
    n = v.positive_int("n", n)
    rng = np.random.default_rng(seed)
    first = rng.integers(len(_FIRST), size=n)
    last = rng.integers(len(_LAST), size=n)
    city = rng.integers(len(_CITIES), size=n)
    plan = rng.choice(len(_PLANS), size=n, p=[0.7, 0.2, 0.08, 0.02])
    day = rng.integers(0, 3650, size=n)
    words = rng.integers(len(_WORDS), size=(n, 24))
    dates = (np.datetime64("2016-01-01") + day).astype(str).tolist()
    first, last, city, plan = first.tolist(), last.tolist(), city.tolist(), plan.tolist()
    for i, row_words in enumerate(words.tolist()):
        name = f"{_FIRST[first[i]]} {_LAST[last[i]]}"
        email = f"{_FIRST[first[i]].lower()}.{_LAST[last[i]].lower()}{i + 1}@example.com"
        bio = " ".join(_WORDS[w] for w in row_words)
        yield (i + 1, name, email, _CITIES[city[i]], _PLANS[plan[i]], dates[i], bio)


# --------------------------------------------------------------------------------- SQLite

def build_sqlite(path: Path | str | None = None, n: int = N_USERS, seed: int = SEED) -> Path:
    """Write the users table to a SQLite file (replacing it); return the path.

    The file is written under a unique temporary name and renamed into place, so processes
    building it at once never see a half-written file (the last rename wins; all are equal).
    """
    path = Path(path) if path else default_sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        con = sqlite3.connect(tmp)
        with con:
            con.execute(f"CREATE TABLE {TABLE} {_DDL}")
            con.executemany(f"INSERT INTO {TABLE} VALUES (?,?,?,?,?,?,?)", make_users(n, seed))
            con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
            con.executemany("INSERT INTO meta VALUES (?, ?)",
                            [("n", str(n)), ("seed", str(seed)), ("created_by", MARKER)])
        con.close()
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _open_sqlite_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection (never creates the file); temporary tables still work."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           check_same_thread=False)


def _sqlite_is_ours(con: sqlite3.Connection) -> bool:
    """The file has simlab's users table and its ``meta`` table with ``n`` and ``seed``."""
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {TABLE, "meta"} <= tables:
        return False
    names = {row[0] for row in con.execute("SELECT name FROM meta")}
    return {"n", "seed"} <= names


def describe_sqlite(path: Path | str | None = None) -> str:
    """One line about the SQLite filing room, read-only: never builds or changes the file."""
    path = Path(path) if path else default_sqlite_path()
    if not path.exists():
        return f"{path} (not built yet: built on first use)"
    try:
        con = _open_sqlite_readonly(path)
        try:
            if not _sqlite_is_ours(con):
                return f"{path} (NOT simlab's filing room: no {TABLE} and meta tables)"
            n = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} (NOT READABLE: {exc})"
    return f"{path} ({n:,} users)"


def remove_sqlite(path: Path | str | None = None) -> str:
    """Delete the built SQLite file if it is simlab's; return what was done, in one line.

    Raises
    ------
    NotOwnedError
        If the file is not one simlab built (no ``whiteboard_users`` and ``meta`` tables).
    """
    path = Path(path) if path else default_sqlite_path()
    if not path.exists():
        return f"nothing to remove: {path} does not exist"
    try:
        con = _open_sqlite_readonly(path)
        try:
            ours = _sqlite_is_ours(con)
        finally:
            con.close()
    except sqlite3.DatabaseError:
        ours = False
    if not ours:
        raise NotOwnedError(f"{path} is not a filing room simlab built (no {TABLE} and meta "
                            "tables), so simlab leaves it alone; remove it yourself if you "
                            "mean to.")
    path.unlink()
    return f"removed {path} (rebuilt on first use)"


# ----------------------------------------------------------------------------- PostgreSQL

def pg_schema(name: str | None = None) -> str:
    """The PostgreSQL schema simlab uses: ``name``, else ``SIMLAB_PG_SCHEMA``, else
    ``whiteboard``; checked to be a plain lower-case identifier."""
    source = "schema"
    if name is None:
        name, source = os.environ.get("SIMLAB_PG_SCHEMA") or PG_SCHEMA, "SIMLAB_PG_SCHEMA"
    if (not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or name == "public"
            or name.startswith("pg_") or name == "information_schema"):
        raise ValueError(f"{source} must be a lower-case identifier (a letter or _, then "
                         "letters, digits or _, at most 63; not public, information_schema "
                         f"or pg_*), got {name!r}")
    return name


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("DATABASE_URL is set but psycopg is not installed: pip install "
                           "'psycopg[binary]' (or unset DATABASE_URL to use SQLite).") from None
    return psycopg


# Every session simlab opens looks names up in the catalogue only: a function or operator
# someone put in ``public`` (or in a schema named after the user) never shadows a built-in
# one, and never runs with the learner's rights. simlab's own objects are schema-qualified.
PG_SEARCH_PATH = "pg_catalog, pg_temp"


def _connect_pg(url: str, *, read_only: bool = False):
    psycopg = _psycopg()
    options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
    try:
        con = psycopg.connect(url, autocommit=True, connect_timeout=5, **options)
    except psycopg.Error as exc:
        raise ConnectionError(f"No PostgreSQL answered at {redact(url)} "
                              f"({' '.join(scrub(exc, url).split())}). Start it, fix DATABASE_URL, "
                              "or unset it to use SQLite.") from None
    try:
        con.execute(f"SET search_path = {PG_SEARCH_PATH}")
    except BaseException:
        con.close()
        raise
    return con


def _reason(exc, url: str) -> str:
    """A driver error's first line (PostgreSQL's primary message), without the password."""
    diag = getattr(exc, "diag", None)
    text = getattr(diag, "message_primary", None) or str(exc).strip().split("\n")[0]
    return " ".join(scrub(text, url).split())


def _lock_key(schema: str) -> int:
    """The advisory-lock key for ``schema``: the same in every process, a signed 64-bit int."""
    digest = hashlib.sha256(f"simlab:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _q(schema: str, table: str | None = None):
    from psycopg import sql
    return sql.Identifier(schema, table) if table else sql.Identifier(schema)


# The marker table's columns, exactly: a table or view of that name with other columns (or
# an older simlab's marker) is not simlab's. The identity columns record, at creation, the
# schema's oid and owner and the oids of the marker, users and shop tables: a marker copied
# onto another schema carries the wrong oids, and simlab empties, replaces or drops only the
# tables it lists.
PG_MARKER_COLUMNS = {
    "marker": "text", "simlab_version": "text", "data_version": "integer",
    "n_users": "integer", "seed": "bigint", "created_at": "timestamp with time zone",
    "schema_oid": "oid", "schema_owner": "text", "marker_oid": "oid", "users_oid": "oid",
    "shop_oids": "oid[]",
}


def _marker_problem(cur, schema_oid, owner) -> str | None:
    """Why ``simlab_owner`` in the schema is not simlab's marker table, or ``None``."""
    cur.execute("SELECT oid, relkind, pg_catalog.pg_get_userbyid(relowner) "
                "FROM pg_catalog.pg_class WHERE relnamespace = %s AND relname = %s",
                (schema_oid, PG_MARKER_TABLE))
    row = cur.fetchone()
    if row is None:
        return f"it has no {PG_MARKER_TABLE} marker table"
    if row[1] != "r":
        return f"its {PG_MARKER_TABLE} is not a table (relkind {row[1]!r})"
    if row[2] != owner:
        return f"its {PG_MARKER_TABLE} table belongs to {row[2]}, not to the schema's owner"
    cur.execute("SELECT attname, pg_catalog.format_type(atttypid, atttypmod) "
                "FROM pg_catalog.pg_attribute "
                "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (row[0],))
    columns = dict(cur.fetchall())
    if columns == {k: t for k, t in PG_MARKER_COLUMNS.items() if k != "shop_oids"}:
        return (f"its {PG_MARKER_TABLE} table is an older simlab's, which did not list the "
                "shop's tables by oid, so simlab cannot prove those tables are its own")
    if columns != PG_MARKER_COLUMNS:
        return f"its {PG_MARKER_TABLE} table does not have simlab's columns"
    return None


def _identity_problem(cur, schema: str, schema_oid, owner, mark) -> str | None:
    """Why the marker row ``mark`` does not describe this very schema, or ``None``."""
    recorded_schema, recorded_owner, marker_oid, users_oid = mark[3:7]
    cur.execute("SELECT pg_catalog.to_regclass(%s)::pg_catalog.oid, "
                "pg_catalog.to_regclass(%s)::pg_catalog.oid",
                (f'"{schema}"."{PG_MARKER_TABLE}"', f'"{schema}"."{PG_TABLE}"'))
    actual_marker, actual_users = cur.fetchone()
    if (recorded_schema, recorded_owner, marker_oid) != (schema_oid, owner, actual_marker):
        return (f"its {PG_MARKER_TABLE} marker was made for another schema or owner (copied, "
                "not created here)")
    if actual_users is not None and actual_users != users_oid:
        return f"its {PG_TABLE} table is not the one simlab created there"
    return None


def _inspect_pg(cur, schema: str) -> dict:
    """What ``schema`` is, by reading the catalogue only: ``state`` is ``absent``, ``foreign``
    (with ``why``) or ``ours`` (with ``n_users``, ``rows``, ``data_version``, ``created_at``,
    ``schema_oid``, ``marker_oid``, ``users_oid``, ``shop_oids``).

    Ours means: simlab's comment, a marker table (a table, with exactly simlab's columns) with
    simlab's row, and that row's identity matching this schema (its oid and owner, the marker
    table's oid, the users table's oid if there is one)."""
    from psycopg import sql
    cur.execute("SELECT oid, pg_catalog.obj_description(oid, 'pg_namespace'), "
                "pg_catalog.pg_get_userbyid(nspowner) "
                "FROM pg_catalog.pg_namespace WHERE nspname = %s", (schema,))
    row = cur.fetchone()
    if row is None:
        return {"state": "absent"}
    schema_oid, comment, owner = row
    if comment != SCHEMA_COMMENT:
        return {"state": "foreign", "why": "it does not carry simlab's comment"}
    why = _marker_problem(cur, schema_oid, owner)
    if why is not None:
        return {"state": "foreign", "why": why}
    cur.execute(sql.SQL("SELECT n_users, data_version, created_at, schema_oid, schema_owner, "
                        "marker_oid, users_oid, shop_oids FROM {} WHERE marker = %s")
                .format(_q(schema, PG_MARKER_TABLE)), (MARKER,))
    marks = cur.fetchall()
    if len(marks) != 1:
        return {"state": "foreign", "why": f"its {PG_MARKER_TABLE} table has no simlab marker"}
    why = _identity_problem(cur, schema, schema_oid, owner, marks[0])
    if why is not None:
        return {"state": "foreign", "why": why}
    mark, rows = marks[0], None
    if mark[6] is not None and _users_oid(cur, schema) is not None:
        cur.execute(sql.SQL("SELECT pg_catalog.count(*) FROM {}").format(_q(schema, PG_TABLE)))
        rows = cur.fetchone()[0]
    return {"state": "ours", "n_users": mark[0], "data_version": mark[1],
            "created_at": mark[2], "rows": rows, "schema_oid": schema_oid,
            "marker_oid": mark[5], "users_oid": mark[6], "shop_oids": list(mark[7] or ())}


def _users_oid(cur, schema: str):
    return _table_oid(cur, schema, PG_TABLE)


def _table_oid(cur, schema: str, name: str):
    """The oid of the relation ``schema.name`` (of any kind), or ``None``."""
    cur.execute("SELECT pg_catalog.to_regclass(%s)::pg_catalog.oid", (f'"{schema}"."{name}"',))
    return cur.fetchone()[0]


def _not_ours_message(url: str, schema: str, why: str) -> str:
    if "an older simlab's" in why:
        return (f"the schema {schema} in {redact(url)} was made by an older simlab ({why}), "
                f"so simlab will not write into it: if nothing of yours is in it, remove it "
                f"once (DROP SCHEMA {schema} CASCADE; in psql) and simlab makes it again, or "
                f"set SIMLAB_PG_SCHEMA to a name that is free (e.g. "
                f"SIMLAB_PG_SCHEMA={schema}_course).")
    return (f"a schema named {schema} exists in {redact(url)} and simlab did not create it "
            f"({why}), so simlab will not write into it: rename that schema, or set "
            f"SIMLAB_PG_SCHEMA to a name that is free (e.g. SIMLAB_PG_SCHEMA={schema}_course).")


def _create_and_load(cur, schema: str) -> None:
    """Create simlab's schema, mark it, load the users (inside the caller's transaction).

    The marker row records the schema's oid and owner and the marker table's own oid (and
    :func:`_load_users` the users table's): what :func:`_inspect_pg` requires."""
    from psycopg import sql

    from .. import __version__
    cur.execute(sql.SQL("CREATE SCHEMA {}").format(_q(schema)))
    cur.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(_q(schema),
                                                              sql.Literal(SCHEMA_COMMENT)))
    cur.execute(sql.SQL("CREATE TABLE {} (marker TEXT PRIMARY KEY, simlab_version TEXT NOT NULL,"
                        " data_version INTEGER NOT NULL, n_users INTEGER NOT NULL, "
                        "seed BIGINT NOT NULL, "
                        "created_at TIMESTAMPTZ NOT NULL DEFAULT pg_catalog.now(), "
                        "schema_oid OID NOT NULL, schema_owner TEXT NOT NULL, "
                        "marker_oid OID NOT NULL, users_oid OID, "
                        "shop_oids OID[] NOT NULL DEFAULT '{{}}')")
                .format(_q(schema, PG_MARKER_TABLE)))
    cur.execute(sql.SQL("INSERT INTO {} (marker, simlab_version, data_version, n_users, seed, "
                        "schema_oid, schema_owner, marker_oid) SELECT %s, %s, %s, %s, %s, "
                        "n.oid, pg_catalog.pg_get_userbyid(n.nspowner), "
                        "%s::pg_catalog.regclass::pg_catalog.oid "
                        "FROM pg_catalog.pg_namespace n WHERE n.nspname = %s")
                .format(_q(schema, PG_MARKER_TABLE)),
                (MARKER, __version__, DATA_VERSION, 0, SEED,
                 f'"{schema}"."{PG_MARKER_TABLE}"', schema))
    _load_users(cur, schema, None)


def _load_users(cur, schema: str, users_oid) -> None:
    """Fill simlab's users table in its own schema: create it (and list its oid in the
    marker) if it is missing, else empty it, but only if it is the table the marker lists
    (``users_oid``): simlab never empties a table it did not create.

    TRUNCATE, not DROP: a reader waiting on the table finds it again, full, at commit."""
    from psycopg import sql
    table = _q(schema, PG_TABLE)
    actual = _users_oid(cur, schema)
    if actual is None:
        cur.execute(sql.SQL("CREATE TABLE {} " + _DDL).format(table))
    elif users_oid is None or actual != users_oid:
        raise NotOwnedError(f"the table {schema}.{PG_TABLE} is not the one simlab created "
                            "(its marker does not list it), so simlab will not empty it: "
                            f"drop or rename it, or set SIMLAB_PG_SCHEMA to a free name.")
    else:
        cur.execute(sql.SQL("TRUNCATE {}").format(table))
    with cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
        for row in make_users():
            copy.write_row(row)
    cur.execute(sql.SQL("UPDATE {} SET n_users = %s, data_version = %s, users_oid = %s "
                        "WHERE marker = %s").format(_q(schema, PG_MARKER_TABLE)),
                (N_USERS, DATA_VERSION, _users_oid(cur, schema), MARKER))
    cur.execute(sql.SQL("ANALYZE {}").format(table))


def _ready(state: dict) -> bool:
    return (state["state"] == "ours" and state["rows"] == state["n_users"] == N_USERS
            and state["data_version"] == DATA_VERSION)


def _ensure_pg(con, url: str, schema: str) -> int:
    """Make simlab's schema ready (create, or reload what is simlab's); return the user count.

    Reads first and takes no lock when all is in place. Otherwise one transaction, under a
    transaction-level advisory lock, looks again and creates or reloads: concurrent starts
    wait for the first and find its work done; a failure leaves nothing behind.
    """
    psycopg = _psycopg()
    try:
        with con.cursor() as cur:
            state = _inspect_pg(cur, schema)
            if _ready(state):
                return state["rows"]
            if state["state"] == "foreign":
                raise NotOwnedError(_not_ours_message(url, schema, state["why"]))
            with con.transaction():
                cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)",
                            (_lock_key(schema),))
                state = _inspect_pg(cur, schema)
                if state["state"] == "foreign":
                    raise NotOwnedError(_not_ours_message(url, schema, state["why"]))
                if state["state"] == "absent":
                    _create_and_load(cur, schema)
                elif not _ready(state):
                    _load_users(cur, schema, state["users_oid"])
            return N_USERS
    except psycopg.errors.InsufficientPrivilege as exc:
        raise NotOwnedError(f"simlab may not create or read its schema {schema} in "
                            f"{redact(url)} ({' '.join(scrub(exc, url).split())}): grant this user "
                            "CREATE on the database, point DATABASE_URL at a database of your "
                            "own, or unset it to use SQLite.") from None


def describe_postgres(url: str, schema: str | None = None) -> dict:
    """What simlab finds at ``url``, read-only (the session is read-only on the server).

    Returns ``server_version`` and ``schema`` with ``state`` (``absent``, ``foreign`` with
    ``why``, or ``ours`` with ``rows``); creates, loads and changes nothing.
    """
    schema = pg_schema(schema)
    con = _connect_pg(url, read_only=True)
    try:
        version = con.info.server_version
        with con.cursor() as cur:
            state = _inspect_pg(cur, schema)
    finally:
        con.close()
    return {"server_version": f"{version // 10000}.{version % 10000}", "schema": schema,
            **state}


def _owned_oids(state: dict) -> set:
    """The oids of the tables simlab's marker lists (itself, the users, the shop's)."""
    return {oid for oid in (state["marker_oid"], state["users_oid"], *state["shop_oids"])
            if oid is not None}


def _schema_contents(cur, state: dict) -> tuple[dict, list]:
    """``({oid: name} of the tables in the schema the marker lists, [names of the other
    relations there])``. An index lives in its table's schema and goes with its table (named
    with it, if not simlab's); anything else (a table, view, sequence or type of yours, or a
    table of the shop's name the marker does not list) is not simlab's."""
    owned = _owned_oids(state)
    cur.execute("SELECT oid, relname, relkind FROM pg_catalog.pg_class "
                "WHERE relnamespace = %s AND relkind NOT IN ('i', 'I') ORDER BY relname",
                (state["schema_oid"],))
    tables, others = {}, []
    for oid, name, kind in cur.fetchall():
        if kind == "r" and oid in owned:
            tables[oid] = name
        else:
            others.append(name)
    return tables, others


def _clean_order(name: str):
    return (PG_OWNED_TABLES.index(name) if name in PG_OWNED_TABLES else len(PG_OWNED_TABLES),
            name)


def drop_postgres(url: str, schema: str | None = None) -> str:
    """Remove simlab's schema from ``url``, if the marker proves it is simlab's; return what
    was done, in one line.

    Only the tables the marker lists by oid are dropped, then the schema with ``RESTRICT``;
    if the schema holds anything else (a table of yours, even one named like the shop's, a
    view on simlab's users, a function), simlab refuses and nothing is removed.

    Raises
    ------
    NotOwnedError
        If the schema exists but simlab cannot prove it created it, holds other objects, or
        this user may not remove it.
    """
    from psycopg import errors, sql
    psycopg = _psycopg()
    schema = pg_schema(schema)
    con = _connect_pg(url)
    try:
        with con.cursor() as cur, con.transaction():
            cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (_lock_key(schema),))
            state = _inspect_pg(cur, schema)
            if state["state"] == "absent":
                return f"nothing to remove: there is no schema {schema} in {redact(url)}"
            if state["state"] == "foreign":
                raise NotOwnedError(
                    f"a schema named {schema} exists in {redact(url)} and simlab did not "
                    f"create it ({state['why']}), so simlab leaves it alone.")
            tables, others = _schema_contents(cur, state)
            if others:
                shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more"
                                                 if len(others) > 5 else "")
                raise NotOwnedError(
                    f"schema {schema} in {redact(url)} also holds objects simlab did not "
                    f"create ({shown}), so simlab removed nothing: move them out, or drop it "
                    f"all yourself with DROP SCHEMA {schema} CASCADE.")
            names = sorted(tables.values(), key=_clean_order)
            try:
                with con.transaction():
                    cur.execute(sql.SQL("DROP TABLE {}").format(
                        sql.SQL(", ").join(_q(schema, name) for name in names)))
                    cur.execute(sql.SQL("DROP SCHEMA {} RESTRICT").format(_q(schema)))
            except errors.DependentObjectsStillExist as exc:
                raise NotOwnedError(
                    f"schema {schema} in {redact(url)} also holds objects simlab did not "
                    f"create ({' '.join(scrub(exc, url).split())}), so simlab removed nothing: "
                    f"move them out, or drop it all yourself with DROP SCHEMA {schema} "
                    "CASCADE.") from None
    except errors.InsufficientPrivilege as exc:
        raise NotOwnedError(
            f"simlab may not remove its schema {schema} in {redact(url)} "
            f"({_reason(exc, url)}), so it removed nothing: run `simlab clean "
            "--database` as the user that created it (the schema's owner).") from None
    except psycopg.Error as exc:
        raise RuntimeError(f"simlab could not remove its schema {schema} in {redact(url)} "
                           f"({_reason(exc, url)}); nothing was removed.") \
            from None
    finally:
        con.close()
    rows = "" if state["rows"] is None else f" ({state['rows']:,} users)"
    listed = ", ".join(f"{name}{rows}" if name == PG_TABLE else name for name in names)
    return f"removed schema {schema} from {redact(url)}, with its tables {listed}"


# ----------------------------------------------------------------------------- the room

class FilingRoom:
    """The database behind the whiteboard. Use :meth:`sqlite`, :meth:`postgres` or
    :func:`filing_room` to get one.

    Writes (:meth:`update_user`) go to a private copy of each row they touch, a temporary
    table of this room's connection; reads of those users come from the copy. The shared
    data never changes: :meth:`restore` (or :meth:`close`, or the end of the process)
    discards the copy. Usable as a context manager.
    """

    def __init__(self, connection, kind: str, backend: str, placeholder: str, n_users: int,
                 table: str = TABLE):
        self._con = connection
        self.kind = kind
        self.backend = backend
        self._ph = placeholder
        self.n_users = n_users
        self.table = table
        self.queries = 0
        self._changed: set[int] = set()
        self._scratch = "pg_temp." + _SCRATCH if kind == "postgres" else "temp." + _SCRATCH
        self._scratch_ready = False

    @classmethod
    def sqlite(cls, path: Path | str | None = None) -> "FilingRoom":
        """The SQLite filing room; builds ``data/users.sqlite`` on first use (a few seconds),
        then opens it read-only."""
        path = Path(path) if path else default_sqlite_path()
        if not path.exists():
            build_sqlite(path)
        con = _open_sqlite_readonly(path)
        if not _sqlite_is_ours(con):
            con.close()
            raise NotOwnedError(f"{path} is not a filing room simlab built (no {TABLE} and "
                                "meta tables); move it away or set SIMLAB_DATA to another "
                                "folder.")
        n = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        return cls(con, "sqlite", f"SQLite {sqlite3.sqlite_version} ({path.name}, {n:,} users)",
                   "?", n)

    @classmethod
    def postgres(cls, url: str, schema: str | None = None) -> "FilingRoom":
        """The PostgreSQL filing room at ``url``, in simlab's own schema.

        Parameters
        ----------
        url : str
            A PostgreSQL URL (``postgresql://user@host/db``).
        schema : str, optional
            Default ``SIMLAB_PG_SCHEMA``, else ``whiteboard``. Created, marked and loaded
            (100,000 users) on first use; never written if simlab cannot prove it made it.

        Raises
        ------
        NotOwnedError
            If a schema of that name exists and is not simlab's.
        ConnectionError
            If no PostgreSQL answers at ``url``.
        """
        schema = pg_schema(schema)
        con = _connect_pg(url)
        try:
            n = _ensure_pg(con, url, schema)
        except BaseException:
            con.close()
            raise
        version = con.info.server_version
        return cls(con, "postgres", f"PostgreSQL {version // 10000}.{version % 10000} "
                   f"(schema {schema}, {n:,} users)", "%s", n, f'"{schema}"."{PG_TABLE}"')

    def get_user(self, user_id: int) -> dict | None:
        """One user by primary key (an indexed SELECT), or ``None``."""
        user_id = int(user_id)
        table = self._scratch if user_id in self._changed else self.table
        cur = self._con.cursor()
        try:
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE id = {self._ph}",
                        (user_id,))
            row = cur.fetchone()
        finally:
            cur.close()
        self.queries += 1
        return dict(zip(COLUMNS, row)) if row else None

    def update_user(self, user_id: int, **fields) -> None:
        """Change a user's fields (the write that makes the whiteboard stale).

        The UPDATE runs on this room's private copy of the row (taken on its first write):
        this room reads the new values, the shared data and other learners never see them.
        """
        bad = set(fields) - set(COLUMNS[1:])
        if bad:
            raise ValueError(f"fields must be among {', '.join(COLUMNS[1:])}; got {sorted(bad)}")
        if not fields:
            return
        user_id = int(user_id)
        sets = ", ".join(f"{name} = {self._ph}" for name in fields)
        cur = self._con.cursor()
        try:
            if user_id not in self._changed:
                self._ensure_scratch(cur)
                cur.execute(f"INSERT INTO {self._scratch} SELECT * FROM {self.table} "
                            f"WHERE id = {self._ph}", (user_id,))
                self._changed.add(user_id)
            cur.execute(f"UPDATE {self._scratch} SET {sets} WHERE id = {self._ph}",
                        (*fields.values(), user_id))
        finally:
            cur.close()
        if self.kind == "sqlite":
            self._con.commit()
        self.queries += 1

    def _ensure_scratch(self, cur) -> None:
        if not self._scratch_ready:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self._scratch} {_DDL}")
            self._scratch_ready = True

    @property
    def changed(self) -> list[int]:
        """The users this room has written (read from its private copy), sorted."""
        return sorted(self._changed)

    def restore(self) -> int:
        """Discard this room's writes: every user reads as in the shared data again.
        Returns how many users were restored."""
        n = len(self._changed)
        if n:
            cur = self._con.cursor()
            try:
                cur.execute(f"DELETE FROM {self._scratch}")
            finally:
                cur.close()
            if self.kind == "sqlite":
                self._con.commit()
            self._changed.clear()
        return n

    def time_get_user(self, user_ids) -> np.ndarray:
        """Seconds taken by ``get_user`` for each id in ``user_ids``."""
        out = np.empty(len(user_ids))
        for i, uid in enumerate(user_ids):
            tic = time.perf_counter()
            self.get_user(uid)
            out[i] = time.perf_counter() - tic
        return out

    def close(self) -> None:
        """Close the connection; the database drops the private copy of written rows."""
        self._changed.clear()
        self._con.close()

    def __enter__(self) -> "FilingRoom":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self):
        return f"<FilingRoom {self.backend}>"


def filing_room(url: str | None = None) -> FilingRoom:
    """PostgreSQL when ``url`` or ``DATABASE_URL`` is set; otherwise SQLite."""
    url = url or os.environ.get("DATABASE_URL") or None
    return FilingRoom.postgres(url) if url else FilingRoom.sqlite()
