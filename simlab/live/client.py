"""Connecting to the whiteboard: fakeredis by default, a real server when ``REDIS_URL`` is set.

The client is the real redis-py client (fakeredis keeps it and fakes only the transport), with
every command timed at redis-py's one seam, ``execute_command``. Reads record hit or miss.

Safety: every client simlab hands out sends its commands through the guard of
:mod:`simlab.live.guard`, at the connection layer, so FLUSHDB, CONFIG SET, SWAPDB and the rest
are refused on a server simlab did not start, whatever the path (plain call, pipeline,
transaction, Lua script). Each learner's keys live in a namespace of their own under
:data:`PREFIX` (``wb:<name>:``, see :func:`namespace`), and :func:`cleanup` deletes only that
namespace, with SCAN. URLs are shown with their password hidden.
"""
from __future__ import annotations

import functools
import getpass
import hashlib
import os
import re
import secrets
import socket
import time

import pandas as pd
import redis

from .guard import SCRIPTS, UnsafeCommand, attach
from .urls import redact, redact_text, scrub, unknown_option, userinfo_problem

PREFIX = "wb:"
READ_COMMANDS = {"GET", "HGET", "HGETALL", "GETDEL", "GETEX", "EXISTS", "LINDEX"}

__all__ = ["PREFIX", "RedisUnavailable", "UnsafeCommand", "InstrumentedRedis", "connect",
           "guarded_client", "backend_banner", "namespace", "learner_name", "key", "cleanup",
           "cleanup_course", "check_name"]


class RedisUnavailable(ConnectionError):
    """The Redis server named by a URL did not answer, or refused our credentials."""


def _where(pool) -> str:
    """The server a pool talks to, for messages: host and port (or socket path), never a
    password."""
    return where_of(pool.connection_kwargs)


def where_of(kwargs: dict) -> str:
    """The server that connection keyword arguments name, as :func:`_where` says it."""
    if "server" in kwargs:
        return "the in-process fakeredis"
    if kwargs.get("path"):
        return f"the Redis server at {kwargs['path']}"
    return f"the Redis server at {kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


class _Instrumented:
    """Mixin: time every command; every connection goes through the guard (see
    :mod:`simlab.live.guard`), which refuses destructive commands unless the server is ours."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.__dict__["_simlab_guard"] = attach(self, _where(self.connection_pool))
        self.__dict__.setdefault("_backend", "redis")

    @property
    def owned(self) -> bool:
        """Whether simlab started this server (and so may flush or reconfigure it)."""
        return self.__dict__["_simlab_guard"].owned

    @owned.setter
    def owned(self, value: bool) -> None:
        self.__dict__["_simlab_guard"].owned = bool(value)

    def _simlab_claim(self, server) -> None:
        """Owned because simlab started ``server`` (a private server): the proof is checked on
        every new connection and withdrawn when it stops (:meth:`Guard.claim`)."""
        guard = self.__dict__["_simlab_guard"]
        guard.claim(server)
        server._handed_out(guard)

    @property
    def backend(self) -> str:
        """One line saying which backend this is (any password in it hidden)."""
        return self.__dict__.get("_backend", "redis")

    @backend.setter
    def backend(self, value: str) -> None:
        self.__dict__["_backend"] = redact_text(value)

    def register_script(self, script):
        """redis-py's ``register_script``; the text is also read by the guard, so that its
        EVALSHA can be allowed (or refused) on a server simlab did not start."""
        SCRIPTS.remember(script)
        return super().register_script(script)

    def _log(self):
        log = self.__dict__.get("_command_log")
        if log is None:
            log = self.__dict__["_command_log"] = []
            self.__dict__["_t0"] = time.perf_counter()
        return log

    def execute_command(self, *args, **options):
        words = str(args[0]).upper().split() if args else [""]
        name = " ".join(words[:2]) if len(words) > 1 else words[0]
        log = self._log()
        tic = time.perf_counter()
        result = super().execute_command(*args, **options)
        toc = time.perf_counter()
        key_name = str(args[1]) if len(args) > 1 else ""
        hit = None
        if name in READ_COMMANDS:
            hit = bool(result) if name == "EXISTS" else result not in (None, {}, [])
        log.append((tic - self.__dict__["_t0"], name, key_name, toc - tic, hit))
        return result

    def commands(self) -> pd.DataFrame:
        """Every command this client sent: ``time``, ``command``, ``key``, ``latency`` (s),
        ``hit`` (for reads)."""
        return pd.DataFrame(self._log(), columns=["time", "command", "key", "latency", "hit"])

    def reset_log(self) -> None:
        self.__dict__["_command_log"] = []
        self.__dict__["_t0"] = time.perf_counter()


class InstrumentedRedis(_Instrumented, redis.Redis):
    """redis-py's client, timed command by command, guarded connection by connection."""


@functools.lru_cache(maxsize=1)
def _fake_class():
    import fakeredis

    class InstrumentedFakeRedis(_Instrumented, fakeredis.FakeRedis):
        """fakeredis's client (the real redis-py client over a fake transport), timed and
        guarded like the real one."""

    return InstrumentedFakeRedis


_FAKE_SERVER = None


def guarded_client(url: str, *, owned: bool = False, server=None, decode_responses: bool = True,
                   **kwargs):
    """A guarded, timed redis-py client for ``url`` (no round trip made yet).

    Parameters
    ----------
    url : str
        ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL, with ``user:password@`` if the
        server needs them.
    owned : bool
        True only for a server simlab started itself (then it may be flushed and reconfigured).
    server : PrivateRedis, optional
        The private server ``url`` is, which simlab started: the client owns it for as long
        as that process answers on the connection (checked on every new connection).
    """
    client = InstrumentedRedis.from_url(url, decode_responses=decode_responses, **kwargs)
    client.owned = owned
    if server is not None:
        client._simlab_claim(server)
    client.backend = f"Redis at {url}"
    return client


def _reason(exc: BaseException, url: str) -> str:
    """The exception's text as one clause: no URL or password in it, no full stops."""
    text = " ".join(scrub(exc, url).split())
    return re.sub(r"\.(\s+|$)", lambda m: "; " if m.group(1) else "", text).rstrip("; ")


def _unavailable(exc: BaseException, url: str) -> RedisUnavailable:
    shown, reason = redact(url), _reason(exc, url)
    if isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in str(exc) \
            or "WRONGPASS" in str(exc):
        text = (f"The Redis server at {shown} refused the credentials ({reason}); check the "
                "user name and password in REDIS_URL, or unset REDIS_URL to use the "
                "in-process fakeredis.")
    elif url.lower().startswith("rediss:") and not isinstance(exc, ValueError) \
            and "refused" not in reason.lower():
        text = (f"The server at {shown} did not complete a TLS handshake ({reason}); use "
                "redis:// if it does not speak TLS, or check that its certificate is trusted "
                "(add ssl_ca_certs=<path of its CA file> to the URL).")
    elif isinstance(exc, ValueError):
        text = (f"{shown} is not a Redis URL simlab can use ({reason}); write it as "
                "redis://[user:password@]host:port/db, or unset REDIS_URL to use the "
                "in-process fakeredis.")
    else:
        text = (f"No Redis server answered at {shown} ({reason}); start one there, point "
                "REDIS_URL at a running server, or unset REDIS_URL to use the in-process "
                "fakeredis.")
    return RedisUnavailable(text)


def connect(url: str | None = None, *, decode_responses: bool = True):
    """The whiteboard for this session.

    Parameters
    ----------
    url : str, optional
        A Redis URL such as ``redis://localhost:6379/0``, ``redis://user:password@host:6379/0``
        (an ACL user) or ``rediss://host:6380/0`` (TLS). Default: ``REDIS_URL`` from the
        environment; if that is unset too, fakeredis in-process (no server needed).

    Returns
    -------
    client
        A redis-py client with ``backend`` (one line saying which backend this is, password
        hidden), ``commands()`` (the timed command log) and ``owned`` (whether simlab may
        reconfigure the server: False here; True only for :class:`PrivateRedis` clients).

    Raises
    ------
    RedisUnavailable
        If the server at ``url`` does not answer PING, or refuses the credentials; the message
        is one sentence (password hidden) that says what to do.
    """
    global _FAKE_SERVER
    if url is not None and not isinstance(url, str):
        raise TypeError(f"url must be a Redis URL string (redis://, rediss://, unix:// or "
                        f"model://) or None, got {type(url).__name__}")
    url = url or os.environ.get("REDIS_URL") or None
    if url is not None and url.lower().startswith("model:"):
        from .model_server import model_client   # simlab's Redis model behind fakeredis
        return model_client(url, _fake_class(), decode_responses=decode_responses)
    if url is None:
        import fakeredis

        if _FAKE_SERVER is None:
            _FAKE_SERVER = fakeredis.FakeServer()
        client = _fake_class()(server=_FAKE_SERVER, decode_responses=decode_responses)
        client.backend = (f"fakeredis {fakeredis.__version__} (in-process, no server needed; "
                          "set REDIS_URL to use a real Redis)")
        return client
    from .._validate import check_redis_url, database_error
    problem = userinfo_problem(url)       # before any parser quotes a piece of the password
    if problem:
        raise ValueError(f"REDIS_URL: {problem}.")
    check_redis_url(url)        # a malformed URL or database: one line, before any connection
    try:
        client = guarded_client(url, decode_responses=decode_responses,
                                socket_connect_timeout=2, socket_timeout=5)
        client.ping()
        try:
            version = client.info("server").get("redis_version", "?")
        except redis.exceptions.ResponseError:      # an ACL user without INFO
            version = "?"
    except redis.exceptions.ResponseError as exc:
        if "DB index" in str(exc):              # /99 on a server with 16 databases
            raise RedisUnavailable(database_error(url, exc)) from None
        raise _unavailable(exc, url) from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ValueError,
            OSError) as exc:
        raise _unavailable(exc, url) from None
    except TypeError as exc:                    # ?sockettimeout=5: an option redis-py lacks
        problem = unknown_option(exc)
        if problem is None:
            raise
        raise ValueError(f"REDIS_URL: {problem}.") from None
    client.backend = f"Redis {version} at {url}"
    return client


def backend_banner(client=None, room=None) -> str:
    """One or two lines a notebook shows: which whiteboard and which filing room (passwords
    hidden, since notebook outputs are saved and shared)."""
    client = client if client is not None else connect()
    lines = [f"Whiteboard:   {redact_text(client.backend)}"]
    if room is not None:
        lines.append(f"Filing room:  {redact_text(room.backend)}")
    return "\n".join(lines)


# --- one namespace per learner -------------------------------------------------------------

_NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")


@functools.lru_cache(maxsize=1)
def _machine_learner() -> str:
    """``user.host`` from the operating system, in the allowed characters (with a short hash
    when something had to be changed or cut); random for this process if neither is known."""
    try:
        user = getpass.getuser()
    except Exception:               # no login name at all (some containers)
        user = ""
    host = socket.gethostname().split(".")[0]
    if not user or not host:
        return f"anon-{secrets.token_hex(4)}"
    raw = f"{user}.{host}"
    if _NAME_RULE.fullmatch(raw):
        return raw
    digest = hashlib.sha1(raw.encode()).hexdigest()[:6]
    return f"{_clean(user)[:12] or 'user'}.{_clean(host)[:12] or 'host'}-{digest}"


def check_name(parameter: str, value) -> str:
    """``value`` if it is a name that may go into a key (1 to 32 letters, digits, ``.``, ``_``
    or ``-``, starting with a letter or digit: no glob characters, no ``:``); else ValueError
    naming ``parameter``."""
    if not isinstance(value, str) or not _NAME_RULE.fullmatch(value):
        raise ValueError(
            f"{parameter} must be 1 to 32 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit (it becomes part of key names and SCAN patterns), got {value!r}")
    return value


def learner_name() -> str:
    """Whose keys these are: ``WHITEBOARD_USER`` if set, else the OS user and host (``ada.lab1``),
    else a random name for this kernel.

    Raises
    ------
    ValueError
        If ``WHITEBOARD_USER`` is not 1 to 32 letters, digits, ``.``, ``_`` or ``-`` (starting
        with a letter or digit): it becomes part of every key name and of SCAN patterns.
    """
    chosen = os.environ.get("WHITEBOARD_USER", "")
    if not chosen:
        return _machine_learner()
    if not _NAME_RULE.fullmatch(chosen):
        raise ValueError(
            "WHITEBOARD_USER must be 1 to 32 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit (it names your keys, wb:<name>:...), got {chosen!r}")
    return chosen


def namespace() -> str:
    """This learner's part of the course prefix: ``"wb:<name>:"``."""
    return f"{PREFIX}{learner_name()}:"


def key(*parts) -> str:
    """A course key in this learner's namespace: ``key("user", 42)`` gives
    ``"wb:<name>:user:42"`` (``<name>`` from :func:`learner_name`)."""
    return namespace() + ":".join(str(p) for p in parts)


def glob_escape(text: str) -> str:
    """``text`` as a SCAN/KEYS pattern that matches only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def cleanup(client, prefix: str | None = None) -> int:
    """Delete every key under ``prefix`` (default: this learner's namespace, ``wb:<name>:``)
    with SCAN, never KEYS or FLUSHDB; return how many.

    Other learners' keys on a shared server are never touched: ``prefix`` must be this
    learner's namespace or a prefix under it (``wb:<name>:queue:``). An instructor who wants
    every learner's keys gone calls :func:`cleanup_course`.
    """
    own = namespace()
    prefix = own if prefix is None else prefix
    if not isinstance(prefix, str) or not prefix.startswith(own):
        raise ValueError(f"prefix must be your own namespace {own!r} or start with it (simlab "
                         "deletes only your own keys; an instructor clearing every learner's "
                         f"keys uses simlab.live.client.cleanup_course(r, confirm={_CONFIRM!r})), "
                         f"got {prefix!r}")
    return _delete_matching(client, prefix)


_CONFIRM = "all learners"


def cleanup_course(client, *, confirm: str) -> int:
    """Delete every learner's course keys (everything under ``wb:``) with SCAN; return how many.

    For an instructor resetting a shared server. ``confirm`` must be ``"all learners"``:
    nothing outside ``wb:`` is touched, but every learner's keys under it are.
    """
    if confirm != _CONFIRM:
        raise ValueError(f"confirm must be {_CONFIRM!r} to delete every learner's keys under "
                         f"{PREFIX!r}, got {confirm!r}; to delete only yours use "
                         "simlab.cleanup(r)")
    return _delete_matching(client, PREFIX)


def _delete_matching(client, prefix: str) -> int:
    deleted = 0
    batch = []
    for name in client.scan_iter(match=glob_escape(prefix) + "*", count=500):
        batch.append(name)
        if len(batch) >= 500:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted
