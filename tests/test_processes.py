"""Nothing outlives its owner, and no secret is on a child's command line.

An "owner" is a Python process (here a subprocess) that starts private servers and queue
workers; the tests kill it with SIGKILL, the way a crashed or restarted kernel dies, and count
what is left: redis-server processes, watchdogs, workers (by pid) and temporary folders.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import simlab
from simlab.live.server import PrivateRedis, pid_alive, sweep_stale_folders

pytestmark = pytest.mark.real

# The owner: a QueueServer (which starts a PrivateRedis, REDIS_URL being unset), a reliable
# JobQueue with two workers busy on long jobs, from the main thread or from a thread that has
# exited by the time the owner reports (PR_SET_PDEATHSIG follows the forking *thread*).
OWNER = """
import json, sys, threading, time
from simlab.live.queues import JobQueue, QueueServer

made = {}
def make():
    made["server"] = QueueServer()
    made["queue"] = q = JobQueue(made["server"], reliable=True)
    for _ in range(6):
        q.enqueue(30.0)
    q.start_worker()
    q.start_worker()
if sys.argv[1] == "thread":
    t = threading.Thread(target=make)
    t.start()
    t.join()
    time.sleep(1.0)                  # long enough for a wrongly set PDEATHSIG to have fired
else:
    make()
server, q = made["server"]._private, made["queue"]
while int(q.r.llen(q.prefix + ":started")) < 2:
    time.sleep(0.05)                 # both workers are in the middle of a job
print(json.dumps({"server": server.pid, "watchdog": server.watchdog_pid, "folder": server.folder,
                  "workers": [p.pid for p in q.workers.values()],
                  "alive": [p.poll() is None for p in q.workers.values()]
                           + [server.running]}), flush=True)
time.sleep(120)
"""


@pytest.fixture(autouse=True)
def _needs_redis_server():
    if not simlab.live.redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")


def _start_owner(mode):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.Popen([sys.executable, "-c", OWNER, mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"the owner did not start: {proc.communicate(timeout=10)[1][-2000:]}")
    return proc, json.loads(line)


def _leftovers(pids, folder, timeout=8.0):
    """What is still there after ``timeout`` seconds (an empty list as soon as nothing is)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if pid_alive(pid)] + ([folder] if os.path.exists(folder)
                                                            else [])
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


@pytest.mark.parametrize("mode", ["main", "thread"])
def test_a_killed_owner_leaves_no_server_worker_or_folder(mode):
    proc, info = _start_owner(mode)
    assert all(info["alive"]), f"a child died with the thread that started it: {info}"
    pids = [info["server"], info["watchdog"], *info["workers"]]
    _kill(proc)
    assert _leftovers(pids, info["folder"]) == []


def test_folders_of_dead_owners_are_removed_at_the_next_start():
    """Owner and watchdog killed together: the server dies (PDEATHSIG); the folder waits for
    the next PrivateRedis.start(), which removes it. Folders of live owners stay."""
    proc, info = _start_owner("main")
    os.kill(info["watchdog"], signal.SIGKILL)
    _kill(proc)
    pids = [info["server"], *info["workers"]]
    assert _leftovers(pids, "/nonexistent") == []
    assert os.path.exists(info["folder"])
    live = Path(tempfile.mkdtemp(prefix="simlab-redis-"))
    (live / "owner.pid").write_text(f"{os.getpid()}\n")
    try:
        with PrivateRedis() as server:
            assert server.running
            assert not os.path.exists(info["folder"]), "the dead owner's folder is still there"
            assert live.exists(), "a live owner's folder was removed"
    finally:
        sweep_stale_folders()
        live.joinpath("owner.pid").unlink()
        live.rmdir()


def test_a_server_dropped_without_stop_is_cleaned_up_by_its_watchdog():
    """The owner lives on but forgets the server (no stop()): the watchdog sees its pipe close."""
    server = PrivateRedis().start()
    pid, folder = server.pid, server.folder
    server._watchdog.stdin.close()        # what garbage collection of the object does
    assert _leftovers([pid], folder) == []
    server._watchdog.wait(5)
    server._watchdog = None
    server.stop()


WITH_SERVER = [sys.executable, "-c", "import sys; from simlab.cli import main; "
               "sys.exit(main(sys.argv[1:]))", "with-server", "--"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_with_server_forwards_the_signal_and_stops_its_server(tmp_path, sig):
    marker = tmp_path / "child.pid"
    child = ["/bin/sh", "-c", f"echo $$ > {marker}; exec sleep 60"]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.Popen(WITH_SERVER + child, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "REDIS_URL=" in line, line
        url = line.split("REDIS_URL=", 1)[1].strip()
        server = int(simlab.connect(url).info("server")["process_id"])
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text().strip()):
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        child_pid = int(marker.read_text())
        proc.send_signal(sig)
        code = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
    assert code == 128 + sig, f"with-server exited {code}: the command did not get {sig!r}"
    assert _leftovers([child_pid, server], "/nonexistent", timeout=5) == []


def test_private_redis_with_a_password_keeps_it_off_argv_and_out_of_sight():
    secret = "s3cret-Pa55:/@"
    with PrivateRedis(password=secret) as server:
        assert secret not in repr(server) and ":***@" in repr(server)
        r = server.client()
        assert r.ping() and secret not in r.backend
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()
        watchdog = Path(f"/proc/{server.watchdog_pid}/cmdline").read_bytes().decode()
        assert secret not in cmdline and secret not in watchdog
        import redis
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port).ping()


def test_private_redis_refuses_an_empty_password():
    with pytest.raises(ValueError, match="password must be a non-empty string, got an empty"):
        PrivateRedis(password="")


def _start_stubborn(tmp_path):
    """with-server running a command that traps and ignores SIGTERM, SIGINT and SIGHUP:
    (with-server, the command's pid, the server's pid)."""
    marker = tmp_path / "child.pid"
    child = ["/bin/sh", "-c", f"trap '' TERM INT HUP; echo $$ > {marker}; "
                              "while :; do sleep 0.2; done"]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.Popen(WITH_SERVER + child, env=env, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "REDIS_URL=" in line, line
    server = int(simlab.connect(line.split("REDIS_URL=", 1)[1].strip())
                 .info("server")["process_id"])
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text().strip()):
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.05)
    return proc, int(marker.read_text()), server


def test_with_server_kills_a_command_that_ignores_sigterm_after_the_grace(tmp_path):
    """The command trapped SIGTERM: with-server waited as long as it ran, never escalating."""
    from simlab.live.server import STOP_GRACE_SECONDS
    proc, child, server = _start_stubborn(tmp_path)
    try:
        tic = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(STOP_GRACE_SECONDS + 10)
        took = time.monotonic() - tic
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
    assert code == 128 + signal.SIGKILL, (code, err)
    assert "did not stop within 5 s of the signal; killing it (SIGKILL)" in err
    assert took < STOP_GRACE_SECONDS + 2, took
    assert _leftovers([child, server], "/nonexistent", timeout=2) == []


def test_a_command_does_not_outlive_a_killed_with_server(tmp_path):
    """with-server SIGKILLed: its command (death signal SIGTERM, trapped) ran on for good."""
    proc, child, server = _start_stubborn(tmp_path)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.stderr.close()
    try:
        assert _leftovers([child, server], "/nonexistent", timeout=5) == []
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)


COUNT_SIGINTS = """
import os, signal, sys, time, redis
got = []
signal.signal(signal.SIGINT, lambda s, f: got.append(s))
r = redis.Redis.from_url(os.environ["REDIS_URL"])
r.ping()
print("ready", flush=True)
deadline = time.time() + 20
while not got and time.time() < deadline:
    time.sleep(0.05)
time.sleep(1.0)                     # a forwarded second SIGINT, or a dying server, shows here
try:
    r.ping()
    alive = "alive"
except redis.ConnectionError:
    alive = "gone"
print(f"sigints={len(got)} server={alive}", flush=True)
"""


def test_a_ctrl_c_at_the_terminal_reaches_the_command_once_and_spares_its_server(tmp_path):
    """Ctrl-C typed at a terminal (a pty) into with-server running a command that catches it
    (an interactive Python, Jupyter's 'Shutdown? (y/[n])'): the command gets one SIGINT, not
    a second one forwarded by with-server, and the private server under it keeps answering
    (it shared the terminal's process group and died)."""
    import pty
    import select
    script = tmp_path / "count.py"
    script.write_text(COUNT_SIGINTS)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    pid, fd = pty.fork()
    if pid == 0:                                           # the child: with-server on the pty
        os.execve(sys.executable, WITH_SERVER + [sys.executable, str(script)], env)
    out = b""

    def read_until(text, seconds):
        nonlocal out
        end = time.monotonic() + seconds
        while text not in out and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        read_until(b"ready", 30)
        assert b"ready" in out, out
        os.write(fd, b"\x03")                              # the user presses Ctrl-C once
        read_until(b"server=", 30)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"sigints=1 server=alive" in out, out


def test_the_sweep_never_kills_a_redis_server_running_elsewhere(tmp_path):
    """A leftover folder's redis.pid names a process that is a redis-server, but not one
    running in that folder (its pid reused by someone else's server): the folder goes, the
    server lives."""
    from simlab.live.server import redis_server_binary
    if not redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    from simlab.live.server import free_port
    other = subprocess.Popen([redis_server_binary(), "--port", str(free_port()), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly", "no"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL)
    leftover = Path(tempfile.mkdtemp(prefix="simlab-redis-"))
    try:
        time.sleep(0.2)
        dead = subprocess.Popen(["true"])
        dead.wait()
        (leftover / "owner.pid").write_text(f"{dead.pid}\n")      # an owner that is gone
        (leftover / "redis.pid").write_text(f"{other.pid}\n")     # a pid now someone else's
        assert str(leftover) in sweep_stale_folders(str(leftover.parent))
        assert other.poll() is None, "someone else's redis-server was killed"
    finally:
        other.kill()
        other.wait(10)
        if leftover.exists():
            import shutil
            shutil.rmtree(leftover)


def test_a_redis_server_that_cannot_start_is_one_line_with_its_reason(tmp_path):
    """A redis-server on the PATH that exits at once (an old version refusing a directive, a
    broken install): with-server says what it printed, in one line, and exits 3."""
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "*** FATAL CONFIG FILE ERROR (Redis 2.8) Bad directive '
                    'protected-mode" >&2\nexit 1\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PATH"] = f"{fake.parent}:/usr/bin:/bin"
    out = subprocess.run(WITH_SERVER + ["true"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert "did not start: *** FATAL CONFIG FILE ERROR (Redis 2.8) Bad directive" in out.stderr
