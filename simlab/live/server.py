"""A private redis-server: started on a free loopback port in a temporary folder, then stopped.

simlab may reconfigure or flush only servers it started itself (``owned``). Tests use this
for their real runs; later lessons use it for destructive experiments (maxmemory, restarts).

Nothing outlives its owner (the Python process that called :meth:`PrivateRedis.start`):

* on Linux the server gets ``PR_SET_PDEATHSIG`` (``SIGKILL``) when it is started from the main
  thread (the kernel sends the signal when the *thread* that forked exits, so from any other
  thread it is not set and the watchdog below does the work alone);
* a watchdog process (Linux and macOS) waits on a pipe from the owner and polls its parent pid;
  when the owner is gone it kills the server and removes the temporary folder;
* if the watchdog was killed too, the next :meth:`PrivateRedis.start` removes the folders whose
  owner (``owner.pid`` inside each ``simlab-redis-*`` folder) is dead: :func:`sweep_stale_folders`.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from .urls import redact


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` binary on the PATH."""


HOW_TO_INSTALL = ("install one (Debian/Ubuntu: apt install redis-server; macOS: brew install "
                  "redis; conda: conda install -c conda-forge redis-server); the simulation and "
                  "fakeredis work without it")
FOLDER_PREFIX = "simlab-redis-"
PR_SET_PDEATHSIG = 1


def redis_server_binary() -> str | None:
    """Path of the ``redis-server`` binary, or ``None``."""
    return shutil.which("redis-server")


def redis_server_version(binary: str | None = None) -> str | None:
    binary = binary or redis_server_binary()
    if not binary:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip() or None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# children that die with their owner -------------------------------------------------------

def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()   # looked up once, here: a preexec_fn must not load libraries


def child_options(sig: int = signal.SIGKILL) -> dict:
    """``subprocess.Popen`` keyword arguments that make the child die with this process.

    On Linux, from the main thread: a ``preexec_fn`` that sets ``PR_SET_PDEATHSIG`` to ``sig``
    (kept across ``exec``, so it works for ``redis-server`` too). The kernel sends it when the
    thread that forked exits, which for the main thread means the process: from another thread
    (or on macOS) this returns ``{}`` and the caller relies on its watchdog or polling instead.
    """
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return {}
    owner = os.getpid()

    def die_with_owner():
        _PRCTL(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != owner:      # the owner died before prctl took effect
            os._exit(1)

    return {"preexec_fn": die_with_owner}


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a dead process not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                    # someone else's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True                    # no /proc (macOS): kill(0) is all we can ask
    return stat.rpartition(")")[2].split()[0] != "Z"


# The watchdog: a tiny process of its own per server (isolated Python; the script is written into
# the server's folder so that ``ps`` shows a short line). It exits quietly when the owner writes
# to the pipe (a normal stop); when the pipe reaches EOF (the owner died, or dropped the server
# without stopping it) or its parent changes (the owner died), it kills the server and removes
# the folder.
WATCHDOG = r"""
import os, select, shutil, signal, sys
owner, server, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    if select.select([0], [], [], 0.5)[0]:
        if os.read(0, 16):
            sys.exit(0)
        break
    if os.getppid() != owner:
        break
try:
    os.kill(server, signal.SIGKILL)
except OSError:
    pass
shutil.rmtree(folder, ignore_errors=True)
"""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_redis_server(pid: int, folder: Path | None = None) -> bool:
    """Whether ``pid`` is a redis-server (and, given ``folder``, one running in it: a private
    server's working directory is its folder, its config's ``dir``; a pid remembered in a
    leftover folder and since reused by someone else's redis-server is not). False when this
    cannot be told (macOS, or gone): then it is left alone."""
    try:
        if b"redis-server" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False
        return folder is None or os.path.realpath(f"/proc/{pid}/cwd") == \
            os.path.realpath(folder)
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux ``/proc``; elsewhere an empty list)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def sweep_stale_folders(parent: str | None = None) -> list[str]:
    """Remove the ``simlab-redis-*`` folders whose owner process is dead; return their paths.

    A folder is removed only when its ``owner.pid`` names a dead process; a redis-server still
    running from it (its ``redis.pid``) is killed first when ``/proc`` shows it is one.
    Folders without an ``owner.pid``, or of a live owner, are left alone.
    """
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        owner = _read_pid(folder / "owner.pid")
        if owner is None or pid_alive(owner):
            continue
        server = _read_pid(folder / "redis.pid")
        if server and pid_alive(server) and _is_redis_server(server, folder):
            try:
                os.kill(server, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


def _quote_conf(value) -> str:
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class PrivateRedis:
    """A redis-server of our own, on loopback, without persistence unless ``config`` turns it
    on (``{"appendonly": "yes"}``, ``{"save": "1 1"}``: the files stay in its folder).

    Parameters
    ----------
    config : dict, optional
        Extra server settings, e.g. ``{"maxmemory": "10mb", "maxmemory-policy": "allkeys-lru"}``.
        ``{"requirepass": ...}`` works as ``password``.
    binary : str, optional
        The server binary; default: ``redis-server`` from the PATH.
    password : str, optional
        Start the server with ``requirepass``; :attr:`url` then carries the password and
        :meth:`client` authenticates. Shown URLs are redacted (``redis://:***@...``).

    Notes
    -----
    The settings go to the server in a ``redis.conf`` inside its private folder (mode 0700),
    never on its command line, so ``ps`` does not show a password. The folder also holds the
    log, ``redis.pid`` and ``owner.pid``; nothing is written anywhere else.

    Examples
    --------
    >>> with PrivateRedis() as server:          # doctest: +SKIP
    ...     r = server.client()
    ...     r.set("wb:hello", "world")
    """

    def __init__(self, config: dict | None = None, *, binary: str | None = None,
                 password: str | None = None):
        self.binary = binary or redis_server_binary()
        if not self.binary:
            raise RedisServerNotFound(f"No redis-server binary on the PATH: {HOW_TO_INSTALL}.")
        self.config = dict(config or {})
        if password is not None:
            if not isinstance(password, str) or not password:
                got = "an empty string" if password == "" else type(password).__name__
                raise ValueError(f"password must be a non-empty string, got {got}")
            self.config["requirepass"] = password
        self.password: str | None = self.config.get("requirepass") or None
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._guards: list = []
        self._watchdog: subprocess.Popen | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        """The server's URL, with the password when there is one (show it with ``redact``)."""
        if self.port is None:
            raise RuntimeError("the private server is not running; call start() first")
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self.running else None

    @property
    def watchdog_pid(self) -> int | None:
        return self._watchdog.pid if self._watchdog is not None else None

    @property
    def folder(self) -> str | None:
        """The server's temporary folder (config, log, pid files), removed by :meth:`stop`."""
        return self._dir

    def _write_config(self, port) -> str:
        settings = {"port": port, "bind": "127.0.0.1", "protected-mode": "yes", "save": "",
                    "appendonly": "no", "dir": self._dir, "daemonize": "no",
                    "logfile": os.path.join(self._dir, "redis.log"),
                    "pidfile": os.path.join(self._dir, "redis.pid")}
        settings.update(self.config)
        if str(settings.get("cluster-enabled", "no")).lower() == "yes" and str(
                settings.get("cluster-port", "0")) == "0":
            # The bus port is port + 10000 by default: taken, or past 65535 for a free port
            # above 55535, and then the server refuses to start. Choose it too.
            bus = free_port()
            while bus == port:
                bus = free_port()
            settings["cluster-port"] = bus
        path = os.path.join(self._dir, "redis.conf")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as conf:
            for name, value in settings.items():
                conf.write(f"{name} {_quote_conf(value)}\n")
        return path

    def start(self, timeout: float = 10.0) -> "PrivateRedis":
        """Start the server and wait until it answers PING.

        First removes the folders of owners that died without cleaning up
        (:func:`sweep_stale_folders`).
        """
        sweep_stale_folders()
        self._dir = tempfile.mkdtemp(prefix=FOLDER_PREFIX)
        Path(self._dir, "owner.pid").write_text(f"{os.getpid()}\n")
        last_error = ""
        for _ in range(3):  # another process may grab the free port first: try again
            port = free_port()
            if self._launch(port, timeout):
                self.port = port
                self._start_watchdog()
                return self
            self._kill()
            last_error = self._said()
        self._cleanup_dir()
        raise RuntimeError(f"the private redis-server ({self.binary}) did not start: "
                           f"{last_error or 'it said nothing'}. Check that `{self.binary} "
                           f"--version` runs, or put a working redis-server first on the PATH.")

    def _said(self) -> str:
        """The last thing the server wrote, on one line: its log, or what it printed before
        it had one (a bad config file, a binary that is not redis-server)."""
        for name in ("redis.log", "redis.err"):
            path = Path(self._dir, name)
            text = path.read_text(errors="replace")[-500:] if path.exists() else ""
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return " ".join(" ".join(lines[-3:]).split())
        return ""

    def _launch(self, port, timeout) -> bool:
        import redis

        # its own session: a Ctrl-C at the terminal goes to the command that uses the server
        # (simlab with-server, a notebook's kernel), not to the server under it
        with open(Path(self._dir, "redis.err"), "wb") as err:
            self._proc = subprocess.Popen([self.binary, self._write_config(port)],
                                          stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                          start_new_session=True, **child_options())
        probe = redis.Redis(host="127.0.0.1", port=port, password=self.password,
                            socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and self._proc.poll() is None:
                try:
                    # proof that the server on this port is ours, not one that got there first
                    return int(probe.info("server")["process_id"]) == self._proc.pid
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
                except redis.exceptions.ResponseError:
                    return False       # someone else's server, with a password of its own
            return False
        finally:
            probe.close()

    def _start_watchdog(self):
        script = Path(self._dir, "watchdog.py")
        script.write_text(WATCHDOG)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", str(script), str(os.getpid()), str(self._proc.pid),
             self._dir], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def _stop_watchdog(self):
        if self._watchdog is None:
            return
        try:
            self._watchdog.stdin.write(b"stop\n")
            self._watchdog.stdin.close()
        except OSError:
            pass
        # it exits at once by itself; not waiting for it saves its start-up time (subprocess
        # reaps it later)
        self._watchdog = None

    def client(self, **kwargs):
        """An instrumented redis-py client for this server, allowed to reconfigure it."""
        from .client import InstrumentedRedis

        kwargs.setdefault("decode_responses", True)
        client = InstrumentedRedis.from_url(self.url, **kwargs)
        client._simlab_claim(self)
        client.backend = (f"private redis-server {redis_server_version(self.binary)} at "
                          f"{redact(self.url)}")
        return client

    def _kill(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def _cleanup_dir(self):
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def crash(self) -> None:
        """``kill -9`` the server (and its forked children: a snapshot or rewrite in progress
        dies with it), keeping its folder and data files for :meth:`restart`.

        The watchdog stays, so the folder is still removed if the owner dies now.
        """
        if not self.running:
            raise RuntimeError("the private server is not running; nothing to crash")
        pid = self._proc.pid
        children = _children(pid)      # ours by parentage (they retitle themselves, e.g.
        os.kill(pid, signal.SIGKILL)   # redis-rdb-bgsave, so the command line cannot tell)
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        self._proc.wait(5)

    def restart(self, timeout: float = 60.0) -> "PrivateRedis":
        """Start the server again in the same folder (it loads its RDB or AOF from there), on
        the same port when it is still free. Crashes it first if it is running.

        ``timeout`` covers the start only; the data set may still be loading when this returns
        (``INFO persistence`` says ``loading:1``).
        """
        if self._dir is None:
            raise RuntimeError("the private server was never started (or was stopped); "
                               "call start() first")
        if self.running:
            self.crash()
        self._stop_watchdog()
        for port in (self.port, free_port(), free_port()):
            if port is not None and self._launch(port, timeout):
                self.port = port
                self._start_watchdog()
                return self
            self._kill()
        log = Path(self._dir, "redis.log")
        error = log.read_text()[-500:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"the private redis-server did not restart: {error.strip()}")

    def stop(self) -> None:
        """Stop the server and remove its folder.

        The folder and its data go, so nothing needs a clean shutdown: the server (and any
        snapshot child) is killed at once, not asked to stop (SIGTERM waits for the server's
        next cron tick, about 0.1 s at hz 10, a cost every experiment on a fresh server paid).
        """
        if self.running:
            self.crash()
        self._kill()
        self._stop_watchdog()
        self.port = None
        self._cleanup_dir()
        for guard in self._guards:     # its clients no longer own whatever takes the port
            if guard.server is self:
                guard.release()
        self._guards.clear()

    def owned_pids(self) -> set:
        """The processes a client owning this server may find answering: its own, while it
        runs (see :meth:`simlab.live.guard.Guard.confirm`)."""
        return {self.pid} if self.pid is not None else set()

    def _handed_out(self, guard) -> None:
        """Remember the guard of a client that owns this server (released at :meth:`stop`)."""
        self._guards.append(guard)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = f"running at {redact(self.url)}" if self.running else "stopped"
        return f"<PrivateRedis {state}>"


# running a command beside a server (simlab with-server) ---------------------------------------

def _wait_or_kill(child: subprocess.Popen, deadline: list, grace: float) -> int:
    """``child``'s exit status; SIGKILL it (its process group if it leads one) once
    ``deadline`` (set when a signal was forwarded) has passed."""
    while True:
        try:
            return child.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            if not deadline or time.monotonic() < deadline[0]:
                continue
        print(f"simlab with-server: the command did not stop within {grace:g} s of the signal; "
              "killing it (SIGKILL)", file=sys.stderr, flush=True)
        try:
            if os.getpgid(child.pid) == child.pid:
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
        except (ProcessLookupError, PermissionError):
            pass
        return child.wait()


FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_GRACE_SECONDS = 5.0   # after a forwarded signal, the command's time to exit before SIGKILL


def _terminal_sent_it() -> bool:
    """Whether a SIGINT just received came from the terminal (Ctrl-C): this process is in the
    terminal's foreground process group, which the command it runs shares, so the terminal
    sent it to the command too. Forwarding it again would make it two (Jupyter reads a second
    Ctrl-C as "shut down now"), and the command may catch it and go on."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False                   # no controlling terminal: someone ran kill -INT
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def run_forwarding_signals(command: list[str], env: dict,
                           grace: float = STOP_GRACE_SECONDS) -> int:
    """Run ``command`` and wait for it, passing SIGTERM, SIGINT and SIGHUP on to it.

    Returns its exit status, ``128 + N`` when signal N ended it (as a shell reports it).

    Nothing outlives this process: a command still running ``grace`` seconds after the first
    forwarded signal (one that ignores SIGTERM) is killed with SIGKILL (its whole process group
    if it leads one); and the command gets ``PR_SET_PDEATHSIG`` = SIGKILL on Linux, so that if
    this process is killed outright (SIGKILL, the OOM killer) the kernel kills the command
    too. SIGKILL rather than SIGTERM there: with no one left to wait out a grace period, a
    command that ignored SIGTERM would run on for good. Its own children are its business
    (simlab's servers and workers die with their owner). Must be called from the main thread
    (Python installs signal handlers only there).
    """
    children, early, deadline = [], [], []

    def forward(signum, _frame):
        if not children:
            early.append(signum)       # arrived before the command started: sent right after
        elif signum == signal.SIGINT and _terminal_sent_it():
            pass                       # the command has it already, once (and may go on)
        elif children[0].poll() is None:
            children[0].send_signal(signum)
            if not deadline:
                deadline.append(time.monotonic() + grace)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        children.append(subprocess.Popen(command, env=env, **child_options(signal.SIGKILL)))
        for signum in early:
            forward(signum, None)
        code = _wait_or_kill(children[0], deadline, grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code
