"""The filing room: a real database holding the course's users.

SQLite (standard library) by default, built from a seeded generator into ``data/users.sqlite``;
PostgreSQL through psycopg when ``DATABASE_URL`` is set. Both answer :meth:`FilingRoom.get_user`
with an indexed primary-key SELECT, the query the seed article caches.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import numpy as np

N_USERS = 100_000
SEED = 20261126
TABLE = "whiteboard_users"
COLUMNS = ("id", "name", "email", "city", "plan", "signup_date", "bio")

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


def default_data_dir() -> Path:
    """``data/`` beside the package in a checkout; otherwise a user cache folder."""
    env = os.environ.get("SIMLAB_DATA")
    if env:
        return Path(env)
    repo_data = Path(__file__).resolve().parents[2] / "data"
    if repo_data.is_dir():
        return repo_data
    return Path.home() / ".cache" / "simlab"


def make_users(n: int = N_USERS, seed: int = SEED):
    """The course's users as rows (tuples), the same for the same ``n`` and ``seed``."""
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    first = rng.integers(len(_FIRST), size=n)
    last = rng.integers(len(_LAST), size=n)
    city = rng.integers(len(_CITIES), size=n)
    plan = rng.choice(len(_PLANS), size=n, p=[0.7, 0.2, 0.08, 0.02])
    day = rng.integers(0, 3650, size=n)
    words = rng.integers(len(_WORDS), size=(n, 24))
    base = np.datetime64("2016-01-01")
    for i in range(n):
        name = f"{_FIRST[first[i]]} {_LAST[last[i]]}"
        email = f"{_FIRST[first[i]].lower()}.{_LAST[last[i]].lower()}{i + 1}@example.com"
        bio = " ".join(_WORDS[w] for w in words[i])
        yield (i + 1, name, email, _CITIES[city[i]], _PLANS[plan[i]], str(base + day[i]), bio)


def build_sqlite(path: Path | str | None = None, n: int = N_USERS, seed: int = SEED) -> Path:
    """Write the users table to a SQLite file (replacing it); return the path."""
    path = Path(path) if path else default_data_dir() / "users.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    with con:
        con.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "email TEXT NOT NULL, city TEXT, plan TEXT, signup_date TEXT, bio TEXT)")
        con.executemany(f"INSERT INTO {TABLE} VALUES (?,?,?,?,?,?,?)", make_users(n, seed))
        con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
        con.executemany("INSERT INTO meta VALUES (?, ?)", [("n", str(n)), ("seed", str(seed))])
    con.close()
    tmp.replace(path)
    return path


class FilingRoom:
    """The database behind the whiteboard. Use :meth:`sqlite`, :meth:`postgres` or
    :func:`filing_room` to get one."""

    def __init__(self, connection, kind: str, backend: str, placeholder: str, n_users: int):
        self._con = connection
        self.kind = kind
        self.backend = backend
        self._ph = placeholder
        self.n_users = n_users
        self.queries = 0

    @classmethod
    def sqlite(cls, path: Path | str | None = None) -> "FilingRoom":
        """The SQLite filing room; builds ``data/users.sqlite`` on first use (a few seconds)."""
        path = Path(path) if path else default_data_dir() / "users.sqlite"
        if not path.exists():
            build_sqlite(path)
        con = sqlite3.connect(path, check_same_thread=False)
        n = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        return cls(con, "sqlite", f"SQLite {sqlite3.sqlite_version} ({path.name}, {n:,} users)",
                   "?", n)

    @classmethod
    def postgres(cls, url: str) -> "FilingRoom":
        """The PostgreSQL filing room at ``url``; loads the users table if it is missing."""
        try:
            import psycopg
        except ImportError:
            raise RuntimeError("DATABASE_URL is set but psycopg is not installed: "
                               "pip install 'psycopg[binary]' (or unset DATABASE_URL to use "
                               "SQLite)") from None
        try:
            con = psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise ConnectionError(f"No PostgreSQL answered at {url} ({' '.join(str(exc).split())}). "
                                  "Start it, fix DATABASE_URL, or unset it to use SQLite.") \
                from None
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, "
                        "name TEXT NOT NULL, email TEXT NOT NULL, city TEXT, plan TEXT, "
                        "signup_date TEXT, bio TEXT)")
            cur.execute(f"SELECT count(*) FROM {TABLE}")
            n = cur.fetchone()[0]
            if n != N_USERS:
                cur.execute(f"TRUNCATE {TABLE}")
                with cur.copy(f"COPY {TABLE} FROM STDIN") as copy:
                    for row in make_users():
                        copy.write_row(row)
                cur.execute(f"ANALYZE {TABLE}")
                n = N_USERS
            version = con.info.server_version
        return cls(con, "postgres",
                   f"PostgreSQL {version // 10000}.{version % 10000} ({n:,} users)", "%s", n)

    def get_user(self, user_id: int) -> dict | None:
        """One user by primary key (an indexed SELECT), or ``None``."""
        cur = self._con.cursor()
        try:
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE id = {self._ph}",
                        (int(user_id),))
            row = cur.fetchone()
        finally:
            cur.close()
        self.queries += 1
        return dict(zip(COLUMNS, row)) if row else None

    def update_user(self, user_id: int, **fields) -> None:
        """Change a user's fields (the write that makes the whiteboard stale)."""
        bad = set(fields) - set(COLUMNS[1:])
        if bad:
            raise ValueError(f"fields must be among {', '.join(COLUMNS[1:])}; got {sorted(bad)}")
        if not fields:
            return
        sets = ", ".join(f"{name} = {self._ph}" for name in fields)
        cur = self._con.cursor()
        try:
            cur.execute(f"UPDATE {TABLE} SET {sets} WHERE id = {self._ph}",
                        (*fields.values(), int(user_id)))
        finally:
            cur.close()
        if self.kind == "sqlite":
            self._con.commit()
        self.queries += 1

    def time_get_user(self, user_ids) -> np.ndarray:
        """Seconds taken by ``get_user`` for each id in ``user_ids``."""
        out = np.empty(len(user_ids))
        for i, uid in enumerate(user_ids):
            tic = time.perf_counter()
            self.get_user(uid)
            out[i] = time.perf_counter() - tic
        return out

    def close(self) -> None:
        self._con.close()

    def __repr__(self):
        return f"<FilingRoom {self.backend}>"


def filing_room(url: str | None = None) -> FilingRoom:
    """PostgreSQL when ``url`` or ``DATABASE_URL`` is set; otherwise SQLite."""
    url = url or os.environ.get("DATABASE_URL") or None
    return FilingRoom.postgres(url) if url else FilingRoom.sqlite()
