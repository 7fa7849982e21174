"""``simlab grade``: a class's exercises at a glance, read from the checks the notebooks call.

Each exercise cell of the course calls one ``simlab.checks.check_*`` function, and every check
prints one verdict line: ``✅ ...`` when the answer is right, ``🟡 Not yet: ...`` when it is not,
and ``🟡 Not yet: ... is still None.`` when the learner's placeholder was never filled in. The
grader finds those calls in a learner's notebook and the verdict each printed in that cell's
outputs, so it grades exactly what the learner saw. It never imports or runs a learner's code
unless asked to (``execute=True``), and then it runs each notebook in a fresh kernel under a
time limit, with ``REDIS_URL`` and ``DATABASE_URL`` removed from the kernel's environment (so
the notebook uses fakeredis and the course's SQLite file, never a server the instructor did not
choose) unless ``allow_servers=True``.

Statuses, one per learner and exercise:

``passed``, ``failed``, ``not attempted`` (the placeholder is still there), ``error`` (the
cell raised before its check could speak), ``not run`` (the cell has no output: the notebook
was saved without running it; grade with ``execute=True``), ``missing`` (the exercise's cell is
not in the notebook), ``unreadable`` (the file is not a notebook), ``timed out`` (the run hit
the time limit before this cell).
"""
from __future__ import annotations

import ast
import csv
import io
import math
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .checks._common import GOOD, NOT_YET

STATUSES = ("passed", "failed", "not attempted", "error", "not run", "missing", "unreadable",
            "timed out")
STILL_NONE = "is still None."
NOTEBOOK_NAME = re.compile(r"(\d\d)_[a-z0-9_]+")
COURSE = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass
class NotebookGrade:
    """One learner's notebook: its exercises' statuses and what went wrong with the file.

    Attributes
    ----------
    learner : str
        From the file name (``alice_03_cache_aside.ipynb``) or its folder (``alice/03_....``).
    notebook : str
        The course notebook (``03_cache_aside``), or the file's name when it is not one.
    exercises : dict
        ``"03 check_db_share"`` -> status, in the order of the notebook.
    problems : list of str
        One sentence each: the file is not a notebook, a cell raised, the time limit struck.
    """

    learner: str
    notebook: str
    path: Path
    exercises: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


# ---------------------------------------------------------------- what the course defines

@lru_cache(maxsize=None)
def course_checks() -> dict:
    """``{check name: lesson "NN"}`` for every check ``simlab.checks`` exports, in lesson and
    definition order."""
    import inspect

    from . import checks

    found = []
    for name in checks.__all__:
        fn = getattr(checks, name)
        match = re.search(r"lesson(\d\d)$", getattr(fn, "__module__", ""))
        if name.startswith("check_") and match:
            found.append((match.group(1), inspect.getsourcelines(fn)[1], name))
    return {name: lesson for lesson, _, name in sorted(found)}


def lesson_exercises(lesson: str) -> list:
    """The exercise labels of lesson ``"NN"`` (``["03 check_db_share", ...]``)."""
    return [f"{lesson} {name}" for name, number in course_checks().items() if number == lesson]


@lru_cache(maxsize=None)
def course_stubs(notebook: str) -> dict:
    """``{cell id: the learner's untouched source}`` for the exercise cells of a course notebook
    (cells whose learner version differs from the solution's). Empty if the course's notebooks
    are not next to this package."""
    import nbformat

    learner, solution = COURSE / f"{notebook}.ipynb", COURSE / "solutions" / f"{notebook}.ipynb"
    try:
        cells = nbformat.read(learner, as_version=4).cells
        answers = {c.get("id"): c.source for c in nbformat.read(solution, as_version=4).cells}
    except (OSError, ValueError):
        return {}
    return {c.get("id"): _normal(c.source) for c in cells
            if c.cell_type == "code" and c.get("id") in answers
            and answers[c.get("id")] != c.source}


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


# ---------------------------------------------------------------- reading one notebook

def check_calls(source: str) -> list:
    """Names of the ``check_*`` functions a cell calls, in order (``simlab.checks.check_x(...)``,
    ``checks.check_x(...)`` or a bare ``check_x(...)`` imported from simlab.checks)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError, ImportError):
        # the learner's cell does not parse: fall back to the text, comments removed
        text = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
        return re.findall(r"\b(check_\w+)\s*\(", text)
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name.startswith("check_") and (isinstance(fn, ast.Name) or _is_checks(fn.value)):
                calls.append((node.lineno, node.col_offset, name))
            elif name in ("run_line_magic", "run_cell_magic"):  # %time check_x(...)
                code = node.args[-1] if node.args else None
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    calls += [(node.lineno, node.col_offset, inner)
                              for inner in check_calls(code.value)]
    return [name for *_, name in sorted(calls)]


def _is_checks(node) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "checks") or \
        (isinstance(node, ast.Name) and node.id == "checks")


def verdicts(outputs) -> list:
    """``[(status, line)]`` of the verdicts a cell printed, and of the error it raised last."""
    found = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            for line in _text(out.get("text")).splitlines():
                status = _status(line)
                if status:
                    found.append((status, line.strip()))
        elif kind == "error":
            value = str(out.get("evalue", ""))
            status = _status(value) if out.get("ename") == "AssertionError" else None
            # strict mode (SIMLAB_STRICT_CHECKS=1) raises the verdict instead of printing it
            found.append((status, value.splitlines()[0] if value else "") if status else
                         ("error", f"{out.get('ename', 'Error')}: {_first_line(value)}"))
    return found


def _status(line: str):
    line = line.strip()
    if line.startswith(GOOD.strip()):
        return "passed"
    if line.startswith(NOT_YET.strip()):
        return "not attempted" if STILL_NONE in line else "failed"
    return None


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _first_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    return text.splitlines()[0][:120] if text else ""


def grade_cells(nb, notebook: str) -> tuple:
    """``(exercises, problems)`` of a notebook's cells; see the module for the statuses."""
    stubs = course_stubs(notebook) if NOTEBOOK_NAME.fullmatch(notebook) else {}
    known = course_checks()
    exercises, problems, pending = {}, [], []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        source = _text(cell.get("source"))
        if cell.get("id") in stubs:  # an exercise's placeholder cell: untouched or not
            pending.append(_normal(source) == stubs[cell.get("id")])
        elif _normal(source) in stubs.values():  # a notebook saved without cell ids
            pending.append(True)
        outputs = cell.get("outputs", [])
        said = verdicts(outputs)
        errors = [line for status, line in said if status == "error"]
        if errors and not check_calls(source):
            problems.append(f"cell {index + 1} raised {errors[-1]}")
        calls = check_calls(source)
        untouched = bool(pending) and all(pending)
        for position, name in enumerate(calls):
            label = f"{known.get(name, notebook[:2])} {name}"
            checked = [s for s in said if s[0] != "error"]
            if position < len(checked):
                status = checked[position][0]
            elif errors:
                status = "error"
                problems.append(f"cell {index + 1} ({name}) raised {errors[-1]}")
            elif not outputs and cell.get("execution_count") is None:
                status = "not run"
            else:
                status = "error"
                problems.append(f"cell {index + 1} ({name}) printed no verdict")
            if untouched and status in ("failed", "error", "not run"):
                status = "not attempted"
            exercises.setdefault(label, status)
        if calls:
            pending = []
    return exercises, problems


def learner_and_notebook(path: Path, root: Path) -> tuple:
    """``(learner, notebook)`` from a path: the course notebook's name in the file name, and the
    learner's name from the rest of the file name, else from the folder under ``root``."""
    stem = path.stem
    match = re.search(r"\d\d_[a-z0-9_]*[a-z0-9]", stem)
    notebook = stem
    rest = stem
    if match:
        for candidate in sorted(_course_names(), key=len, reverse=True):
            if candidate in stem:
                notebook = candidate
                break
        else:
            notebook = match.group(0)
        rest = stem.replace(notebook, " ")
    rest = re.sub(r"(?i)[-_ .]*(copy\d*|checkpoint)[-_ .]*$", " ", rest)
    learner = re.sub(r"[-_ .]+", " ", rest).strip().replace(" ", "_")
    if not learner:
        try:
            parts = path.resolve().relative_to(root.resolve()).parts[:-1]
        except ValueError:
            parts = ()
        learner = parts[0] if parts else (root.name if root.is_dir() else path.parent.name)
    return learner, notebook


@lru_cache(maxsize=None)
def _course_names() -> tuple:
    return tuple(p.stem for p in COURSE.glob("[0-9][0-9]_*.ipynb"))


# ---------------------------------------------------------------- running one notebook

def kernel_env(learner: str, allow_servers: bool = False) -> dict:
    """The environment a learner's notebook runs in: no server addresses (unless allowed), no
    strict checks (a wrong answer prints its verdict), the learner's own namespace."""
    env = dict(os.environ)
    if not allow_servers:
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
    env.pop("SIMLAB_STRICT_CHECKS", None)
    name = re.sub(r"[^A-Za-z0-9._-]", "-", learner).lstrip("._-")[:32]
    env["WHITEBOARD_USER"] = name or "learner"
    return env


def execute(nb, path: Path, learner: str, timeout: float, allow_servers: bool = False) -> list:
    """Run ``nb`` (in place) in a fresh kernel in the notebook's folder, every cell even after
    an error, for at most ``timeout`` seconds in all. Returns the problems, one sentence each."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for cell in nb.cells:  # outputs saved by the learner must not count
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    deadline = []  # set when the first cell starts: a slow kernel start does not count

    def left(cell):
        if not deadline:
            deadline.append(time.monotonic() + timeout)
        return max(1, math.ceil(deadline[0] - time.monotonic()))

    client = NotebookClient(
        nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=False,
        timeout_func=left,
        resources={"metadata": {"path": str(path.parent)}})
    try:
        # the kernel's own log lines (and its complaints when stopped) are not the class's
        client.execute(env=kernel_env(learner, allow_servers), stderr=subprocess.DEVNULL)
    except CellTimeoutError:
        return [f"stopped at the time limit ({timeout:g} s)"]
    except DeadKernelError:
        return ["the kernel died while running it"]
    except Exception as exc:  # a kernel that cannot start: one sentence, not a traceback
        return [f"could not be run: {type(exc).__name__}: {_first_line(str(exc))}"]
    return []


def grade_notebook(path, root=None, execute_it: bool = False, timeout: float = 600.0,
                   allow_servers: bool = False) -> NotebookGrade:
    """Grade one learner's notebook file; never raises for a bad notebook.

    Parameters
    ----------
    path : path-like
        The ``.ipynb`` file.
    root : path-like, optional
        The folder given on the command line (the learner's name may be its subfolder).
    execute_it : bool
        Run the notebook first (in a fresh kernel, not written back to the file).
    timeout : float
        Seconds for the whole notebook when ``execute_it``.
    allow_servers : bool
        Keep ``REDIS_URL`` and ``DATABASE_URL`` in the kernel's environment.
    """
    import nbformat

    path = Path(path)
    learner, notebook = learner_and_notebook(path, Path(root) if root else path.parent)
    grade = NotebookGrade(learner, notebook, path)
    expected = lesson_exercises(notebook[:2]) if NOTEBOOK_NAME.fullmatch(notebook) else []
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # invalid JSON, not a notebook, unreadable file
        grade.problems.append(f"not a readable notebook ({type(exc).__name__}: "
                              f"{_first_line(str(exc))})")
        grade.exercises = {label: "unreadable" for label in expected}
        return grade
    if execute_it:
        grade.problems += execute(nb, path, learner, timeout, allow_servers)
    exercises, problems = grade_cells(nb, notebook)
    grade.problems += problems
    timed_out = any("time limit" in p for p in grade.problems)
    for label in expected:
        exercises.setdefault(label, "timed out" if timed_out else "missing")
    if timed_out:  # the cell the limit struck shows the kernel's interrupt: not the learner's
        exercises = {k: "timed out" if v in ("not run", "error") and _struck(grade, k) else v
                     for k, v in exercises.items()}
        grade.problems = [p for p in grade.problems if "KeyboardInterrupt" not in p]
    grade.exercises = exercises
    return grade


def _struck(grade: NotebookGrade, label: str) -> bool:
    """Whether ``label``'s error (if any) is the interrupt of the time limit."""
    name = label.split(" ", 1)[1]
    mine = [p for p in grade.problems if f"({name})" in p]
    return all("KeyboardInterrupt" in p for p in mine)


# ---------------------------------------------------------------- a class

def find_notebooks(paths) -> list:
    """``[(file, root)]`` for every ``.ipynb`` under ``paths`` (checkpoints skipped).

    Raises
    ------
    ValueError
        If a path does not exist, or no notebook is found.
    """
    found = []
    for given in paths:
        given = Path(given)
        if not given.exists():
            raise ValueError(f"argument PATH: {str(given)!r} does not exist")
        files = [given] if given.is_file() else sorted(
            p for p in given.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        found += [(f, given) for f in files]
    if not found:
        raise ValueError(f"argument PATH: no .ipynb notebook in {', '.join(map(str, paths))}")
    return found


def grade(paths, execute_it: bool = False, timeout: float = 600.0,
          allow_servers: bool = False, progress=None) -> list:
    """A :class:`NotebookGrade` for every notebook under ``paths`` (files or folders).

    ``progress``, if given, is called with each grade as it is made."""
    grades = []
    for path, root in find_notebooks(paths):
        result = grade_notebook(path, root, execute_it, timeout, allow_servers)
        grades.append(result)
        if progress is not None:
            progress(result)
    return grades


def table(grades) -> tuple:
    """``(learners, exercises, cells)``: sorted learners, exercise labels in course order, and
    ``{(learner, exercise): status}``."""
    order = {f"{lesson} {name}": i for i, (name, lesson) in enumerate(course_checks().items())}
    labels, cells = [], {}
    for g in grades:
        for label, status in g.exercises.items():
            if label not in labels:
                labels.append(label)
            cells.setdefault((g.learner, label), status)
    labels.sort(key=lambda label: (label[:2], order.get(label, len(order)), label))
    return sorted({g.learner for g in grades}), labels, cells


def to_csv(grades, file) -> None:
    """One row per learner, one column per exercise (status words), then the problems."""
    learners, labels, cells = table(grades)
    writer = csv.writer(file)
    writer.writerow(["learner", *labels, "passed", "problems"])
    for learner in learners:
        row = [cells.get((learner, label), "") for label in labels]
        problems = [f"{g.path.name}: {p}" for g in grades if g.learner == learner
                    for p in g.problems]
        writer.writerow([learner, *row, row.count("passed"), " | ".join(problems)])


SHORT = {"passed": "passed", "failed": "failed", "not attempted": "-", "error": "ERROR",
         "not run": "not run", "missing": "missing", "unreadable": "unreadable",
         "timed out": "timed out", "": ""}


def to_text(grades) -> str:
    """The table as text, one block per notebook (learners down, exercises across), then
    each notebook's problems; ``-`` is not attempted."""
    learners, labels, cells = table(grades)
    out = io.StringIO()
    for lesson in sorted({label[:2] for label in labels}):
        mine = [label for label in labels if label[:2] == lesson]
        heads = [label.split(" ", 1)[1].removeprefix("check_") for label in mine]
        rows = [[learner] + [SHORT.get(cells.get((learner, label), ""), "?") for label in mine]
                for learner in learners if any((learner, label) in cells for label in mine)]
        widths = [max(len(x) for x in column) for column in
                  zip(["learner"] + heads, *rows)]
        names = sorted({g.notebook for g in grades if g.exercises and
                        next(iter(g.exercises))[:2] == lesson})
        out.write(f"{' / '.join(names) or lesson}\n")
        for row in [["learner"] + heads] + rows:
            out.write("  " + "  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() + "\n")
        out.write("\n")
    problems = [(g.learner, g.path.name, p) for g in grades for p in g.problems]
    if problems:
        out.write("Problems\n")
        for learner, name, problem in sorted(problems):
            out.write(f"  {learner}, {name}: {problem}\n")
        out.write("\n")
    passed = sum(status == "passed" for status in cells.values())
    out.write(f"{len(learners)} learners, {len(grades)} notebooks, {passed} of {len(cells)} "
              f"exercises passed; - means not attempted.\n")
    if "not run" in cells.values():
        out.write("'not run': the notebook was saved without running that cell; grade with "
                  "--execute to run the notebooks first.\n")
    return out.getvalue()
