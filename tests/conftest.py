"""Shared fixtures: a private redis-server (never the machine's own), fakeredis, a real SQLite file.

Tests marked ``real`` need a ``redis-server`` binary; they are skipped with that reason only
where none exists (CI installs one).
"""
import contextlib
import os
import secrets
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from simlab.live import FilingRoom, PrivateRedis, build_sqlite, redis_server_binary
from simlab.live import client as live_client

NO_SERVER = "no redis-server binary on the PATH (CI installs one; apt install redis-server)"


@pytest.fixture(scope="session")
def private_redis():
    if not redis_server_binary():
        pytest.skip(NO_SERVER)
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.real)])
def redis_client(request, monkeypatch):
    """The same test against fakeredis and against a private real server."""
    if request.param == "fake":
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.setattr(live_client, "_FAKE_SERVER", None)
        client = live_client.connect()
    else:
        server = request.getfixturevalue("private_redis")
        client = live_client.connect(server.url)
    yield client
    live_client.cleanup(client)


@pytest.fixture
def no_redis_server(tmp_path, monkeypatch):
    """PATH without any redis-server: each folder that has one is replaced by a shadow folder
    of symlinks to everything else in it (every other tool stays reachable). Returns the
    PATH."""
    for attempt in range(10):
        binary = shutil.which("redis-server")
        if not binary:
            return os.environ["PATH"]
        folder = Path(binary).parent
        shadow = tmp_path / f"bin-without-redis-server-{attempt}"
        shadow.mkdir()
        for entry in folder.iterdir():
            if entry.name != "redis-server":
                (shadow / entry.name).symlink_to(entry)
        monkeypatch.setenv("PATH", os.pathsep.join(
            str(shadow) if os.path.realpath(d) == os.path.realpath(folder) else d
            for d in os.environ["PATH"].split(os.pathsep)))
    raise AssertionError(f"redis-server still on the PATH: {shutil.which('redis-server')}")


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory):
    return build_sqlite(tmp_path_factory.mktemp("filing") / "users.sqlite", n=3000)


@pytest.fixture
def room(sqlite_path):
    r = FilingRoom.sqlite(sqlite_path)
    yield r
    r.close()


@pytest.fixture(scope="session")
def database_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip("DATABASE_URL is not set (.ci/run sets it when PostgreSQL answers)")
    return url


@contextlib.contextmanager
def scratch_database(database_url, prefix="simlab_test"):
    """The URL of a fresh, empty database on DATABASE_URL's server, dropped afterwards: the
    database DATABASE_URL names is never written."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def scratch_url(database_url):
    """A fresh, empty database on DATABASE_URL's server, dropped afterwards."""
    with scratch_database(database_url) as url:
        yield url
