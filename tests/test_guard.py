"""The guard holds on every path: a server simlab did not start is never wiped or reconfigured.

A private redis-server stands in for the learner's own: its clients from ``guarded_client``
are marked foreign (``owned`` False), as ``connect(REDIS_URL)`` marks them. Every path a
careless or hostile user could take is tried; each must raise ``UnsafeCommand`` before
anything reaches the server, and afterwards every key (in db 0 and db 1), the whole
configuration, the ACL users, the functions and the loaded scripts must be as they were.
"""
import redis
import pytest

import simlab
from simlab.live import PrivateRedis, UnsafeCommand, connect, redis_server_binary
from simlab.live import guard as guard_mod
from simlab.live.client import guarded_client
from simlab.live.queues import QueueServer
from simlab.live.ratelimit import SlidingCounter, TokenBucket, FixedWindow, SlidingLog

pytestmark = pytest.mark.real

LIBRARY = "#!lua name=keeplib\nredis.register_function('keep', function() return 1 end)"
FLUSH_LIB = ("#!lua name=evil\nredis.register_function('wipe', function() "
             "return redis.call('FLUSHALL') end)")
OWNER_SCRIPT = "return redis.call('FLUSHALL')"     # loaded by the owner, unknown to the guard
# Lua 5.1 ends a -- comment at "\r": these run FLUSHDB / FLUSHALL on a real server
CR_SCRIPT = "-- hi\rredis.call('FLUSHDB')\rreturn 1"
CR_LIB = ("#!lua name=crlib\nlocal function f() --a\rreturn redis.call('FLUSHALL')\nend\n"
          "redis.register_function('cr_fn', f)")


@pytest.fixture(scope="module")
def server():
    if not redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    with PrivateRedis() as srv:
        yield srv


@pytest.fixture
def owner(server):
    r = server.client()
    assert r.owned
    r.flushall()
    return r


def _state(owner):
    """Everything a destructive command could change."""
    port = owner.connection_pool.connection_kwargs["port"]
    other = redis.Redis(host="127.0.0.1", port=port, db=1, decode_responses=True)
    state = {
        "db0": {k: owner.get(k) for k in owner.scan_iter()},
        "db1": {k: other.get(k) for k in other.scan_iter()},
        "config": owner.config_get("*"),
        "acl": owner.acl_list(),
        "functions": str(owner.function_list()),
        "script": owner.script_exists(guard_mod.script_sha(OWNER_SCRIPT)),
        "role": owner.execute_command("ROLE")[0],
    }
    other.close()
    return state


@pytest.fixture
def foreign(server, owner):
    """A foreign client, and a server holding keys, a script and a function to lose."""
    owner.mset({"wb:someone:user:1": "ada", "their-own-key": "keep me"})
    owner.execute_command("SELECT", 0)
    port = owner.connection_pool.connection_kwargs["port"]
    db1 = redis.Redis(host="127.0.0.1", port=port, db=1)
    db1.set("db1-key", "keep me too")
    db1.close()
    owner.function_load(LIBRARY, replace=True)
    owner.script_load(OWNER_SCRIPT)
    before = _state(owner)
    r = guarded_client(server.url)
    assert not r.owned
    yield r
    r.close()
    after = _state(owner)
    assert after == before, "a refused command changed the server"
    assert after["db0"]["their-own-key"] == "keep me" and after["db1"] == {"db1-key": "keep me too"}


def _pipeline_script(r):
    script = r.register_script("return redis.call('FLUSHDB')")
    pipe = r.pipeline()
    script(keys=[], client=pipe)
    pipe.execute()


def _raw(r, data):
    conn = r.connection_pool.get_connection()
    try:
        conn.send_packed_command(data)
    finally:
        r.connection_pool.release(conn)


def _fcall_owner_function(r, owner):
    owner.function_load(FLUSH_LIB, replace=True)
    try:
        r.fcall("wipe", 0)
    finally:
        owner.function_delete("evil")


PATHS = {
    "flushdb": lambda r: r.flushdb(),
    "flushall": lambda r: r.flushall(),
    "flushdb async": lambda r: r.flushdb(asynchronous=True),
    "pipeline flushdb": lambda r: r.pipeline().flushdb().execute(),
    "pipeline without transaction": lambda r: r.pipeline(transaction=False).flushall().execute(),
    "MULTI with FLUSHALL": lambda r: r.pipeline(transaction=True).set("wb:x", 1).flushall()
    .execute(),
    "one string FLUSHDB ASYNC": lambda r: r.execute_command("FLUSHDB ASYNC"),
    "tab in one string": lambda r: r.execute_command("FLUSHDB\tASYNC"),
    "lower case": lambda r: r.execute_command("flushdb"),
    "mixed case": lambda r: r.execute_command("FlUsHaLl"),
    "bytes name": lambda r: r.execute_command(b"FLUSHALL"),
    "bytearray name": lambda r: r.execute_command(bytearray(b"flushdb")),
    "bytes one string": lambda r: r.execute_command(b"config set", "maxmemory", "1mb"),
    "CONFIG then bytes SET": lambda r: r.execute_command("CONFIG", b"SET", "maxmemory", "1mb"),
    "config set lower one string": lambda r: r.execute_command("config set maxmemory 1mb"),
    "config_set": lambda r: r.config_set("maxmemory", "1mb"),
    "pipeline config_set": lambda r: r.pipeline().config_set("maxmemory", "1mb").execute(),
    "config resetstat": lambda r: r.config_resetstat(),
    "config rewrite": lambda r: r.config_rewrite(),
    "swapdb": lambda r: r.swapdb(0, 1),
    "pipeline swapdb": lambda r: r.pipeline().swapdb(0, 1).execute(),
    "shutdown": lambda r: r.shutdown(nosave=True),
    "debug": lambda r: r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0"),
    "replicaof": lambda r: r.replicaof("127.0.0.1", 1),
    "slaveof": lambda r: r.execute_command("SLAVEOF", "127.0.0.1", "1"),
    "failover": lambda r: r.execute_command("FAILOVER"),
    "migrate": lambda r: r.migrate("127.0.0.1", 1, ["their-own-key"], 0, 100),
    "module": lambda r: r.execute_command("MODULE", "LOAD", "/nonexistent.so"),
    "acl setuser": lambda r: r.acl_setuser("mallory", enabled=True, nopass=True,
                                           commands=["+@all"], keys=["*"]),
    "acl deluser": lambda r: r.acl_deluser("default"),
    "script flush": lambda r: r.script_flush(),
    "function flush": lambda r: r.function_flush(),
    "function delete": lambda r: r.function_delete("keeplib"),
    "function restore": lambda r: r.function_restore(b"\x00", "FLUSH"),
    "function load replace": lambda r: r.function_load(LIBRARY, replace=True),
    "function load of a library that flushes": lambda r: r.function_load(FLUSH_LIB),
    "eval FLUSHDB": lambda r: r.eval("return redis.call('FLUSHDB')", 0),
    "eval CONFIG SET": lambda r: r.eval(
        "return redis.call('CONFIG', 'SET', 'maxmemory', '1mb')", 0),
    "eval one string config set": lambda r: r.eval(
        "return redis.call('config set', 'maxmemory', '1mb')", 0),
    "eval_ro": lambda r: r.eval_ro("return redis.call('flushall')", 0),
    "eval pcall": lambda r: r.eval("return redis.pcall('SWAPDB', 0, 1)", 0),
    "eval bytes script": lambda r: r.eval(b"return redis.call(\"FLUSHALL\")", 0),
    "eval in a pipeline": lambda r: r.pipeline().eval("redis.call('FLUSHDB')", 0).execute(),
    "evalsha of a script simlab read": lambda r: r.evalsha(
        r.register_script("return redis.call('FLUSHDB')").sha, 0),
    "evalsha of a script simlab never saw": lambda r: r.evalsha(
        guard_mod.script_sha(OWNER_SCRIPT), 0),
    "evalsha upper-case sha": lambda r: r.evalsha(
        guard_mod.script_sha(OWNER_SCRIPT).upper(), 0),
    "register_script": lambda r: r.register_script("return redis.call('FLUSHALL')")(),
    "register_script CONFIG SET": lambda r: r.register_script(
        "redis.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')")(),
    "register_script in a pipeline": _pipeline_script,
    "script load": lambda r: r.script_load("redis.call('FLUSHALL')"),
    "lua alias": lambda r: r.eval("local c = redis.call; return c('FLUSHALL')", 0),
    "lua concatenation": lambda r: r.eval("return redis.call('FLUSH' .. 'ALL')", 0),
    "lua decimal escape": lambda r: r.eval("return redis.call('FLUSH\\65LL')", 0),
    "lua call without parentheses": lambda r: r.eval("return redis.call'FLUSHALL'", 0),
    "lua long string": lambda r: r.eval("return redis.call([[FLUSHALL]])", 0),
    "lua command from ARGV": lambda r: r.eval("return redis.call(ARGV[1])", 0, "FLUSHALL"),
    "lua sub-command from ARGV": lambda r: r.eval(
        "return redis.call('CONFIG', ARGV[1], 'maxmemory', '1mb')", 0, "SET"),
    "lua _G": lambda r: r.eval("return _G['re' .. 'dis'].call('FLUSHALL')", 0),
    "lua loadstring": lambda r: r.eval(
        "return loadstring('return re' .. 'dis')().call('FLUSHALL')", 0),
    "lua redis indexed": lambda r: r.eval("return redis['call']('FLUSHALL')", 0),
    "lua method call": lambda r: r.eval("return redis:call('FLUSHALL')", 0),
    "lua code hidden after a string with an escaped quote": lambda r: r.eval(
        "local s = 'it\\'s' return redis.call('FLUSHALL')", 0),
    "fcall of a function that is not on the server": lambda r: r.fcall("no_such_fn", 0),
    "eval: a comment ended by CR": lambda r: r.eval(CR_SCRIPT, 0),
    "eval bytes: a comment ended by CR": lambda r: r.eval(CR_SCRIPT.encode(), 0),
    "register_script: a comment ended by CR": lambda r: r.register_script(CR_SCRIPT)(),
    "script load + evalsha: a comment ended by CR": lambda r: r.evalsha(
        r.script_load(CR_SCRIPT), 0),
    "evalsha of a CR script simlab saw in register_script": lambda r: r.evalsha(
        r.register_script(CR_SCRIPT).sha, 0),
    "function load: a comment ended by CR": lambda r: r.function_load(CR_LIB),
    "eval: CRLF comment then a flush": lambda r: r.eval(
        "-- hi\r\nreturn redis.call('FLUSHALL')", 0),
    "eval: LF CR comment then a flush": lambda r: r.eval(
        "-- hi\n\rreturn redis.call('FLUSHALL')", 0),
    "eval: long comment closed by its own level": lambda r: r.eval(
        "--[==[ ]] ]=] ]==] return redis.call('FLUSHALL')", 0),
    "eval: backslash CRLF inside a string": lambda r: r.eval(
        "local s = 'a\\\r\n' return redis.call('FLUSHALL')", 0),
    "eval: backslash LF CR inside a string": lambda r: r.eval(
        "local s = 'a\\\n\r' return redis.call('FLUSHALL')", 0),
    "eval: a form feed": lambda r: r.eval("return 1\f", 0),
    "client pause": lambda r: r.client_pause(2000),
    "client kill": lambda r: r.execute_command("CLIENT", "KILL", "TYPE", "pubsub"),
    "client unblock": lambda r: r.client_unblock(1),
    "save": lambda r: r.save(),
    "bgsave": lambda r: r.bgsave(),
    "bgrewriteaof": lambda r: r.bgrewriteaof(),
    "sync": lambda r: r.execute_command("SYNC"),
    "script kill": lambda r: r.script_kill(),
    "function kill": lambda r: r.execute_command("FUNCTION KILL"),
    "acl load": lambda r: r.acl_load(),
    "acl save": lambda r: r.acl_save(),
    "slowlog reset": lambda r: r.slowlog_reset(),
    "latency reset": lambda r: r.execute_command("LATENCY", "RESET"),
    "cluster reset": lambda r: r.execute_command("CLUSTER", "RESET"),
    "eval CLIENT PAUSE": lambda r: r.eval("return redis.call('CLIENT', 'PAUSE', 2000)", 0),
    "eval SAVE": lambda r: r.eval("return redis.call('save')", 0),
    "raw RESP bytes": lambda r: _raw(r, b"*1\r\n$8\r\nFLUSHALL\r\n"),
    "raw inline command": lambda r: _raw(r, b"FLUSHALL\r\n"),
    "raw list of chunks": lambda r: _raw(r, [b"*2\r\n$6\r\nCONFIG\r\n", b"$9\r\nRESETSTAT\r\n"]),
    "another client on the same pool": lambda r: redis.Redis(
        connection_pool=r.connection_pool).flushdb(),
    "pubsub connection": lambda r: r.pubsub().execute_command("FLUSHALL"),
}


@pytest.mark.parametrize("path", list(PATHS), ids=list(PATHS))
def test_every_path_is_refused_on_a_foreign_server(foreign, path):
    with pytest.raises(UnsafeCommand) as info:
        PATHS[path](foreign)
    message = str(info.value)
    assert "simlab refuses" in message and "did not start that server" in message
    assert "127.0.0.1:" in message                      # which server


def test_fcall_of_a_function_loaded_elsewhere_is_refused(foreign, owner):
    with pytest.raises(UnsafeCommand, match="simlab refuses FCALL"):
        _fcall_owner_function(foreign, owner)


def test_fcall_of_a_cr_function_loaded_elsewhere_is_refused(foreign, owner):
    owner.function_load(CR_LIB)
    try:
        with pytest.raises(UnsafeCommand, match="FCALL of a script with a carriage return"):
            foreign.fcall("cr_fn", 0)
    finally:
        owner.function_delete("crlib")


SAFE_FN = "#!lua name={}\nredis.register_function('safe_fn', function() return {} end)"


def test_fcall_checks_the_code_the_server_holds_not_a_refused_load(foreign, owner):
    owner.function_load(SAFE_FN.format("theirs", "redis.call('FLUSHALL')"))
    try:
        with pytest.raises(redis.ResponseError, match="already exists"):
            foreign.function_load(SAFE_FN.format("mine", "1"))
        with pytest.raises(UnsafeCommand, match="FCALL of a script with a call of FLUSHALL"):
            foreign.fcall("safe_fn", 0)
    finally:
        owner.function_delete("theirs")


def test_fcall_checks_a_library_replaced_after_it_was_loaded(foreign, owner):
    foreign.function_load(SAFE_FN.format("mine", "1"))
    try:
        assert foreign.fcall("safe_fn", 0) == 1
        owner.function_load(SAFE_FN.format("mine", "redis.call('FLUSHALL')"), replace=True)
        with pytest.raises(UnsafeCommand, match="FCALL of a script with a call of FLUSHALL"):
            foreign.fcall("safe_fn", 0)
    finally:
        owner.function_delete("mine")


def test_fcall_in_a_transaction_reads_the_code_back_too(foreign, owner):
    owner.function_load(FLUSH_LIB)
    try:
        with pytest.raises(UnsafeCommand, match="FCALL of a script with a call of FLUSHALL"):
            foreign.pipeline(transaction=True).set("wb:x", 1).fcall("wipe", 0).execute()
        assert foreign.pipeline(transaction=True).fcall("keep", 0).execute() == [1]
    finally:
        owner.function_delete("evil")


def test_fcall_of_a_harmless_function_someone_else_loaded_runs(foreign):
    assert foreign.fcall("keep", 0) == 1          # its code is read back and checked


def test_harmless_server_commands_still_pass(foreign):
    foreign.memory_purge()
    foreign.client_setname("simlab-guard-test")
    assert foreign.client_getname() == "simlab-guard-test"
    assert foreign.execute_command("CLIENT", "NO-EVICT", "on") == "OK"
    assert foreign.slowlog_len() >= 0 and foreign.config_get("maxmemory")


def test_message_names_the_command_and_the_way_forward(foreign):
    with pytest.raises(UnsafeCommand) as info:
        foreign.pipeline().config_set("maxmemory", "1mb").execute()
    message = str(info.value)
    assert message.startswith("simlab refuses CONFIG SET on the Redis server at 127.0.0.1:")
    assert "simlab.cleanup(r)" in message and "simlab.PrivateRedis()" in message


def test_the_course_scripts_and_transactions_run_on_a_foreign_server(foreign, owner):
    for cls in (SlidingCounter, TokenBucket, FixedWindow, SlidingLog):
        limiter = cls(foreign, limit=3, window=60.0)
        assert [limiter.allow("guard-test") for _ in range(4)] == [True] * 3 + [False]
    lock = foreign.lock(simlab.key("lock", "guard-test"), timeout=5)   # redis-py's Lua scripts
    assert lock.acquire(blocking=False) and lock.locked()
    lock.release()
    assert foreign.eval("return redis.call('GET', KEYS[1])", 1, "their-own-key") == "keep me"
    assert foreign.eval("-- a comment may say redis.call('FLUSHALL')\n"
                        "return redis.call('STRLEN', 'their-own-key')", 0) == 7
    foreign.function_load("#!lua name=simlabtest\nredis.register_function('simlab_echo', "
                          "function(keys, args) return args[1] end)")
    try:
        assert foreign.fcall("simlab_echo", 0, "hi") == "hi"
    finally:
        owner.function_delete("simlabtest")
    assert simlab.cleanup(foreign) >= 0


def test_owned_clients_may_do_everything(server, owner):
    owner.set("wb:x", 1)
    owner.pipeline().flushdb().execute()
    assert owner.dbsize() == 0
    assert owner.eval("return redis.call('FLUSHALL')", 0) == "OK"
    owner.config_set("maxmemory-policy", "allkeys-lru")
    assert owner.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    owner.config_set("maxmemory-policy", "noeviction")


def test_the_fakeredis_default_goes_through_the_same_guard(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    r = connect()
    assert not r.owned
    conn_class = r.connection_pool.connection_class
    assert issubclass(conn_class, guard_mod.GuardedConnectionMixin)
    for path in ("pipeline flushdb", "MULTI with FLUSHALL", "one string FLUSHDB ASYNC",
                 "eval FLUSHDB", "register_script", "swapdb"):
        with pytest.raises(UnsafeCommand, match="in-process fakeredis"):
            PATHS[path](r)


def test_queue_clients_are_guarded(server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", server.url)
    with QueueServer() as qs:
        r = qs.client()
        assert not r.owned
        with pytest.raises(UnsafeCommand):
            r.pipeline().flushdb().execute()
    monkeypatch.delenv("REDIS_URL")
    with QueueServer() as qs:
        assert qs.client().owned == (qs.kind == "private redis-server")


COURSE_SCRIPTS = [
    "return redis.call('GET', KEYS[1])",
    "local v = redis.call(\"INCR\", KEYS[1])\nredis.call('PEXPIRE', KEYS[1], ARGV[1])\nreturn v",
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
    "return 0",
    "redis.log(redis.LOG_NOTICE, 'load done'); return redis.status_reply('OK')",
]


@pytest.mark.parametrize("text", COURSE_SCRIPTS)
def test_harmless_scripts_pass_the_scan(text):
    assert guard_mod.script_problem(text) is None


def test_the_course_own_scripts_pass_the_scan():
    from simlab.live import ratelimit
    for text in (ratelimit._SLIDING_COUNTER, ratelimit._TOKEN_BUCKET):
        assert guard_mod.script_problem(text) is None
    from redis.lock import Lock
    for text in (Lock.LUA_RELEASE_SCRIPT, Lock.LUA_EXTEND_SCRIPT, Lock.LUA_REACQUIRE_SCRIPT):
        assert guard_mod.script_problem(text) is None


@pytest.mark.parametrize("name", ["FLUSHDB", "flushall", "SwapDB", "SHUTDOWN", "DEBUG",
                                  "REPLICAOF", "SLAVEOF", "MIGRATE", "MODULE", "save", "BGSAVE",
                                  "bgrewriteaof", "SYNC", "PSYNC"])
def test_refused_names_in_any_case(name):
    assert guard_mod.refused_name(guard_mod.command_words((name, "x"))) == name.upper()


def test_sub_commands_only_where_they_are_dangerous():
    words = guard_mod.command_words
    assert guard_mod.refused_name(words(("CONFIG GET", "maxmemory"))) is None
    assert guard_mod.refused_name(words((b"ACL", b"whoami"))) is None
    assert guard_mod.refused_name(words(("SCRIPT", "LOAD", "x"))) is None
    for args, name in [(("config resetstat",), "CONFIG RESETSTAT"),
                       ((b"acl", "SetUser", "x"), "ACL SETUSER"),
                       (("SCRIPT", b"flush"), "SCRIPT FLUSH"),
                       (("function", "load", "REPLACE", "code"), "FUNCTION LOAD REPLACE")]:
        assert guard_mod.refused_name(words(args)) == name


LEXER_CASES = {
    # Lua 5.1 (Redis) reads these as code after a comment or string: each must be refused
    "CR ends a comment": "-- x\rreturn redis.call('FLUSHALL')",
    "CRLF ends a comment": "-- x\r\nreturn redis.call('FLUSHALL')",
    "LF CR ends a comment": "-- x\n\rreturn redis.call('FLUSHALL')",
    "CR inside a function": "local function f() --a\rreturn redis.call('FLUSHALL')\nend",
    "long comment level 2": "--[==[ ]] ]==] return redis.call('FLUSHALL')",
    "long comment with a CR": "--[[ x\r ]] return 1",
    "long string level 1": "local s = [=[ ]] ]=] return redis.call('FLUSHALL')",
    "not a long comment": "--[= x\nreturn redis.call('FLUSHALL')",
    "backslash CR in a string": "local s = 'a\\\rb' return redis.call('FLUSHALL')",
    "backslash CRLF in a string": "local s = 'a\\\r\nb' return redis.call('FLUSHALL')",
    "backslash quote": "local s = \"a\\\"\" return redis.call('FLUSHALL')",
    "backslash backslash": "local s = 'a\\\\' return redis.call('FLUSHALL')",
    "decimal escape": "return redis.call('FLUSH\\065LL')",
    "x escape (5.1: just x)": "return redis.call('\\x46LUSHALL')",
    "z escape (5.1: just z)": "return redis.call('FLUSHALL\\z')",
    "form feed in a comment": "-- x\freturn 1",
    "vertical tab in code": "return\v1",
    "vertical tab between redis and .call": "return redis\v.call('FLUSHALL')",
    "ESC (bytecode header)": "\x1bLua",
    "non-ASCII white space in code": "return redis\xa0.call('FLUSHALL')",
    "shebang with a CR": "#!lua\rredis.call('FLUSHALL')\nreturn 1",
    "unfinished long string": "return [[ FLUSHALL",
    "invalid long delimiter": "return [== FLUSHALL",
    "FCALL inside a script": "return redis.call('FCALL', 'wipe', 0)",
    "CONFIG sub-command built": "return redis.call('CONFIG', 'SE' .. 'T', 'x', 'y')",
    "redis.call as an argument": "return pcall(redis.call, 'FLUSHALL')",
}


@pytest.mark.parametrize("case", list(LEXER_CASES), ids=list(LEXER_CASES))
def test_the_scanner_reads_lua_as_redis_does(case):
    assert guard_mod.script_problem(LEXER_CASES[case]) is not None


@pytest.mark.parametrize("text", [
    "return redis.call('GET', KEYS[1])\r\n-- windows line ends\r\nreturn 1\r\n",
    "--[==[ a long comment with ]] and redis.call('FLUSHALL') ]==] return 1",
    "local s = [[\nredis.call('FLUSHALL')]] return s",
    "local s = 'it\\'s \\\n fine' return redis.call('GET', s)",
    "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
    "#!lua name=lib\r\nredis.register_function('f', function() return 1 end)",
    "-- \u00e9t\u00e9: accents in a comment\nreturn 1",
    "local t = {} t.load = 1 t.debug = 2 return t.load + t:debug()",
])
def test_the_scanner_still_passes_harmless_scripts(text):
    assert guard_mod.script_problem(text) is None


@pytest.mark.parametrize("args", [("CLIENT", "PAUSE", "10"), ("client kill", "ID", "1"),
                                  ("ACL", "LOAD"), ("acl", "save"), ("SCRIPT", "KILL"),
                                  ("FUNCTION", "KILL"), ("SLOWLOG", "RESET"),
                                  ("latency", "reset"), ("CLIENT", "UNBLOCK", "1")])
def test_freezing_and_erasing_sub_commands_are_refused(args):
    assert guard_mod.refused_name(guard_mod.command_words(args)) is not None


@pytest.mark.parametrize("args", [("MEMORY", "PURGE"), ("CLIENT", "NO-EVICT", "on"),
                                  ("CLIENT", "SETNAME", "x"), ("SLOWLOG", "GET"),
                                  ("ACL", "WHOAMI"), ("LATENCY", "LATEST")])
def test_harmless_sub_commands_pass(args):
    assert guard_mod.refused_name(guard_mod.command_words(args)) is None


# --- ownership is proven by the server's process, not by a port --------------------------

def _someone_elses_server(port):
    """A redis-server that simlab did not start, on ``port``, holding a key to lose."""
    import subprocess
    import time
    proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    admin = redis.Redis(port=port, decode_responses=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            admin.set("someone-elses", "precious")
            return proc, admin
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.skip(f"port {port} was taken before the test's server could start")
            time.sleep(0.02)


def _nothing_lost(admin):
    assert admin.get("someone-elses") == "precious"
    assert admin.config_get("maxmemory")["maxmemory"] == "0"


@pytest.mark.skipif(not redis_server_binary(), reason="no redis-server binary on the PATH")
@pytest.mark.parametrize("how", ["stop", "crash"])
def test_a_client_of_a_gone_private_server_does_not_own_what_takes_its_port(how):
    """A private server's client owned it; the server stops (or is killed) and another
    server, not simlab's, takes the port: FLUSHALL and CONFIG SET are refused there."""
    private = PrivateRedis().start()
    r = private.client()
    assert r.owned and r.ping()
    port = private.port
    getattr(private, how)()
    proc, admin = _someone_elses_server(port)
    try:
        for command in (r.flushall, lambda: r.config_set("maxmemory", "1mb"),
                        lambda: r.pipeline().flushdb().execute()):
            with pytest.raises(UnsafeCommand, match="did not start that server"):
                command()
        assert not r.owned
        _nothing_lost(admin)
    finally:
        proc.kill()
        proc.wait()
        private.stop()


@pytest.mark.skipif(not redis_server_binary(), reason="no redis-server binary on the PATH")
def test_a_private_server_restarted_on_its_port_is_still_owned_by_its_clients():
    """The durability lessons crash a server and restart it: its clients still own it."""
    with PrivateRedis() as private:
        r = private.client()
        r.set("k", "v")
        private.crash()
        private.restart()
        assert r.config_set("maxmemory-policy", "allkeys-lru") and r.owned
        assert r.flushall()


def test_bytes_packed_where_simlab_owns_are_checked_again_elsewhere(server, foreign):
    """FLUSHALL packed by a connection that may do anything (model://) and sent through a
    foreign server's connection is checked there, as bytes packed by hand are."""
    model = simlab.connect("model://")
    assert model.owned
    packed = model.connection_pool.get_connection().pack_command("FLUSHALL")
    with pytest.raises(UnsafeCommand, match="FLUSHALL"):
        _raw(foreign, packed)
    packed = model.connection_pool.get_connection().pack_commands(
        [("SET", "wb:x", "1"), ("FLUSHALL",)])
    with pytest.raises(UnsafeCommand, match="FLUSHALL"):
        _raw(foreign, packed)


@pytest.mark.skipif(not redis_server_binary(), reason="no redis-server binary on the PATH")
def test_a_guard_claimed_for_other_processes_releases_the_server_it_meets(server):
    """A cluster's guard owns the processes of its running nodes: a connection that meets
    any other process (here, a claim naming pid 1 only) makes it foreign."""
    class Elsewhere:
        def owned_pids(self):
            return {1}

    r = guarded_client(server.url)
    r.__dict__["_simlab_guard"].claim(Elsewhere())
    assert r.owned
    with pytest.raises(UnsafeCommand, match="did not start that server"):
        r.flushall()
    assert not r.owned
