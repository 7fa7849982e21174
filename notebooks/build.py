"""Build the learner and solution notebooks from one source.

    python notebooks/build.py          # write notebooks/NN_*.ipynb and notebooks/solutions/
    python notebooks/build.py --check  # exit 1 if a committed notebook is out of date

Sources are ``notebooks/source/NN_name.py`` in jupytext's percent format. Inside a code cell,
lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are the solution; lines in that block
starting with ``# LEARNER:`` are what the learner sees instead. Everything else is shared.

The notebook metadata is exactly what JupyterLab and the kernel write when a notebook is opened
(the kernelspec of ipykernel's ``python3`` and the kernel's ``language_info``), so a learner's
notebook does not open as modified. ``language_info.version`` is the Python running this
script, which is the kernel's in the course environment; ``--check`` ignores that one field, so
a contributor on another Python does not see every notebook as out of date.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jupytext
import nbformat
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"
SOLUTIONS = HERE / "solutions"


def notebook_metadata(python_version: str | None = None) -> dict:
    """The metadata JupyterLab writes on opening a notebook with this environment's kernel.

    Parameters
    ----------
    python_version : str, optional
        ``language_info.version``; by default the kernel's (this interpreter's).
    """
    spec = get_kernel_dict()
    language_info = dict(IPythonKernel.language_info)
    if python_version is not None:
        language_info["version"] = python_version
    return {"kernelspec": {"display_name": spec["display_name"], "language": spec["language"],
                           "name": KERNEL_NAME},
            "language_info": language_info}


def split_solution(source: str) -> tuple[str, str]:
    """(learner text, solution text) of one cell's source."""
    learner, solution = [], []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == "# BEGIN SOLUTION":
            if inside:
                raise ValueError("nested '# BEGIN SOLUTION'")
            inside = True
            continue
        if stripped == "# END SOLUTION":
            if not inside:
                raise ValueError("'# END SOLUTION' without a BEGIN")
            inside = False
            continue
        if inside:
            if stripped.startswith("# LEARNER:"):
                indent = line[: len(line) - len(line.lstrip())]
                text = stripped[len("# LEARNER:"):]
                learner.append((indent + text[1:] if text.startswith(" ") else indent + text)
                               .rstrip())
            else:
                solution.append(line)
        else:
            learner.append(line)
            solution.append(line)
    if inside:
        raise ValueError("'# BEGIN SOLUTION' without an END")
    return "\n".join(learner), "\n".join(solution)


def build(path: Path, python_version: str | None = None
          ) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(learner, solution) notebooks of one source; see `notebook_metadata` for the version."""
    nb = jupytext.read(path, fmt="py:percent")
    versions = []
    for which in (0, 1):
        out = nbformat.v4.new_notebook()
        out.metadata = notebook_metadata(python_version)
        for cell in nb.cells:
            text = cell.source
            if cell.cell_type == "code":
                text = split_solution(text)[which]
                new = nbformat.v4.new_code_cell(text)
            else:
                new = nbformat.v4.new_markdown_cell(text)
            tags = cell.metadata.get("tags")
            if tags:
                new.metadata["tags"] = list(tags)
            out.cells.append(new)
        for i, cell in enumerate(out.cells):  # stable ids keep diffs small
            cell["id"] = f"{path.stem[:2]}-{i:03d}"
        versions.append(out)
    return versions[0], versions[1]


def targets(path: Path) -> tuple[Path, Path]:
    return HERE / f"{path.stem}.ipynb", SOLUTIONS / f"{path.stem}.ipynb"


def committed_version(target: Path) -> str | None:
    """``language_info.version`` of a committed notebook (None if absent or unreadable)."""
    try:
        return json.loads(target.read_text())["metadata"]["language_info"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if a notebook differs from its source")
    args = parser.parse_args(argv)
    SOLUTIONS.mkdir(exist_ok=True)
    stale = []
    for path in sorted(SOURCE.glob("[0-9]*.py")):
        if args.check:
            learner, solution = (committed_version(target) for target in targets(path))
            built = (build(path, learner)[0], build(path, solution)[1])
        else:
            built = build(path)
        for nb, target in zip(built, targets(path)):
            text = nbformat.writes(nb) + "\n"
            if args.check:
                if not target.exists() or target.read_text() != text:
                    stale.append(target)
            else:
                target.write_text(text)
    if stale:
        print("out of date (run `make notebooks`): " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
