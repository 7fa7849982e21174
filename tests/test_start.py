"""Binder's `start`: its own Redis or none, never someone else's; nothing left behind.

Each test runs `start COMMAND` with TMPDIR and the working folder in tmp_path, COMMAND a Python
snippet that reports what REDIS_URL points at. The server is proved to be start's own by its
process: start execs COMMAND, so start's redis-server is a child of COMMAND's process.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simlab.live.server import PrivateRedis, pid_alive

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "start"
PIDFILE = Path("/var/run/redis.pid")   # redis-server's default pid file when daemonized

needs_redis_server = pytest.mark.skipif(not shutil.which("redis-server"),
                                        reason="no redis-server binary on the PATH")

# prints what REDIS_URL points at: its process, that process's parent, its folder
REPORT = """
import json, os, sys
url = os.environ.get("REDIS_URL")
out = {"url": url, "me": os.getpid()}
if url:
    import redis
    r = redis.Redis.from_url(url, decode_responses=True)
    pid = int(r.info("server")["process_id"])
    stat = open(f"/proc/{pid}/stat").read() if os.path.exists(f"/proc/{pid}/stat") else ""
    out.update(server=pid, parent=int(stat.rpartition(")")[2].split()[1]) if stat else None,
               dir=r.config_get("dir")["dir"], pidfile=r.config_get("pidfile")["pidfile"],
               save=r.config_get("save")["save"], bind=r.config_get("bind")["bind"])
print(json.dumps(out), flush=True)
if len(sys.argv) > 1:
    import time; time.sleep(float(sys.argv[1]))
"""


def _pidfile_state():
    try:
        st = PIDFILE.stat()
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WHITEBOARD_REDIS_PORT")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp_path / "tmp")
    env.update(extra)
    return env


def _run_start(tmp_path, *command, **extra):
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([str(START), *command], env=_env(tmp_path, **extra), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def _wait_gone(pid=None, folder=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (pid and pid_alive(pid)) and not (folder and os.path.exists(folder)):
            return True
        time.sleep(0.1)
    return False


@needs_redis_server
def test_start_runs_a_server_of_its_own_and_leaves_nothing(tmp_path):
    """6379 is taken on this machine (and on a learner's, often): the old script adopted it."""
    before = _pidfile_state()
    out = _run_start(tmp_path, sys.executable, "-c", REPORT)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["url"], out.stderr
    assert info["parent"] == info["me"], f"REDIS_URL points at someone else's server: {info}"
    folder = info["dir"]
    assert Path(folder).parent == tmp_path / "tmp" and Path(folder).name.startswith(
        "whiteboard-redis.")
    assert info["pidfile"] == os.path.join(folder, "redis.pid")
    assert info["save"] == "" and info["bind"] == "127.0.0.1"
    assert f"(pid {info['server']})" in out.stderr and "REDIS_URL=" in out.stderr
    # the command has exited: the server goes with it, and so does its folder
    assert _wait_gone(info["server"], folder), "start's redis-server or folder outlived it"
    assert list((tmp_path / "cwd").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []
    assert _pidfile_state() == before, "start wrote /var/run/redis.pid"


@pytest.fixture(params=["redis-server", "plain socket"])
def taken_port(request):
    """A port somebody else listens on: another private redis-server, or a bare socket."""
    if request.param == "plain socket":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            yield sock.getsockname()[1], None
    else:
        if not shutil.which("redis-server"):
            pytest.skip("no redis-server binary on the PATH")
        with PrivateRedis() as other:
            yield other.port, other


@needs_redis_server
def test_start_never_adopts_a_server_on_its_port(tmp_path, taken_port):
    port, other = taken_port
    if other is not None:
        other.client().set("wb:theirs", "untouched")
    before = _pidfile_state()
    out = _run_start(tmp_path, sys.executable, "-c", REPORT, WHITEBOARD_REDIS_PORT=str(port))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["url"] is None, f"start adopted 127.0.0.1:{port}"
    assert "fakeredis" in out.stderr and "REDIS_URL is not set" in out.stderr, out.stderr
    assert f"127.0.0.1:{port}" in out.stderr, out.stderr
    if other is not None:
        assert other.client().get("wb:theirs") == "untouched"
        assert other.running
    assert list((tmp_path / "tmp").iterdir()) == [], "start left its folder behind"
    assert _pidfile_state() == before


def test_start_without_redis_server_says_it_falls_back_to_fakeredis(tmp_path):
    out = subprocess.run(["/bin/bash", str(START), "/bin/echo", "hello"],
                         env=_env(tmp_path, PATH=str(tmp_path)), capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "hello"
    assert "no redis-server on the PATH" in out.stderr and "fakeredis" in out.stderr


def test_start_refuses_a_port_that_is_not_a_number(tmp_path):
    out = _run_start(tmp_path, "/bin/echo", "hello", WHITEBOARD_REDIS_PORT="63 79")
    assert out.returncode == 0 and out.stdout.strip() == "hello"
    if shutil.which("redis-server"):
        assert "WHITEBOARD_REDIS_PORT must be a port number from 1 to 65535, got '63 79'" \
            in out.stderr


@needs_redis_server
def test_start_server_dies_with_a_killed_notebook_server(tmp_path):
    """SIGKILL the process start handed over to (the notebook server on Binder)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = subprocess.Popen([str(START), sys.executable, "-c", REPORT, "60"],
                            env=_env(tmp_path), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["parent"] == info["me"] == proc.pid
        assert pid_alive(info["server"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert _wait_gone(info["server"], info["dir"]), "the server or its folder outlived the owner"


@needs_redis_server
def test_start_removes_the_folders_of_dead_owners(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale, live, foreign = (tmp / "whiteboard-redis.stale1", tmp / "whiteboard-redis.live01",
                            tmp / "whiteboard-redis.noown1")
    for folder in (stale, live, foreign):
        folder.mkdir()
        (folder / "redis.log").write_text("old\n")
    (stale / "owner.pid").write_text(f"{dead}\n")
    (live / "owner.pid").write_text(f"{os.getpid()}\n")
    out = _run_start(tmp_path, "/bin/echo", "hello")
    assert out.returncode == 0, out.stderr
    assert not stale.exists(), "the folder of a dead owner was kept"
    assert live.exists() and foreign.exists(), "start removed a folder it could not prove stale"


@pytest.mark.parametrize("port", ["99999999999999999999", "000000000000000000001", "0", "65536"])
def test_start_refuses_a_port_out_of_range_in_one_line(tmp_path, port):
    """A 20-digit port made bash's `[ -lt ]` print `integer expression expected` twice."""
    out = _run_start(tmp_path, "/bin/echo", "hello", WHITEBOARD_REDIS_PORT=port)
    assert out.returncode == 0 and out.stdout.strip() == "hello"
    assert "integer expression expected" not in out.stderr and "start: line" not in out.stderr
    if shutil.which("redis-server"):
        assert out.stderr == (f"start: WHITEBOARD_REDIS_PORT must be a port number from 1 to "
                              f"65535, got '{port}'; REDIS_URL is not set: the notebooks use "
                              "fakeredis (in-process)\n")


@needs_redis_server
def test_start_sweeps_old_folders_without_owner_that_hold_only_its_files(tmp_path):
    """A whiteboard-redis.* folder with only redis.log (start killed before it wrote
    owner.pid) was never removed. It is, once untouched for minutes; nothing else is."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    folders = {name: tmp / f"whiteboard-redis.{name}"
               for name in ("orphan", "pidded", "fresh1", "extras", "alive1", "mine")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "redis.log").write_text("old\n")
    (folders["pidded"] / "redis.pid").write_text("999999999\n")      # no such process
    (folders["extras"] / "notes.txt").write_text("a learner's file\n")
    (folders["alive1"] / "redis.pid").write_text(f"{os.getpid()}\n")  # a live process
    hour_ago = time.time() - 3600
    for name, folder in folders.items():
        if name != "fresh1":
            for path in (*folder.iterdir(), folder):
                os.utime(path, (hour_ago, hour_ago))
    out = _run_start(tmp_path, "/bin/echo", "hello")
    assert out.returncode == 0, out.stderr
    assert not folders["orphan"].exists() and not folders["pidded"].exists(), \
        "an old folder holding only start's files was kept"
    kept = {name for name, folder in folders.items() if folder.exists()}
    assert kept == {"fresh1", "extras", "alive1", "mine"}, kept
    assert (folders["extras"] / "notes.txt").read_text() == "a learner's file\n"
