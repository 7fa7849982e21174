import json
import subprocess
import sys

import numpy as np
import pytest

import simlab
from simlab.live import redis_server_binary


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "simlab.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_simulate_json_has_the_promised_fields():
    out = run("simulate", "--zipf", "1.0", "--keys", "1000", "--requests", "20000",
              "--policy", "lru", "--cache-size", "100", "--seed", "7", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for field in ("requests", "hits", "misses", "hit_ratio", "p50_ms", "p99_ms", "seed",
                  "elapsed_s"):
        assert field in data
    assert data["requests"] == 20000 and data["seed"] == 7
    assert data["hits"] + data["misses"] == 20000
    assert data["timing"] == "sequential"


def test_simulate_matches_the_api():
    out = run("simulate", "--zipf", "0.8", "--keys", "500", "--requests", "5000", "--rate", "200",
              "--policy", "lfu", "--cache-size", "50", "--ttl", "3", "--seed", "1", "--json")
    data = json.loads(out.stdout)
    w = simlab.zipf(500, 0.8, 5000, rate=200.0, ttl=3.0, seed=1)
    df = simlab.simulate(w, policy="lfu", cache_size=50, seed=1)
    assert data["hits"] == int((df["outcome"] == "hit").sum())
    assert data["timing"] == "arrivals"


def test_db_latency_zero_and_trace(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\n".join("abcabcabcd"))
    data = json.loads(run("simulate", "--trace", str(path), "--policy", "fifo", "--cache-size",
                          "3", "--db-latency", "0", "--json").stdout)
    assert data["hits"] == 6 and data["requests"] == 10


def test_csv_trace_times_drive_the_clock(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("key,t\na,0\na,0.0001\na,1\n")
    data = json.loads(run("simulate", "--trace", str(path), "--cache-size", "3",
                          "--db-latency", "0.01", "--json").stdout)
    assert data["timing"] == "arrivals" and data["hits"] == 1 and data["inflight_misses"] == 1


@pytest.mark.parametrize("args, message", [
    (["--cache-size", "-5"], "argument --cache-size: must be a positive integer, got '-5'"),
    (["--cache-size", "ten"], "argument --cache-size: must be a positive integer, got 'ten'"),
    (["--cache-size", "10", "--keys", "0"], "argument --keys: must be a positive integer up to 2**53, got '0'"),
    (["--cache-size", "10", "--policy", "mru"], "argument --policy: invalid choice: 'mru'"),
    (["--cache-size", "10", "--trace", "/nonexistent/trace.txt"],
     "argument --trace: trace file not found: /nonexistent/trace.txt"),
    (["--cache-size", "10", "--db-latency", "-1"], "argument --db-latency: must be a number of seconds from 0 to 1e9, got '-1'"),
    (["--cache-size", "10", "--rate", "nan"], "argument --rate: must be a positive number"),
    (["--cache-size", "10", "--trace", ""], "argument --trace: is empty"),   # "$TRACE" unset
    (["--cache-size", "10", "--trace", " ", "--keys", "10"], "argument --trace: is empty"),
])
def test_bad_arguments_one_line_no_traceback(args, message):
    out = run("simulate", *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_unreadable_trace_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("key,size\na,big\n")
    out = run("simulate", "--trace", str(path), "--cache-size", "3")
    assert out.returncode == 2 and "column 'size'" in out.stderr and "row 1" in out.stderr
    assert "Traceback" not in out.stderr


def test_mrc_json():
    out = run("mrc", "--zipf", "1.0", "--keys", "2000", "--requests", "30000", "--sizes",
              "10,100,1000", "--seed", "3", "--json")
    data = json.loads(out.stdout)
    assert data["sizes"] == [10, 100, 1000]
    w = simlab.zipf(2000, 1.0, 30000, seed=3)
    assert data["hits"] == simlab.engine.hit_counts(w, [10, 100, 1000]).tolist()
    assert "elapsed_s" in data


def test_mrc_default_sizes_are_log_spaced():
    data = json.loads(run("mrc", "--keys", "500", "--requests", "5000", "--seed", "1",
                          "--json").stdout)
    assert data["sizes"][0] == 1 and data["sizes"][-1] == data["unique_keys"]


def test_mrc_bad_sizes():
    out = run("mrc", "--sizes", "10,-1")
    assert out.returncode == 2 and "argument --sizes" in out.stderr


def test_doctor_lists_backends():
    out = run("doctor")
    assert out.returncode == 0
    for word in ("fakeredis", "redis-server binary", "REDIS_URL", "SQLite", "DATABASE_URL"):
        assert word in out.stdout


@pytest.mark.real
def test_with_server_runs_a_command_beside_a_private_server():
    if not redis_server_binary():
        pytest.skip("no redis-server binary on the PATH")
    code = "import os, redis; r = redis.Redis.from_url(os.environ['REDIS_URL']); print(r.ping())"
    out = run("with-server", "--", sys.executable, "-c", code)
    assert out.returncode == 0 and out.stdout.strip() == "True"


def test_ttl_mode_and_expired_misses():
    base = ["simulate", "--keys", "1000", "--requests", "20000", "--rate", "500", "--cache-size",
            "2000", "--ttl", "2", "--db-latency", "0", "--seed", "3", "--json"]
    fixed = json.loads(run(*base).stdout)
    sliding = json.loads(run(*base, "--ttl-mode", "sliding").stdout)
    assert fixed["expired_misses"] > sliding["expired_misses"] > 0
    assert sliding["hit_ratio"] > fixed["hit_ratio"] and sliding["ttl_mode"] == "sliding"
    out = run("simulate", "--cache-size", "10", "--ttl-mode", "forever")
    assert out.returncode == 2 and "argument --ttl-mode" in out.stderr


# --- start-up apart from engine time (issue 12) ----------------------------------------

def test_startup_reported_apart_from_elapsed():
    for args in (["simulate", "--cache-size", "100"], ["mrc", "--sizes", "10,100"]):
        out = run(*args, "--keys", "1000", "--requests", "20000", "--seed", "7", "--json")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["startup_s"] > 0 and data["elapsed_s"] > 0, args


def test_simulate_loads_its_kernel_without_numbas_scipy_check():
    """Numba's one-time BLAS check (an import of scipy.linalg, a tenth of the command) is
    skipped while the kernel loads, and nothing of the trick is left behind: SciPy's BLAS
    imports afterwards, and Numba's linear algebra still compiles in the same process."""
    code = ("import sys, json\n"
            "from simlab.cli import main\n"
            "main(['simulate', '--keys', '100', '--requests', '1000', '--cache-size', '10', "
            "'--seed', '1', '--json'])\n"
            "skipped = 'scipy.linalg' not in sys.modules\n"
            "left = 'scipy.linalg.cython_blas' in sys.modules\n"
            "import numpy as np, numba\n"
            "import scipy.linalg.cython_blas\n"
            "norm = numba.njit(lambda a: np.linalg.norm(a))(np.ones(4))\n"
            "print(json.dumps([skipped, left, float(norm)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout.splitlines()[0])
    assert first["requests"] == 1000
    assert json.loads(out.stdout.splitlines()[-1]) == [True, False, 2.0]


@pytest.mark.parametrize("command, engine, name", [
    (["simulate", "--cache-size", "50"], "simlab.engine", "simulate"),
    (["simulate", "--policy", "allkeys-lru", "--maxmemory", "20000"], "simlab.engine",
     "simulate"),
    (["mrc", "--sizes", "10,50"], "simlab.curves", "lru_curve"),
])
def test_elapsed_excludes_the_one_time_kernel_load(monkeypatch, capsys, command, engine, name):
    """A first call that takes 2 s (as loading compiled kernels does) lands in startup_s; the
    timed run, which no longer pays it, is all that elapsed_s holds."""
    import importlib
    import time

    from simlab import cli

    module = importlib.import_module(engine)
    real, calls = getattr(module, name), []

    def slow_first_call(*args, **kwargs):
        if not calls:
            time.sleep(2.0)
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, slow_first_call)
    assert cli.main([*command, "--keys", "200", "--requests", "3000", "--seed", "1",
                     "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["startup_s"] >= 2.0 and data["elapsed_s"] < 2.0
    assert calls[0] < 3000 and calls[-1] == 3000     # the load ran on a few requests only
    assert data["requests"] == 3000


def test_integer_trace_reads_as_the_same_text_keys(tmp_path):
    """A trace of plain integers takes the fast numeric reader and yields exactly the key ids
    and names the text reader gives; any other spelling keeps the text reader."""
    from simlab.workloads import _integer_lines

    rng = np.random.default_rng(0)
    numbers = rng.integers(-50, 10 ** 12, 5000) // rng.integers(1, 10 ** 11, 5000)
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(map(str, numbers)) + "\n")
    assert _integer_lines(plain) is not None
    fast = simlab.read_trace(plain)
    text = simlab.workloads.from_keys([str(x) for x in numbers])
    assert fast.keys.tolist() == text.keys.tolist()
    assert list(fast.key_names) == list(text.key_names)
    assert all(type(name) is str for name in fast.key_names)
    cases = [("7\n007\n7\n", ["7", "007"]), ("1\n-0\n0\n", ["1", "-0", "0"]),
             ("1e2\n100\n", ["1e2", "100"]), ("5\n\n6", ["5", "6"]),
             ("5\r\n6\r\n", ["5", "6"]), ("1\n9223372036854775808\n", ["1", "9223372036854775808"]),
             ("1\n-9223372036854775809\n", ["1", "-9223372036854775809"]),
             ("1\n-\n", ["1", "-"]), ("1\n--5\n", ["1", "--5"]), ("5-3\n", ["5-3"])]
    plain = [("12\n-3\n12", ["12", "-3"]), ("0\n", ["0"]), ("-1", ["-1"]),
             ("9223372036854775807\n-9223372036854775808\n",
              ["9223372036854775807", "-9223372036854775808"])]
    for body, names in cases + plain:
        path = tmp_path / "t.txt"
        path.write_text(body, newline="")
        assert list(simlab.read_trace(path).key_names) == names, body
        assert (_integer_lines(path) is not None) == ((body, names) in plain), body


# --- the lazy package ------------------------------------------------------------------

def test_every_public_name_resolves():
    for name in sorted(set(simlab.__all__) | set(dir(simlab))):
        assert getattr(simlab, name) is not None, name
    assert {"simulate", "lru_curve", "connect", "read_trace"} <= set(dir(simlab))
    assert simlab.simulate is simlab.engine.simulate
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        simlab.no_such_name


@pytest.mark.parametrize("command", [
    ["simulate", "--keys", "100", "--requests", "100000", "--cache-size", "10", "--seed", "1"],
    ["simulate", "--keys", "100", "--requests", "1000", "--cache-size", "10", "--json"],
    ["mrc", "--keys", "100", "--requests", "1000", "--seed", "1", "--json"],
])
def test_a_reader_that_goes_away_gets_no_traceback(command):
    """`simlab simulate ... | head` or a pager quit early: the pipe closes before simlab
    writes; it exits quietly (141, as a shell reports a command cut by SIGPIPE)."""
    proc = subprocess.Popen([sys.executable, "-m", "simlab.cli", *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                       # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(120) in (0, 141) and "Traceback" not in err and "Error" not in err, err


def test_doctor_names_a_model_url_as_the_model(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SIMLAB_PG_SCHEMA")}
    env.update(REDIS_URL="model://?maxmemory=2mb", SIMLAB_DATA=str(tmp_path))
    out = run("doctor", env=env)
    assert out.returncode == 0, out.stderr
    assert "simlab's Redis model (model://" in out.stdout and "NOT ANSWERING" not in out.stdout
    env["REDIS_URL"] = "model://?maxmemory=-1"
    out = run("doctor", env=env)
    assert "NOT USABLE: model:// option maxmemory must be a memory value" in out.stdout
