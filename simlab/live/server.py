"""A private redis-server: started on a free loopback port in a temporary folder, then stopped.

simlab may reconfigure or flush only servers it started itself (``owned``). Tests use this
for their real runs; later lessons use it for destructive experiments (maxmemory, restarts).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` binary on the PATH."""


HOW_TO_INSTALL = ("install one (Debian/Ubuntu: apt install redis-server; macOS: brew install "
                  "redis; conda: conda install -c conda-forge redis-server); the simulation and "
                  "fakeredis work without it")


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


class PrivateRedis:
    """A redis-server of our own, on loopback, without persistence.

    Parameters
    ----------
    config : dict, optional
        Extra server settings, e.g. ``{"maxmemory": "10mb", "maxmemory-policy": "allkeys-lru"}``.
    binary : str, optional
        The server binary; default: ``redis-server`` from the PATH.

    Examples
    --------
    >>> with PrivateRedis() as server:          # doctest: +SKIP
    ...     r = server.client()
    ...     r.set("wb:hello", "world")
    """

    def __init__(self, config: dict | None = None, *, binary: str | None = None):
        self.binary = binary or redis_server_binary()
        if not self.binary:
            raise RedisServerNotFound(f"No redis-server binary on the PATH: {HOW_TO_INSTALL}.")
        self.config = dict(config or {})
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the private server is not running; call start() first")
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self, port):
        args = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self._dir, "--daemonize", "no",
                "--logfile", os.path.join(self._dir, "redis.log"), "--protected-mode", "yes"]
        for name, value in self.config.items():
            args += [f"--{name}", str(value)]
        return args

    def start(self, timeout: float = 10.0) -> "PrivateRedis":
        """Start the server and wait until it answers PING."""
        import redis

        self._dir = tempfile.mkdtemp(prefix="simlab-redis-")
        last_error = ""
        for _ in range(3):  # another process may grab the free port first: try again
            port = free_port()
            self._proc = subprocess.Popen(self._args(port), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                try:
                    redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
                    self.port = port
                    return self
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            self._kill()
            log = Path(self._dir, "redis.log")
            last_error = log.read_text()[-500:] if log.exists() else ""
        self._cleanup_dir()
        raise RuntimeError(f"the private redis-server did not start: {last_error.strip()}")

    def client(self, **kwargs):
        """An instrumented redis-py client for this server, allowed to reconfigure it."""
        from .client import InstrumentedRedis

        kwargs.setdefault("decode_responses", True)
        client = InstrumentedRedis.from_url(self.url, **kwargs)
        client.owned = True
        client.backend = f"private redis-server {redis_server_version(self.binary)} at {self.url}"
        return client

    def _kill(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def _cleanup_dir(self):
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self._kill()
        self.port = None
        self._cleanup_dir()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<PrivateRedis {state}>"
