"""The set-up files agree with each other, and the Binder start script works."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of PyPI packages where they differ
CONDA_NAME = {"redis": "redis-py"}
# in environment.yml for Binder/conda reasons, not runtime dependencies of simlab
CONDA_ONLY = {"python", "pip", "redis-server", "nbval", "pytest", "lupa"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_names_the_same_runtime_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {CONDA_NAME.get(_name(r), _name(r)) for r in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert runtime <= conda, f"missing from environment.yml: {sorted(runtime - conda)}"
    assert conda - runtime <= CONDA_ONLY, f"only in environment.yml: {sorted(conda - runtime)}"
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python, "environment.yml must pin Python"
    assert "redis-server" in conda and "lupa" in conda  # fakeredis[lua] on conda


def test_binder_files_are_executable():
    for name in ("postBuild", "start", ".ci/run"):
        assert os.access(ROOT / name, os.X_OK), name
    assert "pip install --no-deps -e ." in (ROOT / "postBuild").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.real
def test_start_runs_a_command_beside_a_loopback_redis():
    if not shutil.which("redis-server"):
        pytest.skip("no redis-server binary on the PATH")
    from simlab.live.server import free_port

    port = free_port()
    code = ("import os, redis; url = os.environ['REDIS_URL']; r = redis.Redis.from_url(url); "
            "print(url, r.ping(), r.config_get('save')['save'] == '', "
            "r.config_get('bind')['bind']); r.shutdown(nosave=True)")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["WHITEBOARD_REDIS_PORT"] = str(port)
    out = subprocess.run([str(ROOT / "start"), sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    url, pong, no_save, bind = out.stdout.split()
    assert url == f"redis://127.0.0.1:{port}/0" and pong == "True" and no_save == "True"
    assert bind == "127.0.0.1"


def test_start_without_redis_just_runs_the_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PATH"] = str(tmp_path)  # no redis-server here
    out = subprocess.run(["/bin/bash", str(ROOT / "start"), "/bin/echo", "hello"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "hello"


def test_committed_notebooks_match_their_source():
    out = subprocess.run([sys.executable, str(ROOT / "notebooks" / "build.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_learner_and_solution_versions_exist_for_every_source():
    sources = sorted(p.stem for p in (ROOT / "notebooks" / "source").glob("[0-9]*.py"))
    assert sources[:5] == ["00_welcome", "01_redis_basics", "02_whiteboard_vs_filing_room",
                           "03_cache_aside", "04_hit_ratio_curves"]
    for stem in sources:
        learner = (ROOT / "notebooks" / f"{stem}.ipynb").read_text()
        solution = (ROOT / "notebooks" / "solutions" / f"{stem}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in learner + solution
        if stem != "00_welcome":
            assert learner.count("simlab.checks.check_") >= 2, stem


def test_public_api_is_explicit():
    import simlab
    assert len(simlab.__all__) == len(set(simlab.__all__))
    for name in simlab.__all__:
        assert hasattr(simlab, name), name


def test_jupyterlab_serves_the_course(tmp_path):
    """What `make lab` starts: JupyterLab, serving notebooks/00_welcome.ipynb."""
    import time
    import urllib.request

    from simlab.live.server import free_port

    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser",
                             f"--port={port}", "--ServerApp.token=", "--ServerApp.password=",
                             "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={ROOT}"]
                            + (["--allow-root"] if os.geteuid() == 0 else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/notebooks/00_welcome.ipynb"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    assert b"The Whiteboard" in response.read()
                    return
            except OSError:
                time.sleep(0.25)
        pytest.fail("JupyterLab did not serve notebooks/00_welcome.ipynb within 30 s")
    finally:
        proc.terminate()
        proc.wait(10)


def test_notebook_metadata_is_what_the_kernel_reports():
    """A notebook opens unmodified only if its metadata is what JupyterLab writes on opening:
    the kernel's kernel_info_reply language_info and the kernelspec (tests/test_browser.py
    checks the same thing in JupyterLab itself)."""
    import json

    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        language_info = kc.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    spec = KernelSpecManager().get_kernel_spec("python3")
    kernelspec = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    notebooks = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    notebooks += sorted((ROOT / "notebooks" / "solutions").glob("[0-9]*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        assert nb["metadata"]["language_info"] == language_info, path.name
        assert nb["metadata"]["kernelspec"] == kernelspec, path.name
        assert (nb["nbformat"], nb["nbformat_minor"]) == (4, nbformat.current_nbformat_minor)
        nbformat.validate(nb)  # cell ids included
