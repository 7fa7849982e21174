"""The instructor guide (docs/instructors.md) covers every notebook, and what it tells an
instructor to run exists: the simlab commands, the make targets, the files, the hub config."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simlab.live.client import _NAME_RULE

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "instructors.md"


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def code_blocks(language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", guide(), flags=re.S)


def test_every_notebook_has_a_section():
    names = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    names |= {p.stem for p in (ROOT / "notebooks" / "source").glob("[0-9][0-9]_*.py")}
    headings = set(re.findall(r"^### (\d\d_\w+)", guide(), flags=re.M))
    assert names - headings == set(), "notebooks without a section in the guide"
    table = set(re.findall(r"^\| `(\d\d_\w+)` \|", guide(), flags=re.M))
    assert {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")} <= table, \
        "notebooks without a measured run time"


def test_no_placeholder_is_left():
    assert "RUN_TIMES_TABLE" not in guide() and "TODO" not in guide()


def test_simlab_commands_exist():
    commands = set(re.findall(r"^simlab ([a-z-]+)", "\n".join(code_blocks("bash")), re.M))
    commands |= set(re.findall(r"`simlab ([a-z-]+)", guide()))
    assert {"doctor", "grade", "clean"} <= commands
    for command in sorted(commands):
        out = subprocess.run([sys.executable, "-m", "simlab.cli", command, "--help"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"simlab {command} --help: {out.stderr}"
    help_text = subprocess.run([sys.executable, "-m", "simlab.cli", "grade", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    for flag in set(re.findall(r"simlab grade [^\n`]*", guide())):
        for option in re.findall(r"--[a-z-]+", flag):
            assert option in help_text, f"simlab grade has no {option}"


def test_make_targets_and_files_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"^make ([a-z-]+)", "\n".join(code_blocks("bash")), re.M)):
        assert re.search(rf"^{target}:", makefile, re.M), f"no make target {target}"
    for name in set(re.findall(r"`((?:data|notebooks|tests)/[\w./]+\.(?:py|json|ipynb))`",
                               guide())) | {"environment.yml", "postBuild", "start"}:
        assert (ROOT / name).exists() or name.endswith("12_capstone.ipynb"), name


@pytest.mark.parametrize("user, id_", [("alice", 1), ("Ann Lee", 2), ("_x", 3), ("é", 4),
                                       ("a" * 60, 5), ("jupyter-bob@example.org", 6)])
def test_hub_snippets_give_valid_names(user, id_):
    (tljh,) = [b for b in code_blocks("python") if "c.Spawner.environment" in b]
    (z2jh,) = code_blocks("yaml")
    hub = yaml.safe_load(z2jh)["hub"]["extraConfig"]["whiteboard"]

    class Spawner:
        class user:
            name, id = user, id_

    for snippet in (tljh, hub):
        environment = {}

        class Config:
            class Spawner:
                pass

            class KubeSpawner:
                pass

        Config.Spawner.environment = Config.KubeSpawner.environment = environment
        exec(compile(snippet, "guide", "exec"), {"c": Config})
        name = environment["WHITEBOARD_USER"](Spawner)
        assert _NAME_RULE.fullmatch(name), name


def test_the_hub_recipe_builds_what_postbuild_builds():
    """A hub's learners cannot write into the course's folder: every build step of Binder's
    postBuild (the data, the compiled kernels) must be in the Littlest JupyterHub recipe."""
    steps = [line.split("#")[0].split()[1:] for line in (ROOT / "postBuild").read_text()
             .splitlines() if line.startswith("python ") and "pip install" not in line]
    assert steps, "postBuild has no build step"
    recipe = next(block for block in code_blocks("bash") if "/opt/tljh/user" in block)
    for step in steps:
        target = step[-1]                          # data/make_*.py, or simlab.warmup
        assert target in recipe, f"the hub recipe does not run {' '.join(step)}"
