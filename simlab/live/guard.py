"""The guard: commands that wipe, reconfigure or stop a server, refused where simlab may not.

Every command redis-py sends is packed by its connection's command packer: plain calls,
pipelines, MULTI/EXEC transactions, pub/sub, scripts and health checks alike. simlab's clients
use a connection class (:func:`guarded_class`) whose packer checks each command before it is
packed, so there is no path around the check short of replacing the connection class. Bytes
handed to ``send_packed_command`` by hand are parsed as RESP and checked too.

On a server simlab did not start (``owned`` false) these are refused with :class:`UnsafeCommand`:
``SWAPDB``, ``FLUSHALL``, ``FLUSHDB``, ``CONFIG SET|RESETSTAT|REWRITE``, ``SHUTDOWN``,
``DEBUG``, ``REPLICAOF``/``SLAVEOF``, ``FAILOVER``, ``MIGRATE``, ``MODULE``,
``ACL SETUSER|DELUSER``, ``SCRIPT FLUSH``, ``FUNCTION FLUSH|DELETE|RESTORE`` and
``FUNCTION LOAD REPLACE`` (both replace functions someone else may rely on; a plain
``FUNCTION LOAD`` only adds a library, and its code is checked like a script's).

Scripts are read before they are sent. ``EVAL``/``EVAL_RO`` and ``SCRIPT LOAD`` texts are
scanned; ``EVALSHA``/``EVALSHA_RO`` pass only for a script whose text simlab has seen (through
``register_script``, ``SCRIPT LOAD`` or ``EVAL``) and found safe; ``FCALL``/``FCALL_RO`` only
for a function loaded through a simlab client and found safe. The scan accepts
``redis.call``/``redis.pcall`` whose command (and sub-command, for CONFIG, ACL, SCRIPT,
FUNCTION...) is a plain string literal not on the list, and the harmless ``redis.*`` helpers; it
refuses any other use of ``redis`` (an alias such as ``local c = redis.call``), a command built
at run time, and the ways out of the sandbox (``_G``, ``getfenv``, ``loadstring``, ``load``,
``debug``...). Comments and strings are skipped as Lua's own lexer skips them.
"""
from __future__ import annotations

import hashlib
import re


class UnsafeCommand(PermissionError):
    """A destructive command aimed at a server simlab did not start."""


REFUSED = frozenset({"SWAPDB", "FLUSHALL", "FLUSHDB", "SHUTDOWN", "DEBUG", "REPLICAOF",
                     "SLAVEOF", "FAILOVER", "MIGRATE", "MODULE"})
REFUSED_SUBCOMMANDS = {
    "CONFIG": frozenset({"SET", "RESETSTAT", "REWRITE"}),
    "ACL": frozenset({"SETUSER", "DELUSER"}),
    "SCRIPT": frozenset({"FLUSH"}),
    "FUNCTION": frozenset({"FLUSH", "DELETE", "RESTORE"}),
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

_LEXEME = re.compile(r"""
    (?P<comment> --\[(?P<ceq>=*)\[.*?\](?P=ceq)\] | --[^\n]* )
  | (?P<long>    \[(?P<leq>=*)\[.*?\](?P=leq)\] )
  | (?P<quoted>  "(?:[^"\\\n]|\\[\s\S])*" | '(?:[^'\\\n]|\\[\s\S])*' )
""", re.S | re.X)
_PLACEHOLDER = "\x00{}\x00"
_ESCAPES_SANDBOX = re.compile(
    r"(?<![.\w])(_G|_ENV|getfenv|setfenv|loadstring|load|loadfile|dofile|require|rawget|"
    r"rawset|debug|module|package)\b")
_REDIS = re.compile(r"(?<![\w])redis\b")
_MEMBER = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")
_CALL_ARGS = re.compile(r"\s*(\(\s*)?\x00(\d+)\x00\s*([,)]?)")
_NEXT_LITERAL = re.compile(r"\s*\x00(\d+)\x00\s*([,)])")
_NAME_LITERAL = re.compile(r"register_function\s*\(?\s*\{?\s*(?:function_name\s*=\s*)?"
                           r"\x00(\d+)\x00")
_HARMLESS = frozenset({
    "log", "status_reply", "error_reply", "sha1hex", "setresp", "set_repl",
    "replicate_commands", "breakpoint", "debug", "register_function", "acl_check_cmd",
    "REDIS_VERSION", "REDIS_VERSION_NUM", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE",
    "LOG_WARNING", "REPL_ALL", "REPL_AOF", "REPL_REPLICA", "REPL_SLAVE", "REPL_NONE"})


def _lex(text: str):
    """The code with comments blanked and each string literal replaced by a placeholder;
    and the literals' values (``None`` for one with an escape, which could spell anything)."""
    code, literals, pos = [], [], 0
    for match in _LEXEME.finditer(text):
        code.append(text[pos:match.start()])
        pos = match.end()
        if match.group("comment"):
            code.append(" ")
            continue
        if match.group("long"):
            body = match.group("long")
            value = body[len(match.group("leq")) + 2:-len(match.group("leq")) - 2]
        else:
            body = match.group("quoted")[1:-1]
            value = None if "\\" in body else body
        code.append(_PLACEHOLDER.format(len(literals)))
        literals.append(value)
    code.append(text[pos:])
    return "".join(code), literals


def _call_problem(code: str, end: int, literals: list) -> str | None:
    """Check one ``redis.call``/``redis.pcall`` whose name ends at ``end``."""
    match = _CALL_ARGS.match(code, end)
    if not match or (match.group(1) and not match.group(3)):
        return "a redis.call whose command is not a plain string (simlab could not check it)"
    value = literals[int(match.group(2))]
    if value is None:
        return "a redis.call whose command string has escapes (simlab could not check it)"
    words = value.split()
    name = words[0].upper() if words else ""
    if name in REFUSED_SUBCOMMANDS and len(words) < 2:
        nxt = _NEXT_LITERAL.match(code, match.end()) if match.group(3) == "," else None
        if nxt is None or literals[int(nxt.group(1))] is None:
            return (f"a redis.call('{name}', ...) whose sub-command is not a plain string "
                    "(simlab could not check it)")
        words.append(literals[int(nxt.group(1))])
    refused = refused_name(words)
    return f"a call of {refused}" if refused else None


def script_problem(text: str) -> str | None:
    """Why a Lua script (or function library) could wipe or reconfigure a server; None if it
    cannot. See the module's docstring for the rules."""
    text = _text(text)
    if "\x00" in text:
        return "a NUL byte (simlab could not check it)"
    code, literals = _lex(text)
    escape = _ESCAPES_SANDBOX.search(code)
    if escape:
        return f"'{escape.group(1)}', a way around the checks simlab makes"
    for found in _REDIS.finditer(code):
        member = _MEMBER.match(code, found.end())
        if member is None:
            return "'redis' used other than as redis.call(...) (simlab could not check it)"
        if member.group(1) in ("call", "pcall"):
            problem = _call_problem(code, member.end(), literals)
            if problem:
                return problem
        elif member.group(1) not in _HARMLESS:
            return f"redis.{member.group(1)} (simlab could not check it)"
    return None


def function_names(library: str) -> list:
    """The names a function library registers (``redis.register_function('name', ...)``)."""
    code, literals = _lex(_text(library))
    return [literals[int(m.group(1))] for m in _NAME_LITERAL.finditer(code)
            if literals[int(m.group(1))] is not None]


def script_sha(text) -> str:
    """The SHA1 Redis gives a script (of its UTF-8 bytes)."""
    data = text if isinstance(text, bytes) else _text(text).encode("utf-8")
    return hashlib.sha1(data).hexdigest()


class _Scripts:
    """Verdicts on every script and function text simlab has seen, by SHA1 and by name."""

    def __init__(self):
        self.by_sha: dict = {}
        self.functions: dict = {}

    def remember(self, text) -> str | None:
        sha = script_sha(text)
        if sha not in self.by_sha:
            self.by_sha[sha] = script_problem(text)
        return self.by_sha[sha]

    def remember_library(self, code) -> str | None:
        problem = script_problem(code)
        for name in function_names(code):
            self.functions[name] = problem
        return problem


SCRIPTS = _Scripts()


# --- the check -----------------------------------------------------------------------------

class Guard:
    """What a connection may send: everything if ``owned``, else nothing on the list.

    One guard is shared by every connection of a client's pool; ``where`` names the server
    in messages (host and port, never a password).
    """

    __slots__ = ("owned", "where")

    def __init__(self, owned: bool = False, where: str = "this server"):
        self.owned = bool(owned)
        self.where = where

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
            problem = SCRIPTS.remember_library(words[-1])
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
            function = _text(words[1])
            if function not in SCRIPTS.functions:
                raise UnsafeCommand(
                    f"simlab refuses {name} {function} on {self.where}: that function was not "
                    "loaded through a simlab client, so simlab cannot read it, and simlab did "
                    "not start that server. Load the library with r.function_load(code) first.")
            problem = SCRIPTS.functions[function]
        else:
            return
        if problem:
            self._refuse(f"{name} of a script with {problem}")

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
    """Packed output that went through the guard (so ``send_packed_command`` trusts it)."""


class _GuardedPacker:
    def __init__(self, packer, guard: Guard):
        self._packer, self._guard = packer, guard

    def pack(self, *args):
        self._guard.check(args)
        return _Checked(self._packer.pack(*args))


class GuardedConnectionMixin:
    """Put in front of a redis-py connection class: every command passes :class:`Guard`."""

    def __init__(self, *args, simlab_guard: Guard | None = None, **kwargs):
        self.simlab_guard = simlab_guard if simlab_guard is not None else Guard()
        super().__init__(*args, **kwargs)

    def _construct_command_packer(self, packer):
        return _GuardedPacker(super()._construct_command_packer(packer), self.simlab_guard)

    def pack_commands(self, commands):
        return _Checked(super().pack_commands(commands))

    def send_packed_command(self, command, check_health=True):
        if not isinstance(command, _Checked):
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
        guard = Guard(owned=False, where=where)
        pool.connection_class = guarded_class(pool.connection_class)
        pool.connection_kwargs["simlab_guard"] = guard
        pool.reset()               # a connection made before now had no guard
    return guard
