"""Every learner notebook runs, start to end, in under 20 s on the reference machine.

Each learner notebook is executed once with nbclient (a fresh kernel of this environment, in a
temporary copy of the notebook so the repository's files are not written), against fakeredis
and SQLite as a learner without servers has them (REDIS_URL and DATABASE_URL unset, no
redis-server on the PATH). The wall
time of each, kernel start included, is printed as a markdown table (the README's notebook
table takes its timings from it) and written to ``notebook_times.md`` in the test's tmp folder.

This is a timing target, so it is a test of the notebooks as a whole, not a unit test: it
fails when a notebook errors (its time would mean nothing) or takes 20 s or more.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
LEARNER = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
LIMIT_S = 20.0
CELL_TIMEOUT_S = 300  # a hung cell fails the notebook; the limit itself is asserted on the total


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_error(nb) -> str | None:
    """'cell N (`first line`): Name: value' and the traceback's end, for the first error."""
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                first = (cell.source.strip().splitlines() or [""])[0][:70]
                trace = ANSI.sub("", "\n".join(out.traceback))[-1200:]
                return f"cell {index} (`{first}`): {out.ename}: {out.evalue}\n{trace}"
    return None


def run_notebook(path: Path, workdir: Path) -> dict:
    """Execute a copy of ``path`` in ``workdir`` with a fresh kernel.

    Returns
    -------
    dict
        ``seconds`` (wall, kernel start included), ``cpu`` (the kernel process's user + system
        seconds, a figure that does not grow with other load on the machine) and ``error``
        (None, or where and what the first error was).
    """
    copy = workdir / path.name
    shutil.copy2(path, copy)
    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    cpu, error = float("nan"), None
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.pid)
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except CellExecutionError as exc:
            error = _first_error(nb) or ANSI.sub("", str(exc))[-1500:]
        times = kernel.cpu_times()
        cpu = times.user + times.system + times.children_user + times.children_system
    seconds = time.perf_counter() - start
    nbformat.write(nb, copy)  # the executed copy, to look at when something is off
    return {"seconds": seconds, "cpu": cpu, "error": error}


def markdown_table(rows: dict[str, dict]) -> str:
    lines = ["| notebook | runs in (s) | kernel CPU (s) |", "| --- | ---: | ---: |"]
    for name, row in rows.items():
        failed = " (failed)" if row["error"] else ""
        lines.append(f"| `{name}` | {row['seconds']:.1f}{failed} | {row['cpu']:.1f} |")
    return "\n".join(lines)


def test_every_learner_notebook_runs_in_under_20_s(tmp_path, monkeypatch, capsys,
                                                    no_redis_server):
    assert LEARNER, "no learner notebooks in notebooks/"
    # The kernel inherits this environment: the learner's default path, fakeredis and SQLite,
    # and no redis-server binary (what `make lab` gives a newcomer; the README's quick start
    # needs nothing else). With a binary, 08, 10 and 11 also run real servers and wait on them
    # (batches a second apart, crashes and restarts, a cluster): the nbval passes cover that
    # path, and the instructor guide gives those times.
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)
    # (no_redis_server, in conftest.py, has taken redis-server off the PATH)
    assert shutil.which("redis-server") is None
    rows = {path.stem: run_notebook(path, tmp_path) for path in LEARNER}
    table = markdown_table(rows)
    (tmp_path / "notebook_times.md").write_text(table + "\n")
    load = os.getloadavg()[0]
    with capsys.disabled():
        print(f"\nLearner notebooks with nbclient, wall time with kernel start "
              f"(load average {load:.1f}; {tmp_path / 'notebook_times.md'}):")
        print(table)
    failed = [f"{name}: {row['error']}" for name, row in rows.items() if row["error"]]
    assert not failed, "notebooks that failed to run:\n" + "\n\n".join(failed)
    slow = [f"{name} ({row['seconds']:.1f} s, kernel CPU {row['cpu']:.1f} s)"
            for name, row in rows.items() if row["seconds"] >= LIMIT_S]
    assert not slow, (f"notebooks taking {LIMIT_S:.0f} s or more: {', '.join(slow)} "
                      f"(load average {load:.1f} on {os.cpu_count()} cores)")
