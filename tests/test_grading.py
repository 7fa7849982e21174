"""``simlab grade``: a class folder of right, wrong, empty and broken notebooks.

The verdicts in the saved notebooks are printed by the real checks (captured here), the
untouched notebook is the course's own learner notebook, and the ``--execute`` runs start real
kernels on small generated notebooks plus the course's 00_welcome.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import simlab
from simlab import grading

ROOT = Path(__file__).resolve().parents[1]
LEARNER_00 = ROOT / "notebooks" / "00_welcome.ipynb"
SOLUTION_00 = ROOT / "notebooks" / "solutions" / "00_welcome.ipynb"
EXERCISE = "00 check_analogy"


def printed(fn, *args) -> str:
    """What a check prints, exactly as a notebook cell would show it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args)
    return out.getvalue()


def course_notebook(path: Path, answer_line: str | None = None, outputs=None) -> Path:
    """A copy of the course's learner 00_welcome, its exercise cell edited and "run"."""
    nb = nbformat.read(LEARNER_00, as_version=4)
    cell = next(c for c in nb.cells if "check_analogy" in c.source)
    if answer_line is not None:
        cell.source = answer_line + "\nsimlab.checks.check_analogy(answer)"
    if outputs is not None:
        cell.outputs, cell.execution_count = outputs, 1
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def small_notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "simlab.cli", "grade", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def saved_class(tmp_path):
    """Notebooks as learners hand them in: saved with their outputs, or not run at all."""
    room = tmp_path / "class"
    course_notebook(room / "alice" / "00_welcome.ipynb", 'answer = "whiteboard"',
                    [stream(printed(simlab.checks.check_analogy, "whiteboard"))])
    course_notebook(room / "bob" / "00_welcome.ipynb", 'answer = "filing room"',
                    [stream(printed(simlab.checks.check_analogy, "filing room"))])
    course_notebook(room / "carol" / "00_welcome.ipynb")                    # untouched
    (room / "dave").mkdir()
    (room / "dave" / "00_welcome.ipynb").write_text('{"cells": [')          # invalid JSON
    error = nbformat.v4.new_output("error", ename="NameError",
                                   evalue="name 'whitebored' is not defined", traceback=[])
    course_notebook(room / "erin" / "00_welcome.ipynb", "answer = whitebored", [error])
    course_notebook(room / "frank" / "00_welcome.ipynb", 'answer = "whiteboard"')  # not run
    none = printed(simlab.checks.check_analogy, None)
    course_notebook(room / "gus" / "00_welcome.ipynb", "answer = None", [stream(none)])
    return room


def test_a_saved_class_is_graded_from_its_verdicts(saved_class):
    grades = {g.learner: g for g in grading.grade([saved_class])}
    status = {name: g.exercises.get(EXERCISE) for name, g in grades.items()}
    assert status == {"alice": "passed", "bob": "failed", "carol": "not attempted",
                      "dave": "unreadable", "erin": "error", "frank": "not run",
                      "gus": "not attempted"}
    assert grades["dave"].problems[0].startswith("not a readable notebook")
    assert "NameError: name 'whitebored' is not defined" in " ".join(grades["erin"].problems)
    assert grades["alice"].problems == [] and grades["carol"].problems == []


def test_text_and_csv(saved_class, tmp_path):
    out = run_cli(saved_class, "--csv", tmp_path / "grades.csv")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()
             if line.startswith("  ") and not line.startswith("   ")}
    assert lines["alice"] == ["passed"] and lines["bob"] == ["failed"]
    assert lines["carol"] == ["-"] and lines["erin"] == ["ERROR"]
    assert "dave, 00_welcome.ipynb: not a readable notebook" in out.stdout
    assert "7 learners, 7 notebooks, 1 of 7 exercises passed" in out.stdout
    rows = {row["learner"]: row for row in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["bob"][EXERCISE] == "failed" and rows["alice"]["passed"] == "1"
    assert rows["carol"][EXERCISE] == "not attempted"
    assert rows["dave"][EXERCISE] == "unreadable" and "JSON" in rows["dave"]["problems"]


def test_strict_mode_verdicts_and_other_errors_are_told_apart():
    strict = nbformat.v4.new_output("error", ename="AssertionError",
                                    evalue=simlab.checks.NOT_YET + "wrong.", traceback=[])
    other = nbformat.v4.new_output("error", ename="AssertionError", evalue="mine", traceback=[])
    assert grading.verdicts([strict])[0][0] == "failed"
    assert grading.verdicts([other])[0] == ("error", "AssertionError: mine")
    good = stream(printed(simlab.checks.check_analogy, "whiteboard"))
    assert [s for s, _ in grading.verdicts([good])] == ["passed"]


def test_check_calls_are_found_in_code_not_in_comments():
    assert grading.check_calls("x = 1\nsimlab.checks.check_analogy(x)") == ["check_analogy"]
    assert grading.check_calls("from simlab.checks import check_a\ncheck_a(1)\n"
                               "checks.check_b(2)") == ["check_a", "check_b"]
    assert grading.check_calls("# simlab.checks.check_analogy(x)\nprint(1)") == []
    assert grading.check_calls("%time simlab.checks.check_fanout(p)") == ["check_fanout"]
    assert grading.check_calls("def f(:\nsimlab.checks.check_x(1)  # check_y(") == ["check_x"]
    assert grading.check_calls("np.check_x(1)") == []


@pytest.mark.parametrize("path, learner, notebook", [
    ("class/alice_03_cache_aside.ipynb", "alice", "03_cache_aside"),
    ("class/bob/03_cache_aside.ipynb", "bob", "03_cache_aside"),
    ("class/carol/03_cache_aside-Copy1.ipynb", "carol", "03_cache_aside"),
    ("class/dan/work/03_cache_aside.ipynb", "dan", "03_cache_aside"),
    ("class/eve smith - 12_capstone.ipynb", "eve_smith", "12_capstone"),
    ("class/notes.ipynb", "notes", "notes"),
])
def test_learner_and_notebook_names(tmp_path, path, learner, notebook):
    assert grading.learner_and_notebook(tmp_path / path, tmp_path / "class") == \
        (learner, notebook)


def test_a_deleted_exercise_is_missing(tmp_path):
    nb = nbformat.read(LEARNER_00, as_version=4)
    nb.cells = [c for c in nb.cells if "check_analogy" not in c.source]
    nbformat.write(nb, tmp_path / "zoe_00_welcome.ipynb")
    (g,) = grading.grade([tmp_path])
    assert (g.learner, g.exercises) == ("zoe", {EXERCISE: "missing"})


def test_bad_arguments_are_one_line(tmp_path):
    out = run_cli(tmp_path / "nowhere")
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = run_cli(tmp_path)
    assert out.returncode == 2 and "no .ipynb notebook" in out.stderr
    out = run_cli(tmp_path, "--timeout", "-3")
    assert out.returncode == 2 and "argument --timeout" in out.stderr
    assert subprocess.run([sys.executable, "-m", "simlab.cli", "grade", "--help"],
                          capture_output=True, text=True).returncode == 0


# ---------------------------------------------------------------- with --execute (real kernels)

ENV_PROBE = ("import os, simlab\n"
             "answer = 'whiteboard' if not {'REDIS_URL', 'DATABASE_URL'} & set(os.environ) "
             "and os.environ.get('WHITEBOARD_USER') == 'bob' else 'filing room'\n"
             "simlab.checks.check_analogy(answer)")


def test_execute_runs_a_class_without_the_servers(tmp_path):
    room = tmp_path / "class"
    alice = room / "alice" / "00_welcome.ipynb"
    alice.parent.mkdir(parents=True)
    shutil.copy(SOLUTION_00, alice)                               # right, never run
    small_notebook(room / "bob" / "00_welcome.ipynb", ENV_PROBE)  # right only without servers
    small_notebook(room / "carl" / "00_welcome.ipynb", "import simlab",
                   "answer = 'filing room'\nsimlab.checks.check_analogy(answer)")  # wrong
    small_notebook(room / "dora" / "00_welcome.ipynb", "import simlab", "1 / 0",
                   "answer = whitebored\nsimlab.checks.check_analogy(answer)")    # errors
    # saved with a passing verdict, but the code is wrong: the run, not the file, counts
    saved = course_notebook(room / "ezra" / "00_welcome.ipynb", 'answer = "filing room"',
                            [stream(printed(simlab.checks.check_analogy, "whiteboard"))])
    before = saved.read_text()
    (room / "fay").mkdir()
    (room / "fay" / "00_welcome.ipynb").write_text("not json")
    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:1/0",
               DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", SIMLAB_STRICT_CHECKS="1")
    out = run_cli(room, "--execute", "--timeout", "120", "--csv", tmp_path / "g.csv", env=env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout
    rows = {row["learner"]: row for row in csv.DictReader(open(tmp_path / "g.csv"))}
    assert {name: row[EXERCISE] for name, row in rows.items()} == {
        "alice": "passed", "bob": "passed", "carl": "failed", "dora": "error",
        "ezra": "failed", "fay": "unreadable"}
    assert "ZeroDivisionError" in rows["dora"]["problems"]
    assert "NameError" in rows["dora"]["problems"]
    assert saved.read_text() == before  # the learner's file is not written


def test_allow_servers_keeps_them_and_time_limit_stops_a_run(tmp_path):
    small_notebook(tmp_path / "bob_00_welcome.ipynb", ENV_PROBE)
    small_notebook(tmp_path / "slow_00_welcome.ipynb", "import time\ntime.sleep(120)",
                   "import simlab\nsimlab.checks.check_analogy('whiteboard')")
    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:1/0")
    grades = {}
    for name in ("bob", "slow"):
        path = tmp_path / f"{name}_00_welcome.ipynb"
        old = os.environ.get("REDIS_URL")
        os.environ["REDIS_URL"] = env["REDIS_URL"]
        try:
            limit = 4 if name == "slow" else 300  # importing simlab takes seconds
            grades[name] = grading.grade_notebook(path, tmp_path, execute_it=True, timeout=limit,
                                                  allow_servers=True)
        finally:
            os.environ.pop("REDIS_URL") if old is None else os.environ.update(REDIS_URL=old)
    assert grades["bob"].exercises[EXERCISE] == "failed"  # REDIS_URL reached the kernel
    assert grades["slow"].exercises[EXERCISE] == "timed out"
    assert grades["slow"].problems == ["stopped at the time limit (4 s)"]


def test_kernel_env():
    env = grading.kernel_env("Ann Lee!", allow_servers=False)
    assert env["WHITEBOARD_USER"] == "Ann-Lee-"
    assert "REDIS_URL" not in env and "SIMLAB_STRICT_CHECKS" not in env
    assert json.dumps(env)  # plain strings only
