r"""The guard: commands that wipe, reconfigure or stop a server, refused where simlab may not.

Every command redis-py sends is packed by its connection's command packer: plain calls,
pipelines, MULTI/EXEC transactions, pub/sub, scripts and health checks alike. simlab's clients
use a connection class (:func:`guarded_class`) whose packer checks each command before it is
packed, so there is no path around the check short of replacing the connection class. Bytes
handed to ``send_packed_command`` by hand are parsed as RESP and checked too.

On a server simlab did not start (``owned`` false) these are refused with :class:`UnsafeCommand`:
``SWAPDB``, ``FLUSHALL``, ``FLUSHDB``, ``CONFIG SET|RESETSTAT|REWRITE``, ``SHUTDOWN``,
``DEBUG``, ``REPLICAOF``/``SLAVEOF``, ``FAILOVER``, ``MIGRATE``, ``MODULE``, ``SYNC``/``PSYNC``,
``SAVE``, ``BGSAVE``, ``BGREWRITEAOF`` (a fork and a disk write on someone else's machine),
``CLIENT PAUSE|KILL|UNBLOCK`` (they freeze or cut other people's connections),
``ACL SETUSER|DELUSER|LOAD|SAVE``, ``SCRIPT FLUSH|KILL``, ``FUNCTION FLUSH|DELETE|RESTORE|KILL``
and ``FUNCTION LOAD REPLACE`` (both replace functions someone else may rely on; a plain
``FUNCTION LOAD`` only adds a library, and its code is checked like a script's),
``SLOWLOG RESET``, ``LATENCY RESET`` (they erase what others diagnose with) and the ``CLUSTER``
sub-commands that change a cluster. Allowed on purpose: ``MEMORY PURGE`` (returns free
allocator pages, loses nothing), ``CLIENT NO-EVICT``/``REPLY``/``SETNAME`` (this connection
only), and every read.

Scripts are read before they are sent. ``EVAL``/``EVAL_RO``, ``SCRIPT LOAD`` and ``FUNCTION
LOAD`` texts are scanned; ``EVALSHA``/``EVALSHA_RO`` pass only for a script whose text simlab
has seen (through ``register_script``, ``SCRIPT LOAD`` or ``EVAL``) and found safe (a SHA1 names
one text). ``FCALL``/``FCALL_RO`` pass only after the function's code, read back from the server
with ``FUNCTION LIST WITHCODE`` at the moment of the call, passes the scan: what is checked is
what the server holds, not what a (possibly refused) ``FUNCTION LOAD`` sent. The scan accepts
``redis.call``/``redis.pcall`` whose command (and sub-command, for CONFIG, ACL, SCRIPT,
FUNCTION...) is a plain string literal not on the list, and the harmless ``redis.*`` helpers; it
refuses any other use of ``redis`` (an alias such as ``local c = redis.call``), a command built
at run time, and the ways out of the sandbox (``_G``, ``getfenv``, ``loadstring``, ``load``,
``debug``...). The script is read by a lexer that follows Redis's Lua 5.1 (a ``--`` comment
ends at ``\n`` or ``\r``; ``\r\n`` and ``\n\r`` are one line end; ``\x`` and ``\z`` are no
escapes in 5.1; long brackets ``[==[ ]==]`` do not nest; a ``#!`` first line is Redis's
shebang); and to be safe it refuses a script with a bare ``\r``, a form feed, a vertical tab or
any other control character outside string literals, or a byte outside ASCII in code.

The guard is not a data fence. It stops what wipes, reconfigures, stops or freezes a server;
ordinary data commands pass, and they can touch keys outside the course's ``wb:`` prefix
(``DEL``, ``RENAME``, ``COPY ... REPLACE``, ``SORT ... STORE``, ``SET`` on any name). The
course's own helpers keep to the learner's namespace (``simlab.key``, ``simlab.cleanup``); to
keep a user away from other keys, give them an ACL user limited to ``~wb:<name>:*``.
"""
from __future__ import annotations

import hashlib
import re


class UnsafeCommand(PermissionError):
    """A destructive command aimed at a server simlab did not start."""


REFUSED = frozenset({"SWAPDB", "FLUSHALL", "FLUSHDB", "SHUTDOWN", "DEBUG", "REPLICAOF",
                     "SLAVEOF", "FAILOVER", "MIGRATE", "MODULE", "SAVE", "BGSAVE",
                     "BGREWRITEAOF", "SYNC", "PSYNC"})
REFUSED_SUBCOMMANDS = {
    "CONFIG": frozenset({"SET", "RESETSTAT", "REWRITE"}),
    "ACL": frozenset({"SETUSER", "DELUSER", "LOAD", "SAVE"}),
    "SCRIPT": frozenset({"FLUSH", "KILL"}),
    "FUNCTION": frozenset({"FLUSH", "DELETE", "RESTORE", "KILL"}),
    "CLIENT": frozenset({"PAUSE", "KILL", "UNBLOCK"}),
    "SLOWLOG": frozenset({"RESET"}),
    "LATENCY": frozenset({"RESET"}),
    "CLUSTER": frozenset({"RESET", "FAILOVER", "FORGET", "MEET", "ADDSLOTS", "ADDSLOTSRANGE",
                          "DELSLOTS", "DELSLOTSRANGE", "FLUSHSLOTS", "SETSLOT", "REPLICATE",
                          "SAVECONFIG", "SET-CONFIG-EPOCH", "BUMPEPOCH"}),
}
_SCRIPT_COMMANDS = frozenset({"EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO",
                              "SCRIPT", "FUNCTION"})
_WATCHED = REFUSED | frozenset(REFUSED_SUBCOMMANDS) | _SCRIPT_COMMANDS

ADVICE = ("To delete your own course keys use simlab.cleanup(r); for experiments that flush, "
          "reconfigure or stop a server use simlab.PrivateRedis(), a server of your own.")


def _text(arg) -> str:
    """One command argument as text (bytes read as Latin-1, so every byte survives)."""
    if isinstance(arg, str):
        return arg
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return bytes(arg).decode("latin-1")
    return str(arg)


def command_words(args) -> list:
    """The arguments as the server receives them: a first argument with spaces in it
    (``"FLUSHDB ASYNC"``, ``b"config set"``) is split, as redis-py's packer splits it."""
    if not args:
        return []
    first = args[0]
    if isinstance(first, (bytes, bytearray, memoryview)):
        first = bytes(first)
    if isinstance(first, (str, bytes)):
        return list(first.split()) + list(args[1:])
    return list(args)


def refused_name(words) -> str | None:
    """``"FLUSHDB"``, ``"CONFIG SET"``... if the command ``words`` is on the list, else None."""
    if not words:
        return None
    name = _text(words[0]).upper()
    if name in REFUSED:
        return name
    subs = REFUSED_SUBCOMMANDS.get(name)
    if subs is not None and len(words) > 1:
        sub = _text(words[1]).upper()
        if sub in subs:
            return f"{name} {sub}"
        if name == "FUNCTION" and sub == "LOAD" and any(
                _text(w).upper() == "REPLACE" for w in words[2:-1]):
            return "FUNCTION LOAD REPLACE"
    return None


# --- reading Lua ---------------------------------------------------------------------------
#
# A lexer that follows Redis's Lua 5.1 (llex.c) where it matters for finding code: a ``--``
# comment ends at "\n" or "\r"; "\r\n" and "\n\r" are one line end; a short string may not
# span a raw line end, and a backslash takes the next character (a line end, "\r\n" or
# "\n\r" as one) or up to three digits; ``\x`` and ``\z`` are not escapes in 5.1 (just the
# letter); a long bracket ``[==[`` ends at the first ``]==]`` (Redis's build does not nest
# ``[[``); the first line of a script starting with ``#!`` is Redis's shebang, not Lua.
# To be safe, any control character other than tab, "\n" and "\r\n" outside string literals
# (in code or comments), and any byte outside ASCII in code, makes the script unreadable.

_SANDBOX_ESCAPES = frozenset({
    "_G", "_ENV", "getfenv", "setfenv", "loadstring", "load", "loadfile", "dofile", "require",
    "rawget", "rawset", "debug", "module", "package", "newproxy"})
_HARMLESS = frozenset({
    "log", "status_reply", "error_reply", "sha1hex", "setresp", "set_repl",
    "replicate_commands", "breakpoint", "debug", "register_function", "acl_check_cmd",
    "REDIS_VERSION", "REDIS_VERSION_NUM", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE",
    "LOG_WARNING", "REPL_ALL", "REPL_AOF", "REPL_REPLICA", "REPL_SLAVE", "REPL_NONE"})
# commands Redis never runs inside a script (flag noscript); refused there all the same
_NOT_IN_SCRIPTS = frozenset({"EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO",
                             "SCRIPT", "FUNCTION"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9.]*(?:[Ee][+-]?)?[A-Za-z0-9_]*")
_OPERATORS = ("...", "..", "==", "~=", "<=", ">=")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


class _Unreadable(ValueError):
    """Lua simlab's reader does not follow (or that Redis's Lua would not compile)."""


def _bracket_level(text: str, pos: int) -> int:
    """Lua's ``skip_sep`` at ``text[pos]`` (a ``[`` or ``]``): the number of ``=`` if a
    second bracket follows them, else ``-(that number) - 1``."""
    end = pos + 1
    while end < len(text) and text[end] == "=":
        end += 1
    count = end - pos - 1
    return count if end < len(text) and text[end] == text[pos] else -count - 1


def _long_bracket(text: str, pos: int, level: int, what: str):
    """The body of the long string or comment whose ``[=*[`` starts at ``pos``, and the
    position after its ``]=*]``."""
    start = pos + level + 2
    end = text.find("]" + "=" * level + "]", start)
    if end < 0:
        raise _Unreadable(f"an unfinished long {what}")
    body = text[start:end]
    if body[:2] in ("\r\n", "\n\r"):               # the first line end is skipped, as Lua does
        body = body[2:]
    elif body[:1] in ("\r", "\n"):
        body = body[1:]
    return body, end + level + 2


def _short_string(text: str, pos: int):
    """A quoted string starting at ``pos``: its value (None if it has an escape, which could
    spell anything) and the position after its closing quote."""
    quote, i, n, escaped = text[pos], pos + 1, len(text), False
    while i < n and text[i] != quote:
        char = text[i]
        if char in "\r\n":
            raise _Unreadable("a string that runs past the end of its line")
        if char == "\\":
            escaped, i = True, i + 1
            if i < n and text[i] in "\r\n":
                pair = text[i:i + 2]
                i += 2 if pair in ("\r\n", "\n\r") else 1
                continue
        i += 1
    if i >= n:
        raise _Unreadable("an unfinished string")
    return (None if escaped else text[pos + 1:i]), i + 1


def lua_tokens(text: str) -> list:
    """The tokens of a Lua script as Redis's Lua 5.1 reads them: ``("name", "redis")``,
    ``("string", "GET")`` (value None if it has escapes), ``("op", ".")``,
    ``("number", "1")``; comments and white space dropped.

    Raises
    ------
    ValueError
        For anything simlab will not vouch for (see the comment above).
    """
    tokens, i, n = [], 0, len(text)
    if text.startswith("#!"):                       # Redis's shebang line (#!lua flags=...)
        end = text.find("\n")
        end = n if end < 0 else end
        if _CONTROL.search(text[:end].removesuffix("\r")):
            raise _Unreadable("a control character in the #! line")
        i = end
    while i < n:
        char = text[i]
        if char in " \t\n":
            i += 1
        elif char == "\r":
            if text[i + 1:i + 2] != "\n":
                raise _Unreadable("a carriage return not followed by a line feed")
            i += 2
        elif text.startswith("--", i):
            i = _comment(text, i + 2)
        elif char == "[" and _bracket_level(text, i) >= 0:
            body, i = _long_bracket(text, i, _bracket_level(text, i), "string")
            tokens.append(("string", body))
        elif char == "[" and _bracket_level(text, i) < -1:
            raise _Unreadable("an invalid long string delimiter")
        elif char in "\"'":
            value, i = _short_string(text, i)
            tokens.append(("string", value))
        elif char.isascii() and (char.isalpha() or char == "_"):
            word = _NAME.match(text, i).group()
            tokens.append(("name", word))
            i += len(word)
        elif char.isascii() and (char.isdigit() or (char == "." and
                                                    text[i + 1:i + 2].isdigit())):
            number = _NUMBER.match(text, i).group()
            tokens.append(("number", number))
            i += len(number)
        elif " " < char < "\x7f":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), char)
            tokens.append(("op", op))
            i += len(op)
        else:
            raise _Unreadable(f"the character {char!r} outside a string")
    return tokens


def _comment(text: str, pos: int) -> int:
    """Skip the comment whose ``--`` ends at ``pos``; return the position after it."""
    if text.startswith("[", pos):
        level = _bracket_level(text, pos)
        if level >= 0:
            body, end = _long_bracket(text, pos, level, "comment")
            if _CONTROL.search(body):
                raise _Unreadable("a control character in a comment")
            return end
    ends = [p for p in (text.find("\n", pos), text.find("\r", pos)) if p >= 0]
    end = min(ends) if ends else len(text)          # Lua ends a -- comment at \n or \r
    if _CONTROL.search(text, pos, end):
        raise _Unreadable("a control character in a comment")
    return end


def _is(token, kind: str, value=None) -> bool:
    return token is not None and token[0] == kind and (value is None or token[1] == value)


def _call_problem(tokens: list, at: int) -> str | None:
    """Check the ``redis.call``/``redis.pcall`` whose arguments start at ``tokens[at]``."""
    get = lambda k: tokens[k] if k < len(tokens) else None     # noqa: E731
    if _is(get(at), "string"):                      # redis.call'PING': one argument
        words, after = [get(at)[1]], None
    elif _is(get(at), "op", "(") and _is(get(at + 1), "string") and (
            _is(get(at + 2), "op", ",") or _is(get(at + 2), "op", ")")):
        words, after = [get(at + 1)[1]], at + 3 if _is(get(at + 2), "op", ",") else None
    else:
        return "a redis.call whose command is not a plain string (simlab could not check it)"
    if words[0] is None:
        return "a redis.call whose command string has escapes (simlab could not check it)"
    words = words[0].split()
    name = words[0].upper() if words else ""
    if name in _NOT_IN_SCRIPTS:
        return f"a call of {name} inside a script"
    if name in REFUSED_SUBCOMMANDS and len(words) < 2:
        sub = get(after) if after is not None else None
        if not (_is(sub, "string") and sub[1] is not None and (
                _is(get(after + 1), "op", ",") or _is(get(after + 1), "op", ")"))):
            return (f"a redis.call('{name}', ...) whose sub-command is not a plain string "
                    "(simlab could not check it)")
        words.append(sub[1])
    refused = refused_name(words)
    return f"a call of {refused}" if refused else None


def script_problem(text) -> str | None:
    """Why a Lua script (or function library) could wipe or reconfigure a server; None if it
    cannot. See the module's docstring for the rules."""
    try:
        tokens = lua_tokens(_text(text))
    except _Unreadable as exc:
        return f"{exc} (simlab could not check it)"
    for i, (kind, value) in enumerate(tokens):
        if kind != "name" or (i and tokens[i - 1] in (("op", "."), ("op", ":"))):
            continue                                # not a name, or a field of something
        if value in _SANDBOX_ESCAPES:
            return f"'{value}', a way around the checks simlab makes"
        if value != "redis":
            continue
        if not (i + 2 < len(tokens) and tokens[i + 1] == ("op", ".")
                and tokens[i + 2][0] == "name"):
            return "'redis' used other than as redis.call(...) (simlab could not check it)"
        member = tokens[i + 2][1]
        if member in ("call", "pcall"):
            problem = _call_problem(tokens, i + 3)
            if problem:
                return problem
        elif member not in _HARMLESS:
            return f"redis.{member} (simlab could not check it)"
    return None


def script_sha(text) -> str:
    """The SHA1 Redis gives a script (of its UTF-8 bytes)."""
    data = text if isinstance(text, bytes) else _text(text).encode("utf-8")
    return hashlib.sha1(data).hexdigest()


class _Scripts:
    """Verdicts on every script text simlab has seen, by SHA1. A SHA1 names one text, so a
    verdict on it holds whoever loaded the script (EVALSHA runs exactly that text)."""

    def __init__(self):
        self.by_sha: dict = {}

    def remember(self, text) -> str | None:
        sha = script_sha(text)
        if sha not in self.by_sha:
            self.by_sha[sha] = script_problem(text)
        return self.by_sha[sha]


SCRIPTS = _Scripts()


def _fields(entry) -> dict:
    """One entry of FUNCTION LIST (a dict, or RESP2's flat list) with text keys."""
    if not isinstance(entry, dict):
        entry = dict(zip(entry[::2], entry[1::2]))
    return {_text(k): v for k, v in entry.items()}


def function_libraries(reply, function: str) -> list:
    """The code of every library in a ``FUNCTION LIST WITHCODE`` ``reply`` that registers
    ``function`` (function names compared without regard to case)."""
    codes = []
    for library in reply or []:
        fields = _fields(library)
        names = [_text(_fields(f).get("name", "")) for f in fields.get("functions") or []]
        if any(n.lower() == function.lower() for n in names):
            codes.append(fields.get("library_code") or "")
    return codes


# --- the check -----------------------------------------------------------------------------

class Guard:
    """What a connection may send: everything if ``owned``, else nothing on the list.

    One guard is shared by every connection of a client's pool; ``where`` names the server
    in messages (host and port, never a password).
    """

    __slots__ = ("owned", "where", "pool", "server")

    def __init__(self, owned: bool = False, where: str = "this server", pool=None):
        self.owned = bool(owned)
        self.where = where
        self.pool = pool            # where FCALL reads a function's code back from
        self.server = None          # the private server an owned guard was given for

    def claim(self, server) -> None:
        """Own the server behind this guard because simlab started it: ``server`` (a
        :class:`~simlab.live.server.PrivateRedis` or a private cluster, anything with
        ``owned_pids()``) is the proof, checked again on every new connection
        (:meth:`confirm`) and withdrawn when it stops (:meth:`release`)."""
        self.owned, self.server = True, server

    def release(self) -> None:
        """The private server is gone for good: from now on this is a foreign server."""
        self.owned, self.server = False, None

    def confirm(self, connection) -> None:
        """On a new connection of a guard owned through a private server: the server that
        answers must be that server's process (``INFO server``'s ``process_id``). A port
        that a stopped server left and another server took, or the old port of a server
        restarted elsewhere, answers with another process: the guard then releases it, and
        the destructive commands are refused there like on any foreign server."""
        server = self.server
        if not self.owned or server is None:
            return
        pids = server.owned_pids()
        if pids:
            connection.send_command("INFO", "server")      # never refused: a read
            reply = connection.read_response()
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            found = re.search(r"^process_id:(\d+)", text, re.MULTILINE)
            if found is not None and int(found.group(1)) in pids:
                return
        self.release()

    def __repr__(self):
        return f"<simlab Guard {'owned' if self.owned else 'foreign'} {self.where}>"

    def check(self, args) -> None:
        """Raise :class:`UnsafeCommand` if the command ``args`` may not be sent."""
        if self.owned or not args:
            return
        first = args[0]
        if isinstance(first, str) and first.isidentifier() and first.upper() not in _WATCHED:
            return                                 # the common case, decided at once
        words = command_words(args)
        refused = refused_name(words)
        if refused:
            self._refuse(refused)
        self._check_script(words)

    def _check_script(self, words) -> None:
        name = _text(words[0]).upper() if words else ""
        sub = _text(words[1]).upper() if len(words) > 1 else ""
        if name in ("EVAL", "EVAL_RO") and len(words) > 1:
            problem = SCRIPTS.remember(words[1])
        elif name == "SCRIPT" and sub == "LOAD" and len(words) > 2:
            problem = SCRIPTS.remember(words[2])
        elif name == "FUNCTION" and sub == "LOAD" and len(words) > 2:
            problem = SCRIPTS.remember(words[-1])       # checked; FCALL reads it back anyway
        elif name in ("EVALSHA", "EVALSHA_RO") and len(words) > 1:
            sha = _text(words[1]).lower()
            if sha not in SCRIPTS.by_sha:
                raise UnsafeCommand(
                    f"simlab refuses {name} {sha[:12]}... on {self.where}: it has not seen "
                    "that script's text, and simlab did not start that server. Load scripts "
                    "through this client (r.register_script(text)) so simlab can read them "
                    "first.")
            problem = SCRIPTS.by_sha[sha]
        elif name in ("FCALL", "FCALL_RO") and len(words) > 1:
            problem = self._function_problem(name, _text(words[1]))
        else:
            return
        if problem:
            self._refuse(f"{name} of a script with {problem}")

    def _function_problem(self, name: str, function: str) -> str | None:
        """Read the code of ``function`` back from the server (``FUNCTION LIST WITHCODE``,
        on another connection of the pool) and check it: what runs is what the server holds
        now, whoever loaded it and whatever a refused ``FUNCTION LOAD`` claimed."""
        codes = None
        if self.pool is not None:
            import redis

            try:
                reply = redis.Redis(connection_pool=self.pool).execute_command(
                    "FUNCTION", "LIST", "WITHCODE")
                codes = function_libraries(reply, function)
            except (redis.exceptions.RedisError, TypeError, ValueError, AttributeError):
                codes = None
        if not codes:
            raise UnsafeCommand(
                f"simlab refuses {name} {function} on {self.where}: simlab could not read "
                "that function's code from the server (FUNCTION LIST WITHCODE), and simlab "
                "did not start that server. Load the library with r.function_load(code) and "
                "call a function it registers.")
        problems = [SCRIPTS.remember(code) for code in codes]
        return next((p for p in problems if p), None)

    def _refuse(self, what: str):
        raise UnsafeCommand(f"simlab refuses {what} on {self.where}: simlab did not start that "
                            f"server, so its data and settings may be someone else's. {ADVICE}")

    def check_raw(self, packed) -> None:
        """Check bytes packed by hand (RESP arrays); anything unreadable is refused."""
        if self.owned:
            return
        if isinstance(packed, (str, bytes, bytearray, memoryview)):
            packed = [packed]
        data = b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in packed)
        commands = parse_resp(data)
        if commands is None:
            self._refuse("bytes that are not RESP commands it can read")
        for words in commands:
            self.check(words)


def parse_resp(data: bytes) -> list | None:
    """The commands in RESP-encoded ``data`` (arrays of bulk strings), or None if it is
    anything else (inline commands, partial or malformed data)."""
    commands, pos = [], 0
    try:
        while pos < len(data):
            if data[pos:pos + 1] != b"*":
                return None
            end = data.index(b"\r\n", pos)
            count, pos = int(data[pos + 1:end]), end + 2
            words = []
            for _ in range(count):
                if data[pos:pos + 1] != b"$":
                    return None
                end = data.index(b"\r\n", pos)
                size, pos = int(data[pos + 1:end]), end + 2
                if size < 0 or data[pos + size:pos + size + 2] != b"\r\n":
                    return None
                words.append(data[pos:pos + size])
                pos += size + 2
            commands.append(words)
    except ValueError:
        return None
    return commands


# --- the connection classes ----------------------------------------------------------------

class _Checked(list):
    """Packed output that went through a guard: ``send_packed_command`` trusts it when that
    guard is its own connection's (bytes packed where simlab may do anything, a private
    server's or model://'s connection, are checked again on any other)."""

    __slots__ = ("guard",)

    def __init__(self, packed, guard: Guard):
        super().__init__(packed)
        self.guard = guard


class _GuardedPacker:
    def __init__(self, packer, guard: Guard):
        self._packer, self._guard = packer, guard

    def pack(self, *args):
        self._guard.check(args)
        return _Checked(self._packer.pack(*args), self._guard)


class GuardedConnectionMixin:
    """Put in front of a redis-py connection class: every command passes :class:`Guard`."""

    def __init__(self, *args, simlab_guard: Guard | None = None, **kwargs):
        self.simlab_guard = simlab_guard if simlab_guard is not None else Guard()
        super().__init__(*args, **kwargs)

    def _construct_command_packer(self, packer):
        return _GuardedPacker(super()._construct_command_packer(packer), self.simlab_guard)

    def on_connect_check_health(self, check_health: bool = True):
        super().on_connect_check_health(check_health)
        self.simlab_guard.confirm(self)

    def pack_commands(self, commands):
        # each command went through this connection's packer, so through its guard
        return _Checked(super().pack_commands(commands), self.simlab_guard)

    def send_packed_command(self, command, check_health=True):
        if not (isinstance(command, _Checked) and command.guard is self.simlab_guard):
            self.simlab_guard.check_raw(command)
        return super().send_packed_command(command, check_health)


_CLASSES: dict = {}


def guarded_class(base: type) -> type:
    """``base`` (a redis-py or fakeredis connection class) with the guard in front."""
    if issubclass(base, GuardedConnectionMixin):
        return base
    if base not in _CLASSES:
        _CLASSES[base] = type(f"Guarded{base.__name__}", (GuardedConnectionMixin, base), {})
    return _CLASSES[base]


def attach(client, where: str) -> Guard:
    """Give ``client``'s pool the guarded connection class (foreign until told otherwise);
    a pool that already has a guard keeps it. Returns the guard."""
    pool = client.connection_pool
    guard = pool.connection_kwargs.get("simlab_guard")
    if guard is None:
        if getattr(client, "connection", None) is not None:
            raise ValueError("simlab cannot guard a single-connection client; use a pool")
        guard = Guard(owned=False, where=where, pool=pool)
        pool.connection_class = guarded_class(pool.connection_class)
        pool.connection_kwargs["simlab_guard"] = guard
        pool.reset()               # a connection made before now had no guard
    return guard
