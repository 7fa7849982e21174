"""Binder, checked as far as a machine without Docker allows.

Two layers of what Binder (BinderHub runs repo2docker) does with this repository:

* **What repo2docker makes of it.** ``jupyter-repo2docker --no-build`` (the real command, as a
  subprocess) needs no Docker daemon: it picks a buildpack and prints the Dockerfile it would
  build. The tests read that, and ask repo2docker's own buildpack classes (its Python API, the
  same ``detect()`` loop over ``Repo2Docker.buildpacks`` that ``Repo2Docker.build`` runs) which
  buildpack takes the repository and which ``postBuild`` and ``start`` it runs: the conda
  buildpack from ``environment.yml`` with Python 3.11, ``postBuild`` run once the repository is
  copied in, ``start`` as the entrypoint every launch goes through.
* **What the built image then does, rebuilt without Docker** (``slow``): a fresh virtual
  environment (no system site-packages) gets the pip equivalents of ``environment.yml``'s
  packages, the repository's files as a clone has them are copied in, ``postBuild`` runs there as
  repo2docker runs it, ``pip check`` proves that the package list covers simlab's own
  requirements, and notebook 00 runs through nbval under repo2docker's entrypoint and ``start``
  (``R2D_ENTRYPOINT``), as a Binder launch runs the notebook server.

What only a real Binder launch shows (conda-forge's builds of these packages and their solve,
the image's user and paths, the notebook server behind BinderHub's proxy) is in the README.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

INTERPRETER = "the virtual environment's own interpreter (its version is checked against the pin)"
BINARY = "a program, not a Python package: the machine's redis-server on the PATH, if any"
# conda-forge name in environment.yml -> what the fresh virtual environment gets for it.
# A package of environment.yml missing here fails the test: every one needs a pip equivalent
# (or a stated reason why there is none).
PIP_EQUIVALENT = {
    "python": INTERPRETER,
    "pip": "pip",
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "numba": "numba",
    "matplotlib": "matplotlib",
    "ipywidgets": "ipywidgets",
    "tqdm": "tqdm",
    "redis-py": "redis",
    "fakeredis": "fakeredis",
    "lupa": "lupa",
    "jupyterlab": "jupyterlab",
    "psycopg": "psycopg[binary]",   # conda-forge's psycopg brings libpq; on PyPI the binary extra
    "redis-server": BINARY,
    "nbval": "nbval",
    "pytest": "pytest",
}


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _python_pin(env: dict) -> str:
    pins = [d.split("=", 1)[1] for d in env["dependencies"]
            if isinstance(d, str) and re.match(r"python\s*=", d)]
    assert len(pins) == 1, f"environment.yml must pin python once, got {pins}"
    return pins[0].strip()


def pip_requirements(env: dict) -> list[str]:
    """The pip requirements equivalent to ``env``'s dependencies (conda-forge names mapped)."""
    requirements, unmapped = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):       # a `- pip: [...]` block is pip already
            requirements.extend(dep.get("pip", []))
            continue
        name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)$", dep).groups()
        if name not in PIP_EQUIVALENT:
            unmapped.append(name)
            continue
        target = PIP_EQUIVALENT[name]
        if target in (INTERPRETER, BINARY):
            continue
        spec = spec.split("#", 1)[0].replace(" ", "")
        if re.match(r"=[^=]", spec):     # conda's `=1.2` means 1.2.*
            spec = f"=={spec[1:]}.*"
        requirements.append(target + spec)
    assert not unmapped, ("packages of environment.yml with no pip equivalent in "
                          f"tests/test_binder.py's PIP_EQUIVALENT: {unmapped}")
    return requirements


def test_every_package_of_environment_yml_has_a_pip_equivalent():
    env = _environment()
    names = {re.match(r"\s*([A-Za-z0-9_.\-]+)", d).group(1)
             for d in env["dependencies"] if isinstance(d, str)}
    requirements = pip_requirements(env)
    assert set(PIP_EQUIVALENT) == names, ("PIP_EQUIVALENT maps packages environment.yml does "
                                          f"not have: {sorted(set(PIP_EQUIVALENT) - names)}")
    assert "redis>=5.0,<8.2" in requirements and "fakeredis>=2.40,<2.41" in requirements
    assert "psycopg[binary]>=3.1" in requirements
    # the mapping's own rules: an unknown name fails, conda's `=` pin becomes a prefix match
    with pytest.raises(AssertionError, match="no pip equivalent.*'not-a-package'"):
        pip_requirements({"dependencies": ["numpy>=1.24", "not-a-package"]})
    assert pip_requirements({"dependencies": ["numpy=1.26", {"pip": ["tqdm"]}]}) == [
        "numpy==1.26.*", "tqdm"]


# --- what repo2docker makes of the repository ------------------------------------------------

def _dockerfile() -> str:
    out = subprocess.run([sys.executable, "-m", "repo2docker", "--no-build", "--no-run",
                          str(ROOT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_repo2docker_no_build_picks_conda_and_runs_postbuild_then_start():
    pytest.importorskip("repo2docker", reason="jupyter-repo2docker is in the dev extra")
    text = _dockerfile()
    assert f"Building conda environment for python={_python_pin(_environment())}" in text, text
    # the environment is built from environment.yml before the repository is copied in ...
    env_update = text.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"')
    copy_repo = text.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    # ... postBuild runs once it is there, and start is the entrypoint's command
    post_build = text.index("RUN ./postBuild")
    start = text.index('ENV R2D_ENTRYPOINT="${REPO_DIR}/start"')
    assert env_update < copy_repo < post_build < start
    assert "COPY --chown=0:0 src/environment.yml" in text[:copy_repo]


def _picked_buildpack(repo: Path):
    """The buildpack repo2docker's build() would pick for ``repo`` (its own detect loop)."""
    from repo2docker.app import Repo2Docker

    app = Repo2Docker()
    here = os.getcwd()
    os.chdir(repo)          # buildpacks look at files relative to the working directory
    try:
        for buildpack in app.buildpacks:
            picked = buildpack(base_image=app.base_image)
            if picked.detect():
                break
        else:
            picked = app.default_buildpack(base_image=app.base_image)
        return picked, {
            "binder_dir": picked.binder_dir,
            "environment": getattr(picked, "environment_yaml_path", None),
            "python": picked.python_version,
            "post_build": picked.get_post_build_scripts(),
            "start": picked.get_start_script(),
        }
    finally:
        os.chdir(here)


def test_repo2docker_buildpacks_find_environment_postbuild_and_start(tmp_path):
    pytest.importorskip("repo2docker", reason="jupyter-repo2docker is in the dev extra")
    from repo2docker.buildpacks import CondaBuildPack, PythonBuildPack

    picked, found = _picked_buildpack(ROOT)
    assert type(picked) is CondaBuildPack, type(picked).__name__
    assert found == {"binder_dir": "", "environment": "environment.yml",
                     "python": _python_pin(_environment()), "post_build": ["postBuild"],
                     "start": "${REPO_DIR}/start"}
    # the same files in a binder/ folder would win over the root's: there is none
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    for name in ("postBuild", "start"):
        assert os.access(ROOT / name, os.X_OK), f"{name} is not executable"
    # detection follows the files: without environment.yml, repo2docker would take pip's route
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("postBuild", "start", "pyproject.toml"):
        shutil.copy2(ROOT / name, bare / name)
    picked, found = _picked_buildpack(bare)
    assert type(picked) is PythonBuildPack and found["environment"] is None


# --- the built image's steps, in a fresh virtual environment -----------------------------------

def _repository_copy(target: Path) -> Path:
    """The repository as a clone has it (tracked and new, not ignored, files), in ``target``."""
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no way to tell the repository's files from build output")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _run(command, **kwargs):
    out = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, (f"{' '.join(map(str, command))} failed ({out.returncode}):\n"
                                 f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


@pytest.mark.slow
def test_postbuild_and_start_run_notebook_00_in_a_fresh_environment(tmp_path):
    """The image's steps without Docker: a fresh venv from environment.yml's packages,
    postBuild, then notebook 00 through nbval under repo2docker's entrypoint and start."""
    r2d = pytest.importorskip("repo2docker", reason="jupyter-repo2docker is in the dev extra")
    entrypoint = Path(r2d.__file__).parent / "buildpacks" / "repo2docker-entrypoint"
    env_yml = _environment()
    pin = _python_pin(env_yml)
    if f"{sys.version_info.major}.{sys.version_info.minor}" != pin:
        pytest.skip(f"environment.yml pins python={pin}; this is Python "
                    f"{sys.version.split()[0]}, so the fresh environment would not be Binder's")
    requirements = pip_requirements(env_yml)

    repo = _repository_copy(tmp_path / "repo")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    bin_dir = venv / "bin"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
                        "NUMBA_CACHE_DIR", "WHITEBOARD_REDIS_PORT")
           and not k.startswith(("SIMLAB_", "JUPYTER_", "PYTEST_"))}
    env.update(PATH=os.pathsep.join([str(bin_dir), env.get("PATH", os.defpath)]),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               MPLCONFIGDIR=str(tmp_path / "mpl"), TMPDIR=str(scratch), REPO_DIR=str(repo))

    # the environment: environment.yml's packages only (pip's cache and the machine's indexes)
    tic = time.perf_counter()
    _run([bin_dir / "python", "-m", "pip", "install", "-q", *requirements], env=env,
         timeout=900)
    install_s = time.perf_counter() - tic
    # repo2docker: `RUN chmod +x postBuild` and `RUN ./postBuild` in the repository's folder
    tic = time.perf_counter()
    _run([str(repo / "postBuild")], cwd=repo, env=env, timeout=900)
    post_build_s = time.perf_counter() - tic
    # simlab was installed with --no-deps: its requirements must all be there already
    _run([bin_dir / "python", "-m", "pip", "check"], env=env, timeout=120)
    where = _run([bin_dir / "python", "-c", "import simlab, sys; print(simlab.__file__)"],
                 cwd=tmp_path, env=env, timeout=120).stdout.strip()
    assert Path(where).is_relative_to(repo), where
    for data in ("users.sqlite", "shop.sqlite", "capstone_day.npz"):
        assert (repo / "data" / data).is_file(), f"postBuild did not build data/{data}"
    spec = _run([bin_dir / "jupyter", "kernelspec", "list", "--json"], env=env,
                timeout=120).stdout
    python3 = json.loads(spec)["kernelspecs"]["python3"]
    argv0 = shutil.which(python3["spec"]["argv"][0], path=env["PATH"])
    assert Path(argv0).parent == bin_dir, f"the python3 kernel is not the fresh one: {python3}"

    # a Binder launch: repo2docker-entrypoint runs $R2D_ENTRYPOINT (start) with the command;
    # the command runs notebook 00 through nbval, then asks the server start set up (if any)
    # whether the notebook wrote to it
    report = ("import os, redis; url = os.environ.get('REDIS_URL'); print('REDIS_URL', url); "
              "url and print('notebook SETs', redis.Redis.from_url(url)"
              ".info('commandstats').get('cmdstat_set', {}).get('calls', 0))")
    command = ("python -m pytest -p no:cacheprovider --nbval-lax --nbval-cell-timeout=300 -q "
               f"notebooks/00_welcome.ipynb && python -c \"{report}\"")
    tic = time.perf_counter()
    out = subprocess.run([bin_dir / "python", str(entrypoint), "bash", "-c", command],
                         cwd=repo, env=dict(env, R2D_ENTRYPOINT=str(repo / "start")),
                         capture_output=True, text=True, timeout=600)
    notebook_s = time.perf_counter() - tic
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    passed = re.search(r"\b(\d+) passed\b", log)
    assert passed and int(passed.group(1)) > 0 and " failed" not in log, log
    if shutil.which("redis-server", path=env["PATH"]):
        match = re.search(r"start: redis-server \S+ \(pid (\d+)\) on 127\.0\.0\.1:(\d+)", log)
        assert match, log
        assert f"REDIS_URL redis://127.0.0.1:{match.group(2)}/0" in log, log
        sets = int(re.search(r"notebook SETs (\d+)", log).group(1))
        assert sets >= 1, "notebook 00 did not use the Redis start launched"
        deadline = time.monotonic() + 15     # start's server and folder go with the command
        while time.monotonic() < deadline and list(scratch.glob("whiteboard-redis.*")):
            time.sleep(0.2)
        assert not list(scratch.glob("whiteboard-redis.*")), "start's folder outlived the run"
    else:
        assert "no redis-server on the PATH" in log and "REDIS_URL None" in log, log
    print(f"\nfresh venv: pip install {install_s:.0f} s, postBuild {post_build_s:.0f} s, "
          f"notebook 00 under start {notebook_s:.0f} s")
