"""The learner's database is changed only by what simlab created (issue 9, part 1).

PostgreSQL tests run in a scratch database of their own (created and dropped here), so the
database named by DATABASE_URL is left exactly as it was found.
"""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from simlab.live import FilingRoom, make_users
from simlab.live.filing_room import (NotOwnedError, SCHEMA_COMMENT, describe_postgres,
                                     drop_postgres, pg_schema, remove_sqlite)

ROOT = Path(__file__).resolve().parents[1]
LEARNER_ROWS = [(1, "my own row"), (2, "another of mine"), (3, "do not touch")]


def sql_rows(url, query):
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        return con.execute(query).fetchall()


def sql_run(url, statement):
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(statement)


def learner_table(url, qualified):
    """A learner's own table of that name, with their rows."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:
        schema = qualified.split(".")[0]
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE {qualified} (id INTEGER PRIMARY KEY, note TEXT)")
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO {qualified} VALUES (%s, %s)", LEARNER_ROWS)


def schemas(url):
    return {row[0] for row in sql_rows(url, "SELECT nspname FROM pg_namespace "
                                            "WHERE nspname NOT LIKE 'pg_%' "
                                            "AND nspname <> 'information_schema'")}


def with_user(url, user, password):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


@pytest.fixture
def scratch_role(scratch_url):
    """A login role of its own on the test server (roles are server-wide), dropped after."""
    import secrets
    name = f"simlab_test_role_{secrets.token_hex(5)}"
    sql_run(scratch_url, f"CREATE ROLE {name} LOGIN")
    yield name
    sql_run(scratch_url, f"REASSIGN OWNED BY {name} TO CURRENT_USER; DROP OWNED BY {name}")
    sql_run(scratch_url, f"DROP ROLE {name}")


def clean(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SIMLAB_PG_SCHEMA")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "simlab.cli", "clean", *args], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


# ------------------------------------------------------------------------------ psycopg

def test_psycopg_is_in_the_default_install():
    """`make lab` with DATABASE_URL set must find psycopg: it is a default dependency."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(re.match(r"psycopg\[binary\]", dep) for dep in project["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert any(str(dep).split(">")[0].strip() == "psycopg" for dep in env["dependencies"])


def test_missing_psycopg_is_one_friendly_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)    # `import psycopg` now fails
    with pytest.raises(RuntimeError) as info:
        FilingRoom.postgres("postgresql://alice:s3cret@db.example/shop")
    message = str(info.value)
    assert message == ("DATABASE_URL is set but psycopg is not installed: pip install "
                       "'psycopg[binary]' (or unset DATABASE_URL to use SQLite).")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --------------------------------------------------------------------------- the schema

def test_schema_name_is_checked(monkeypatch):
    monkeypatch.delenv("SIMLAB_PG_SCHEMA", raising=False)
    assert pg_schema() == "whiteboard"
    monkeypatch.setenv("SIMLAB_PG_SCHEMA", "course_wb")
    assert pg_schema() == "course_wb"
    for bad in ("Whiteboard", "wb; DROP TABLE x", "public", "pg_catalog", "1wb", "x" * 64):
        monkeypatch.setenv("SIMLAB_PG_SCHEMA", bad)
        with pytest.raises(ValueError, match=re.escape(f"SIMLAB_PG_SCHEMA must be a lower-case "
                                                       "identifier")) as info:
            pg_schema()
        assert repr(bad) in str(info.value)
    with pytest.raises(ValueError, match="schema must be a lower-case identifier.*got 'a-b'"):
        pg_schema("a-b")


@pytest.mark.postgres
def test_simlab_creates_only_its_marked_schema(scratch_url):
    before = schemas(scratch_url)
    with FilingRoom.postgres(scratch_url) as room:
        assert room.n_users == 100_000
    assert schemas(scratch_url) - before == {"whiteboard"}
    tables = sql_rows(scratch_url, "SELECT schemaname, tablename FROM pg_tables "
                                   "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    assert sorted(tables) == [("whiteboard", "simlab_owner"), ("whiteboard", "users")]
    comment = sql_rows(scratch_url, "SELECT obj_description('whiteboard'::regnamespace)")
    assert comment == [(SCHEMA_COMMENT,)]
    marker = sql_rows(scratch_url, "SELECT marker, n_users FROM whiteboard.simlab_owner")
    assert marker == [("simlab-whiteboard", 100_000)]


@pytest.mark.postgres
def test_legacy_public_table_is_never_touched(scratch_url):
    """A learner's own public.whiteboard_users (or one an old simlab left) keeps its rows."""
    learner_table(scratch_url, "public.whiteboard_users")
    with FilingRoom.postgres(scratch_url) as room:
        room.update_user(2, city="Lisbon")
        assert room.get_user(2)["city"] == "Lisbon"
    assert clean("--database", env_extra={"DATABASE_URL": scratch_url}).returncode == 0
    assert sql_rows(scratch_url, "SELECT * FROM public.whiteboard_users ORDER BY id") \
        == LEARNER_ROWS


@pytest.mark.postgres
@pytest.mark.parametrize("forged", [False, True])
def test_a_schema_simlab_did_not_create_is_refused(scratch_url, monkeypatch, forged):
    """A learner's schema named whiteboard: refused with one sentence and a way forward; with
    SIMLAB_PG_SCHEMA the course runs beside it. A copied comment alone is no proof."""
    learner_table(scratch_url, "whiteboard.users")
    if forged:
        from psycopg import sql
        sql_run(scratch_url, sql.SQL("COMMENT ON SCHEMA whiteboard IS {}").format(
            sql.Literal(SCHEMA_COMMENT)))
    monkeypatch.delenv("SIMLAB_PG_SCHEMA", raising=False)
    with pytest.raises(NotOwnedError) as info:
        FilingRoom.postgres(scratch_url)
    message = str(info.value)
    assert message.startswith("a schema named whiteboard exists in postgresql://")
    assert "SIMLAB_PG_SCHEMA=whiteboard_course" in message and "\n" not in message
    monkeypatch.setenv("SIMLAB_PG_SCHEMA", "whiteboard_course")
    with FilingRoom.postgres(scratch_url) as room:
        assert room.backend.endswith("(schema whiteboard_course, 100,000 users)")
        assert room.get_user(5)["id"] == 5
    assert sql_rows(scratch_url, "SELECT * FROM whiteboard.users ORDER BY id") == LEARNER_ROWS
    out = clean("--database", env_extra={"DATABASE_URL": scratch_url})
    assert out.returncode == 1 and "simlab did not create it" in out.stderr
    assert sql_rows(scratch_url, "SELECT * FROM whiteboard.users ORDER BY id") == LEARNER_ROWS


def _comment_and_learner_users(url, schema):
    """A learner's schema with simlab's comment and a users table of simlab's shape, holding
    their own rows: what simlab must never empty."""
    from psycopg import sql

    from simlab.live.filing_room import _DDL
    sql_run(url, f"CREATE SCHEMA {schema}")
    sql_run(url, sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(schema),
                                                               sql.Literal(SCHEMA_COMMENT)))
    sql_run(url, f"CREATE TABLE {schema}.users {_DDL}")
    sql_run(url, f"INSERT INTO {schema}.users (id, name, email) VALUES "
                 "(1, 'me', 'me@example.org'), (2, 'my friend', 'f@example.org')")


def _assert_refused_and_untouched(url, schema, why):
    with pytest.raises(NotOwnedError) as info:
        FilingRoom.postgres(url, schema=schema)
    message = str(info.value)
    assert message.startswith(f"a schema named {schema} exists in postgresql://") and \
        why in message and "\n" not in message, message
    out = clean("--database", env_extra={"DATABASE_URL": url, "SIMLAB_PG_SCHEMA": schema})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and "simlab did not create it" in out.stderr
    assert sql_rows(url, f"SELECT id, name FROM {schema}.users ORDER BY id") == \
        [(1, "me"), (2, "my friend")]


@pytest.mark.postgres
@pytest.mark.parametrize("look_alike", ["view", "table with other columns"])
def test_a_look_alike_marker_is_refused_in_one_sentence(scratch_url, look_alike):
    """A simlab_owner view, or a table with other columns, gave an UndefinedColumn
    traceback from FilingRoom.postgres and `simlab clean --database` (exit 1)."""
    _comment_and_learner_users(scratch_url, "mine")
    if look_alike == "view":
        sql_run(scratch_url, "CREATE VIEW mine.simlab_owner AS SELECT "
                             "'simlab-whiteboard'::text AS marker, 2 AS n")
        why = "its simlab_owner is not a table"
    else:
        sql_run(scratch_url, "CREATE TABLE mine.simlab_owner (marker TEXT, n INTEGER)")
        sql_run(scratch_url, "INSERT INTO mine.simlab_owner VALUES ('simlab-whiteboard', 2)")
        why = "its simlab_owner table does not have simlab's columns"
    _assert_refused_and_untouched(scratch_url, "mine", why)


@pytest.mark.postgres
@pytest.mark.parametrize("forgery", ["copied row", "own schema's oids"])
def test_a_forged_marker_never_gets_a_learners_table_emptied(scratch_url, forgery):
    """A hostile learner copies simlab's comment and marker onto their own schema: simlab
    used to TRUNCATE and reload their users table. The marker records the schema's oid and
    owner and the oids of the marker and users tables simlab created: a copy does not match."""
    FilingRoom.postgres(scratch_url, schema="whiteboard").close()      # the real one
    _comment_and_learner_users(scratch_url, "mine")
    sql_run(scratch_url, "CREATE TABLE mine.simlab_owner "
                         "(LIKE whiteboard.simlab_owner INCLUDING ALL)")
    sql_run(scratch_url, "INSERT INTO mine.simlab_owner SELECT * FROM whiteboard.simlab_owner")
    why = "its simlab_owner marker was made for another schema or owner"
    if forgery == "own schema's oids":    # fixed up to name this schema and marker table
        sql_run(scratch_url, "UPDATE mine.simlab_owner SET schema_oid = 'mine'::regnamespace, "
                             "marker_oid = 'mine.simlab_owner'::regclass")
        why = "its users table is not the one simlab created there"
    _assert_refused_and_untouched(scratch_url, "mine", why)
    with FilingRoom.postgres(scratch_url, schema="whiteboard") as room:   # simlab's still works
        assert room.get_user(7)["id"] == 7


@pytest.mark.postgres
def test_three_learners_starting_at_once(scratch_url):
    """Three processes on an empty database: all succeed and see the same 100,000 users."""
    code = ("import sys; from simlab.live import FilingRoom; "
            "r = FilingRoom.postgres(sys.argv[1]); "
            "print(r.n_users, r.get_user(1), r.get_user(77), r.get_user(100_000))")
    env = {k: v for k, v in os.environ.items() if k != "SIMLAB_PG_SCHEMA"}
    procs = [subprocess.Popen([sys.executable, "-c", code, scratch_url], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert len({out for out, _ in outs}) == 1
    assert outs[0][0].startswith("100000 {'id': 1,") and "None" not in outs[0][0]
    assert sql_rows(scratch_url, "SELECT count(*), count(DISTINCT id) FROM whiteboard.users") \
        == [(100_000, 100_000)]
    assert sql_rows(scratch_url, "SELECT count(*) FROM whiteboard.simlab_owner") == [(1,)]


@pytest.mark.postgres
def test_simlab_repairs_only_its_own_table(scratch_url):
    FilingRoom.postgres(scratch_url).close()
    sql_run(scratch_url, "DELETE FROM whiteboard.users WHERE id > 10")
    with FilingRoom.postgres(scratch_url) as room:
        assert room.n_users == 100_000
        assert room.get_user(99_999)["id"] == 99_999


@pytest.mark.postgres
def test_a_lessons_writes_are_undone_on_postgres(scratch_url):
    original = dict(zip(("id", "name", "email", "city", "plan", "signup_date", "bio"),
                        next(r for r in make_users() if r[0] == 42)))
    room = FilingRoom.postgres(scratch_url)
    room.update_user(42, city="Lisbon", plan="team")
    assert room.get_user(42)["city"] == "Lisbon"
    assert sql_rows(scratch_url, "SELECT city, plan FROM whiteboard.users WHERE id = 42") \
        == [(original["city"], original["plan"])]
    assert room.restore() == 1 and room.get_user(42) == original
    room.update_user(42, city="Porto")
    room._con.close()                 # the kernel dies without closing the room
    with FilingRoom.postgres(scratch_url) as again:
        assert again.get_user(42) == original


# ---------------------------------------------------------------------- simlab clean

@pytest.mark.postgres
def test_clean_database_drops_only_simlabs_schema(scratch_url):
    learner_table(scratch_url, "mine.notes")
    FilingRoom.postgres(scratch_url).close()
    out = clean("--database", env_extra={"DATABASE_URL": scratch_url})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("simlab clean: removed schema whiteboard from postgresql://")
    assert out.stdout.rstrip().endswith("with its tables users (100,000 users), simlab_owner")
    assert "whiteboard" not in schemas(scratch_url)
    assert sql_rows(scratch_url, "SELECT * FROM mine.notes ORDER BY id") == LEARNER_ROWS
    again = clean("--database", env_extra={"DATABASE_URL": scratch_url})
    assert again.returncode == 0 and "nothing to remove: there is no schema whiteboard" \
        in again.stdout


@pytest.mark.postgres
def test_clean_database_keeps_a_learners_table_inside_simlabs_schema(scratch_url):
    FilingRoom.postgres(scratch_url).close()
    learner_table(scratch_url, "whiteboard.my_notes")
    with pytest.raises(NotOwnedError, match="also holds objects simlab did not create"):
        drop_postgres(scratch_url)
    assert sql_rows(scratch_url, "SELECT count(*) FROM whiteboard.users") == [(100_000,)]
    assert sql_rows(scratch_url, "SELECT * FROM whiteboard.my_notes ORDER BY id") == LEARNER_ROWS


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["shop_meta", "shop_orders", "shop_products"])
def test_clean_never_drops_a_learners_table_named_like_the_shops(scratch_url, name):
    """A table of the learner's in simlab's schema, named like one of the shop's: simlab
    used to drop it by name. Only tables the marker lists by oid are simlab's."""
    FilingRoom.postgres(scratch_url).close()
    learner_table(scratch_url, f"whiteboard.{name}")
    out = clean("--database", env_extra={"DATABASE_URL": scratch_url})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and out.stdout == ""
    assert "also holds objects simlab did not create" in out.stderr and name in out.stderr
    assert sql_rows(scratch_url, f"SELECT * FROM whiteboard.{name} ORDER BY id") == LEARNER_ROWS
    assert sql_rows(scratch_url, "SELECT count(*) FROM whiteboard.users") == [(100_000,)]
    with pytest.raises(NotOwnedError, match=f"also holds objects simlab did not create "
                                            f"\\({name}\\)"):
        drop_postgres(scratch_url)
    assert sql_rows(scratch_url, f"SELECT * FROM whiteboard.{name} ORDER BY id") == LEARNER_ROWS


@pytest.mark.postgres
def test_clean_by_a_user_without_rights_is_one_line(scratch_url, scratch_role):
    """A role with no rights on simlab's schema got psycopg's InsufficientPrivilege
    traceback from `simlab clean --database`."""
    FilingRoom.postgres(scratch_url).close()
    url = with_user(scratch_url, scratch_role, "nopriv-s3cret")   # trust auth ignores it
    out = clean("--database", env_extra={"DATABASE_URL": url})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and out.stdout == ""
    assert out.stderr.startswith(f"simlab clean: simlab may not remove its schema whiteboard "
                                 f"in postgresql://{scratch_role}:***@")
    assert "permission denied" in out.stderr and "removed nothing" in out.stderr
    assert "nopriv-s3cret" not in out.stderr
    sql_run(scratch_url, f"GRANT USAGE ON SCHEMA whiteboard TO {scratch_role}; "
                         f"GRANT SELECT ON ALL TABLES IN SCHEMA whiteboard TO {scratch_role}")
    out = clean("--database", env_extra={"DATABASE_URL": url})    # may read, not drop
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "may not remove" in out.stderr and "nopriv-s3cret" not in out.stderr
    assert sql_rows(scratch_url, "SELECT count(*) FROM whiteboard.users") == [(100_000,)]


@pytest.mark.postgres
def test_a_function_in_public_never_runs_in_simlabs_sessions(scratch_url, scratch_role):
    """Another role with CREATE on public defines public.obj_description(oid, text): an
    unqualified call in simlab's catalogue query resolved to it and ran it with the learner's
    rights. Every simlab session looks names up in pg_catalog (then pg_temp) only."""
    sql_run(scratch_url, f"""
        CREATE TABLE public.shadow_calls (who TEXT);
        GRANT INSERT ON public.shadow_calls TO PUBLIC;
        GRANT CREATE ON SCHEMA public TO {scratch_role};
        SET ROLE {scratch_role};
        CREATE FUNCTION public.obj_description(oid, text) RETURNS text LANGUAGE plpgsql AS $f$
        BEGIN
          INSERT INTO public.shadow_calls VALUES (current_user);
          RETURN pg_catalog.obj_description($1, $2::name);
        END $f$;
        CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS $f$
        BEGIN INSERT INTO public.shadow_calls VALUES (current_user); RETURN 0; END $f$;
        RESET ROLE;""")
    # the shadow is real: an unqualified call from the default search_path runs it
    assert sql_rows(scratch_url, "SELECT obj_description(0, 'pg_namespace')") == [(None,)]
    assert sql_rows(scratch_url, "SELECT who FROM public.shadow_calls") == [("postgres",)]
    sql_run(scratch_url, "TRUNCATE public.shadow_calls")
    for _ in range(2):                           # creates the schema, then finds it
        with FilingRoom.postgres(scratch_url) as room:
            assert room.get_user(3)["id"] == 3
            session = room._con.execute("SHOW search_path").fetchone()[0]
            assert session == "pg_catalog, pg_temp"
    found = describe_postgres(scratch_url)
    assert found["state"] == "ours" and found["rows"] == 100_000
    assert drop_postgres(scratch_url).startswith("removed schema whiteboard")
    assert sql_rows(scratch_url, "SELECT who FROM public.shadow_calls") == []


@pytest.mark.postgres
def test_clean_hides_the_password(scratch_url):
    parts = urlsplit(scratch_url)
    url = urlunsplit(parts._replace(netloc=f"postgres:s3cret-pw@{parts.hostname}:{parts.port}"))
    FilingRoom.postgres(url).close()      # trust auth ignores the password; it is still shown
    out = clean("--database", env_extra={"DATABASE_URL": url})
    assert out.returncode == 0 and "postgres:***@" in out.stdout
    assert "s3cret-pw" not in out.stdout + out.stderr


def test_clean_needs_a_target_and_a_database():
    out = clean()
    assert out.returncode == 2 and "give --database" in out.stderr
    out = clean("--database")
    assert out.returncode == 2 and "DATABASE_URL is not set" in out.stderr


def test_clean_sqlite(tmp_path):
    from simlab.live import build_sqlite
    path = build_sqlite(tmp_path / "users.sqlite", n=20)
    out = clean("--sqlite", env_extra={"SIMLAB_DATA": str(tmp_path)})
    assert out.returncode == 0 and f"removed {path}" in out.stdout and not path.exists()
    path.write_text("not a database of simlab's")
    out = clean("--sqlite", env_extra={"SIMLAB_DATA": str(tmp_path)})
    assert out.returncode == 1 and "leaves it alone" in out.stderr
    assert path.read_text() == "not a database of simlab's"
    with pytest.raises(NotOwnedError):
        remove_sqlite(path)


# ------------------------------------------------------------------ notebook 03, twice

def _cells_of_03_through_the_write():
    import jupytext
    nb = jupytext.read(ROOT / "notebooks" / "source" / "03_cache_aside.py")
    code = [c for c in nb.cells if c.cell_type == "code"]
    upto = next(i for i, c in enumerate(code) if "update_user(42" in c.source)
    nb.cells = code[:upto + 1] + [code[-1]]
    return nb, upto


def _run(nb):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return ["".join(o.get("text", "") for o in c.outputs if o.get("name") == "stdout")
            for c in nb.cells]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_notebook_03_twice_gives_the_same_output(backend, tmp_path, monkeypatch, request):
    """The write cell of notebook 03, run in two fresh kernels: the same output (the user
    before the write is the original both times), and the data as it was afterwards."""
    import copy
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("SIMLAB_PG_SCHEMA", raising=False)
    monkeypatch.setenv("SIMLAB_DATA", str(tmp_path))
    if backend == "postgres":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("scratch_url"))
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    nb, upto = _cells_of_03_through_the_write()
    first, second = _run(copy.deepcopy(nb)), _run(copy.deepcopy(nb))
    original = next(r for r in make_users() if r[0] == 42)[3]
    lines = [[line for line in out[upto].splitlines() if line.startswith("before the write")]
             for out in (first, second)]     # the rest of the cell is timings in ms
    assert lines[0] == lines[1] == [f"before the write: {original} | after the write: Lisbon"]
    url = os.environ.get("DATABASE_URL")
    with (FilingRoom.postgres(url) if url else FilingRoom.sqlite(tmp_path / "users.sqlite")) \
            as room:
        assert room.get_user(42)["city"] == original


@pytest.mark.postgres
def test_an_older_simlabs_schema_is_named_as_such_with_the_way_forward(scratch_url):
    """A schema made before the marker listed the shop's tables by oid cannot prove those
    tables simlab's: it is refused, in one sentence that says it is an older simlab's (not
    'simlab did not create it') and how to start again; nothing in it changes."""
    with FilingRoom.postgres(scratch_url) as room:
        assert room.n_users == 100_000
    sql_run(scratch_url, "ALTER TABLE whiteboard.simlab_owner DROP COLUMN shop_oids")
    with pytest.raises(NotOwnedError) as info:
        FilingRoom.postgres(scratch_url)
    message = str(info.value)
    assert "was made by an older simlab" in message and "\n" not in message
    assert "DROP SCHEMA whiteboard CASCADE" in message and "did not create it" not in message
    assert sql_rows(scratch_url, "SELECT count(*) FROM whiteboard.users") == [(100_000,)]
