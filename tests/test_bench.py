"""The benchmarks measure what the course runs: notebook 08's slider benchmark uses the
notebook's own workload, settings and model call."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook_08():
    tree = ast.parse((ROOT / "notebooks" / "source" / "08_eviction.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("slider_w", "memory_options"):
                found[name] = node.value
        if isinstance(node, ast.FunctionDef) and node.name == "explore_policy":
            found["explore_policy"] = node
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "SelectionSlider"):
            keywords = {k.arg: k.value for k in node.keywords}
            if ast.literal_eval(keywords["description"]) == "maxmemory-samples":
                found["samples"] = ast.literal_eval(keywords["options"])
    return found


def test_the_slider_benchmark_runs_notebook_08s_workload_and_settings():
    bench, nb = _bench(), _notebook_08()
    call = nb["slider_w"]
    assert ast.unparse(call.func) == "simlab.zipf"
    given = dict(zip(("n_keys", "alpha", "n_requests"), map(ast.literal_eval, call.args)))
    given.update({k.arg: ast.literal_eval(k.value) for k in call.keywords})
    assert given == bench.SLIDER_WORKLOAD

    memory = ast.literal_eval(nb["memory_options"])
    assert bench.SLIDER_MEMORY == (min(memory), 1_000_000, max(memory))
    assert bench.SLIDER_SAMPLES == (min(nb["samples"]), 5, max(nb["samples"]))

    model = [n for n in ast.walk(nb["explore_policy"]) if isinstance(n, ast.Call)
             and ast.unparse(n.func) == "simlab.simulate"]
    assert len(model) == 1
    keywords = {k.arg: ast.unparse(k.value) for k in model[0].keywords}
    assert keywords == {"policy": "policy", "maxmemory": "maxmemory", "samples": "samples",
                        "whiteboard": "0.0", "filing_room": "0.0", "seed": "1"}
    assert "reshape(-1, 5000)" in ast.unparse(nb["explore_policy"])
