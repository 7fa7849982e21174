"""The package imports lazily: ``import simlab`` and each command load only what they use."""
import json
import os
import subprocess
import sys

HEAVY = ("numpy", "pandas", "numba", "scipy", "redis", "fakeredis", "matplotlib", "psycopg")


def loaded_after(code):
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_simlab_loads_nothing_heavy():
    assert loaded_after("import simlab; simlab.__version__; dir(simlab)") == set()


def test_a_name_loads_its_own_module_only():
    loaded = loaded_after("import simlab; simlab.zipf(100, 1.0, 1000, seed=1)")
    assert loaded == {"numpy"}          # pandas too is imported where a table is built


def test_simulate_command_does_not_load_the_live_layer():
    loaded = loaded_after("from simlab.cli import main\n"
                          "main(['simulate', '--keys', '100', '--requests', '1000', "
                          "'--cache-size', '10', '--seed', '1', '--json'])")
    from simlab import _aot

    # the compiled engine ran: ahead of time (make test's warmup built it) or through Numba
    assert loaded == ({"numpy"} if _aot.load() is not None else {"numpy", "numba"})


def test_live_names_still_work_on_demand():
    loaded = loaded_after("import simlab\nr = simlab.connect()\n"      # fakeredis: no REDIS_URL
                          "r.set('a', 1)\nassert r.get('a') == '1'")
    assert {"redis", "fakeredis"} <= loaded


# The names a learner types; everything else is reached through its module.
LEARNER_NAMES = {"zipf", "hot_set", "read_trace", "Workload", "preset", "LogNormal", "simulate",
                 "summarize", "hit_ratio_over_time", "lru_curve", "connect",
                 "filing_room", "CacheAside", "PrivateRedis", "cleanup", "key", "backend_banner",
                 "clock_for", "POLICIES", "REDIS_POLICIES"}


def test_the_top_level_holds_the_learners_names_and_the_modules():
    import importlib

    import simlab
    names = set(simlab._NAMES)
    assert names == LEARNER_NAMES
    for name in names:            # each name is its module's own object
        module = importlib.import_module(f"simlab.{simlab._NAMES[name]}")
        assert getattr(simlab, name) is getattr(module, name), name
    assert set(simlab.__all__) == names | set(simlab._MODULES)
    for module in ("curves", "theory", "cost", "plots", "checks", "live"):
        assert module in simlab.__all__
        assert getattr(simlab, module).__name__ == f"simlab.{module}"


def test_a_name_moved_to_its_module_is_not_on_the_top_level():
    import pytest

    import simlab
    from simlab.theory import che_hit_ratio
    from simlab.workloads import zipf_probabilities
    assert simlab.theory.che_hit_ratio is che_hit_ratio
    assert simlab.workloads.zipf_probabilities is zipf_probabilities
    for gone in ("che_hit_ratio", "zipf_probabilities", "hit_counts", "cost_table", "LRUCache",
                 "analysis"):
        with pytest.raises(AttributeError, match=f"no attribute '{gone}'"):
            getattr(simlab, gone)


def test_the_benchmarks_use_names_that_exist():
    """``make bench`` runs outside ``make test``: a name the API lost must fail here first."""
    import re
    from pathlib import Path

    import simlab

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    for script in sorted(root.glob("*.py")):
        for dotted in set(re.findall(r"\bsimlab\.([A-Za-z_][\w.]*[A-Za-z_0-9])", script.read_text())):
            obj = simlab
            for part in dotted.split("."):
                if isinstance(obj, type(simlab)) and not hasattr(obj, part):
                    __import__(f"{obj.__name__}.{part}")      # a submodule not yet imported
                assert hasattr(obj, part), f"{script.name}: simlab.{dotted}"
                obj = getattr(obj, part)
